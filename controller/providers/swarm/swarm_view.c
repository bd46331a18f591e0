/* A normalised, flat view of a ServiceSpec, so that what berth sends and what the engine stores
 * compare equal: the engine's defaults are filled in on both sides, pinned image digests are
 * dropped, and network ids become names. Every key is a field a person can read in a plan. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "providers/swarm/swarm.h"

static void put(json_t *view, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(json_t *view, const char *key, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_set_new(view, key, json_string(buf));
}

static void putk(json_t *view, const char *prefix, const char *name, const char *value)
{
	char key[512];
	snprintf(key, sizeof(key), "%s%s", prefix, name);
	json_object_set_new(view, key, json_string(value));
}

static json_int_t int_at(json_t *o, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *str_at(json_t *o, const char *key, const char *dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && json_string_length(v) ? json_string_value(v) : dflt;
}

static void put_duration(json_t *view, const char *key, json_t *o, const char *field, long long dflt)
{
	char buf[64];
	spec_format_duration(buf, sizeof(buf), int_at(o, field, dflt));
	json_object_set_new(view, key, json_string(buf));
}

/* ["a","b c"] -> `["a","b c"]`: exact, and readable in a plan. */
static void put_array(json_t *view, const char *key, json_t *arr)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return;
	char *s = json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY);
	json_object_set_new(view, key, json_string(s));
	free(s);
}

static void put_string_map(json_t *view, const char *prefix, json_t *obj, bool skip_berth)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		if (skip_berth && !strncmp(k, "berth.", 6))
			continue;
		putk(view, prefix, k, json_is_string(v) ? json_string_value(v) : "");
	}
}

static void put_sorted_strings(json_t *view, const char *key, json_t *arr)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return;
	size_t n = json_array_size(arr);
	const char **v = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(arr, i)) ? json_string_value(json_array_get(arr, i)) : "";
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			const char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	char buf[4096];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "", v[i]);
	json_object_set_new(view, key, json_string(buf));
	free(v);
}

/* "nginx:1.27@sha256:..." -> image "nginx:1.27" and image.digest "sha256:...": the planner
 * compares digests only when the spec side has one (--resolve-image). */
static void put_image(json_t *view, const char *image)
{
	const char *at = strstr(image, "@sha256:");
	if (at && at != image) {
		put(view, "image", "%.*s", (int)(at - image), image);
		put(view, "image.digest", "%s", at + 1);
	} else {
		put(view, "image", "%s", image);
	}
}

static void put_env(json_t *view, json_t *env)
{
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (!s)
			continue;
		const char *eq = strchr(s, '=');
		char key[512];
		snprintf(key, sizeof(key), "env.%.*s", (int)(eq ? eq - s : (long)strlen(s)), s);
		json_object_set_new(view, key, json_string(eq ? eq + 1 : ""));
	}
}

/* Mount options may carry a password (CIFS): it is never part of a view, so never in a plan. */
static json_t *redact_options(json_t *opts)
{
	json_t *copy = opts ? json_deep_copy(opts) : json_object();
	const char *o = json_string_value(json_object_get(copy, "o"));
	const char *pw = o ? strstr(o, "password=") : NULL;
	if (pw) {
		const char *end = strchr(pw, ',');
		char *shown = NULL;
		shown = xasprintf("%.*spassword=(sensitive)%s", (int)(pw - o), o, end ? end : "");
		json_object_set_new(copy, "o", json_string(shown));
		free(shown);
	}
	return copy;
}

static void put_mounts(json_t *view, json_t *mounts)
{
	size_t i;
	json_t *mt;
	json_array_foreach(mounts, i, mt) {
		char key[512], val[1024];
		snprintf(key, sizeof(key), "mount.%s", str_at(mt, "Target", "?"));
		const char *type = str_at(mt, "Type", "volume");
		json_t *vo = json_object_get(mt, "VolumeOptions");
		json_t *bo = json_object_get(mt, "BindOptions");
		json_t *to = json_object_get(mt, "TmpfsOptions");
		char extra[256] = "";
		if (!strcmp(type, "bind") && bo && str_at(bo, "Propagation", NULL))
			snprintf(extra, sizeof(extra), " propagation=%s", str_at(bo, "Propagation", ""));
		if (!strcmp(type, "volume")) {
			json_t *dc = json_object_get(vo, "DriverConfig");
			json_t *shown = redact_options(json_object_get(dc, "Options"));
			char *opts = json_object_size(shown) ? json_dumps(shown, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			json_decref(shown);
			snprintf(extra, sizeof(extra), "%s%s%s%s%s", json_is_true(json_object_get(vo, "NoCopy")) ? " nocopy" : "",
				 dc ? " driver=" : "", dc ? str_at(dc, "Name", "local") : "", opts ? " options=" : "",
				 opts ? opts : "");
			free(opts);
		}
		if (!strcmp(type, "tmpfs") && int_at(to, "SizeBytes", 0))
			snprintf(extra, sizeof(extra), " size=%lld", (long long)int_at(to, "SizeBytes", 0));
		snprintf(val, sizeof(val), "%s %s%s%s", type, str_at(mt, "Source", "(anonymous)"),
			 json_is_true(json_object_get(mt, "ReadOnly")) ? " ro" : "", extra);
		json_object_set_new(view, key, json_string(val));
	}
}

static void put_file_refs(json_t *view, const char *prefix, json_t *refs, const char *name_field)
{
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) {
		json_t *f = json_object_get(r, "File");
		char key[512], val[512];
		snprintf(key, sizeof(key), "%s%s", prefix, str_at(f, "Name", "?"));
		snprintf(val, sizeof(val), "%s uid=%s gid=%s mode=%04llo", str_at(r, name_field, "?"), str_at(f, "UID", "0"),
			 str_at(f, "GID", "0"), (long long)int_at(f, "Mode", 0444));
		json_object_set_new(view, key, json_string(val));
	}
}

static const char *network_name(const swarm_state *st, const char *target)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (st->objects[i].kind == SWARM_NETWORK && !strcmp(st->objects[i].id, target))
			return st->objects[i].name;
	return target;
}

static void put_networks(json_t *view, json_t *nets, const swarm_state *st)
{
	size_t i;
	json_t *n;
	json_array_foreach(nets, i, n) {
		char key[512];
		snprintf(key, sizeof(key), "network.%s", network_name(st, str_at(n, "Target", "?")));
		json_t *aliases = json_object_get(n, "Aliases");
		if (json_array_size(aliases)) {
			json_t *tmp = json_object();
			put_sorted_strings(tmp, "a", aliases);
			put(view, key, "aliases: %s", json_string_value(json_object_get(tmp, "a")));
			json_decref(tmp);
		} else {
			put(view, key, "attached");
		}
	}
}

static void put_ports(json_t *view, json_t *ports)
{
	size_t i;
	json_t *p;
	json_array_foreach(ports, i, p) {
		const char *proto = str_at(p, "Protocol", "tcp");
		const char *mode = str_at(p, "PublishMode", "ingress");
		long long target = int_at(p, "TargetPort", 0), published = int_at(p, "PublishedPort", 0);
		char key[128];
		if (published)
			snprintf(key, sizeof(key), "port.%lld/%s", published, proto);
		else
			snprintf(key, sizeof(key), "port.target-%lld/%s", target, proto);
		put(view, key, "%lld:%lld/%s %s", published, target, proto, mode);
	}
}

/* The engine's defaults for a service without the config; within a config it has, a missing
 * field is Go's zero value, which for Parallelism (0: all at once) is not the default (1). The
 * engine returns Parallelism even when 0; a missing one is read as the engine would read it. */
static void put_update(json_t *view, const char *prefix, json_t *u)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.parallelism", prefix);
	put(view, key, "%lld", (long long)int_at(u, "Parallelism", json_is_object(u) ? 0 : 1));
	snprintf(key, sizeof(key), "%s.delay", prefix);
	put_duration(view, key, u, "Delay", 0);
	snprintf(key, sizeof(key), "%s.failure_action", prefix);
	put(view, key, "%s", str_at(u, "FailureAction", "pause"));
	snprintf(key, sizeof(key), "%s.monitor", prefix);
	put_duration(view, key, u, "Monitor", 5000000000LL);
	snprintf(key, sizeof(key), "%s.max_failure_ratio", prefix);
	json_t *r = json_object_get(u, "MaxFailureRatio");
	put(view, key, "%g", json_is_number(r) ? json_number_value(r) : 0.0);
	snprintf(key, sizeof(key), "%s.order", prefix);
	put(view, key, "%s", str_at(u, "Order", "stop-first"));
}

static void put_cpus(json_t *view, const char *key, json_t *o)
{
	long long nano = int_at(o, "NanoCPUs", 0);
	if (nano)
		put(view, key, "%g", (double)nano / 1e9);
}

static void put_bytes(json_t *view, const char *key, json_t *o, const char *field)
{
	long long b = int_at(o, field, 0);
	if (b)
		put(view, key, "%lld", b);
}

json_t *swarm_service_view(json_t *sspec, const swarm_state *st)
{
	json_t *v = json_object();
	json_t *tt = json_object_get(sspec, "TaskTemplate");
	json_t *cs = json_object_get(tt, "ContainerSpec");
	put_image(v, str_at(cs, "Image", ""));
	put_array(v, "entrypoint", json_object_get(cs, "Command"));
	put_array(v, "command", json_object_get(cs, "Args"));
	put_env(v, json_object_get(cs, "Env"));
	put_string_map(v, "label.", json_object_get(sspec, "Labels"), true);
	put_string_map(v, "container_label.", json_object_get(cs, "Labels"), false);
	if (str_at(cs, "Hostname", NULL))
		put(v, "hostname", "%s", str_at(cs, "Hostname", ""));
	if (str_at(cs, "User", NULL))
		put(v, "user", "%s", str_at(cs, "User", ""));
	if (str_at(cs, "Dir", NULL))
		put(v, "working_dir", "%s", str_at(cs, "Dir", ""));
	if (str_at(cs, "StopSignal", NULL))
		put(v, "stop_signal", "%s", str_at(cs, "StopSignal", ""));
	put_duration(v, "stop_grace_period", cs, "StopGracePeriod", 10000000000LL);
	put(v, "init", "%s", json_is_true(json_object_get(cs, "Init")) ? "true" : "false");
	put(v, "read_only", "%s", json_is_true(json_object_get(cs, "ReadOnly")) ? "true" : "false");
	put(v, "tty", "%s", json_is_true(json_object_get(cs, "TTY")) ? "true" : "false");
	json_t *dns = json_object_get(cs, "DNSConfig");
	put_array(v, "dns", json_object_get(dns, "Nameservers"));
	put_array(v, "dns_search", json_object_get(dns, "Search"));
	put_sorted_strings(v, "extra_hosts", json_object_get(cs, "Hosts"));
	put_sorted_strings(v, "cap_add", json_object_get(cs, "CapabilityAdd"));
	put_sorted_strings(v, "cap_drop", json_object_get(cs, "CapabilityDrop"));
	put_string_map(v, "sysctl.", json_object_get(cs, "Sysctls"), false);
	json_t *hc = json_object_get(cs, "Healthcheck");
	if (hc) {
		json_t *t = json_object_get(hc, "Test");
		char *test = t ? json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("[]");
		char iv[32], to[32], sp[32];
		spec_format_duration(iv, sizeof(iv), int_at(hc, "Interval", 0));
		spec_format_duration(to, sizeof(to), int_at(hc, "Timeout", 0));
		spec_format_duration(sp, sizeof(sp), int_at(hc, "StartPeriod", 0));
		put(v, "healthcheck", "%s interval=%s timeout=%s start_period=%s retries=%lld", test, iv, to, sp,
		    (long long)int_at(hc, "Retries", 0));
		free(test);
	}
	put_mounts(v, json_object_get(cs, "Mounts"));
	put_file_refs(v, "secret.", json_object_get(cs, "Secrets"), "SecretName");
	put_file_refs(v, "config.", json_object_get(cs, "Configs"), "ConfigName");

	json_t *res = json_object_get(tt, "Resources");
	put_cpus(v, "resources.limits.cpus", json_object_get(res, "Limits"));
	put_bytes(v, "resources.limits.memory", json_object_get(res, "Limits"), "MemoryBytes");
	put_bytes(v, "resources.limits.pids", json_object_get(res, "Limits"), "Pids");
	put_cpus(v, "resources.reservations.cpus", json_object_get(res, "Reservations"));
	put_bytes(v, "resources.reservations.memory", json_object_get(res, "Reservations"), "MemoryBytes");
	json_t *rp = json_object_get(tt, "RestartPolicy");
	put(v, "restart_policy.condition", "%s", str_at(rp, "Condition", "any"));
	put_duration(v, "restart_policy.delay", rp, "Delay", 5000000000LL);
	put(v, "restart_policy.max_attempts", "%lld", (long long)int_at(rp, "MaxAttempts", 0));
	put_duration(v, "restart_policy.window", rp, "Window", 0);
	json_t *pl = json_object_get(tt, "Placement");
	put_sorted_strings(v, "placement.constraints", json_object_get(pl, "Constraints"));
	json_t *prefs = json_object_get(pl, "Preferences");
	if (json_array_size(prefs)) {
		json_t *spreads = json_array();
		size_t i;
		json_t *p;
		json_array_foreach(prefs, i, p) {
			const char *d = str_at(json_object_get(p, "Spread"), "SpreadDescriptor", "");
			json_array_append_new(spreads, json_string(d));
		}
		put_array(v, "placement.spread", spreads);
		json_decref(spreads);
	}
	if (int_at(pl, "MaxReplicas", 0))
		put(v, "placement.max_replicas_per_node", "%lld", (long long)int_at(pl, "MaxReplicas", 0));
	put_networks(v, json_object_get(tt, "Networks"), st);
	json_t *ld = json_object_get(tt, "LogDriver");
	if (ld) {
		put(v, "logging.driver", "%s", str_at(ld, "Name", ""));
		put_string_map(v, "logging.option.", json_object_get(ld, "Options"), false);
	}

	json_t *mode = json_object_get(sspec, "Mode");
	if (json_object_get(mode, "Global")) {
		put(v, "mode", "global");
	} else {
		put(v, "mode", "replicated");
		put(v, "replicas", "%lld", (long long)int_at(json_object_get(mode, "Replicated"), "Replicas", 1));
	}
	put_update(v, "update_config", json_object_get(sspec, "UpdateConfig"));
	put_update(v, "rollback_config", json_object_get(sspec, "RollbackConfig"));
	json_t *ep = json_object_get(sspec, "EndpointSpec");
	put(v, "endpoint_mode", "%s", str_at(ep, "Mode", "vip"));
	put_ports(v, json_object_get(ep, "Ports"));
	return v;
}
