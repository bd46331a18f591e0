/* From the spec model to the Engine API's ServiceSpec (the shape `docker stack deploy` sends). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/util.h"
#include "providers/swarm/swarm.h"

int swarm_content_name(const char *name, const char *content, size_t len, char out[80])
{
	char hex[BERTH_SHA256_HEX];
	berth_sha256_hex(content, len, hex);
	snprintf(out, 80, "%s-%.12s", name, hex);
	return 0;
}

/* Swarm's limit for a config is 1000 KB. */
#define CONFIG_MAX_BYTES (1000 * 1024)

int swarm_config_content(const spec_config *cf, char **buf, size_t *len, char **err)
{
	if (cf->content) {
		*len = strlen(cf->content);
		*buf = xstrdup(cf->content);
		return 0;
	}
	*buf = spec_read_file(cf->file, CONFIG_MAX_BYTES, len);
	if (!*buf) {
		*err = xasprintf("config '%s': cannot read %s: %s", cf->name, cf->file, strerror(errno));
		return -1;
	}
	return 0;
}

static json_t *strv_json(const spec_strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static json_t *kv_object(const spec_kv *kv, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	return o;
}

static void set_if(json_t *o, const char *key, json_t *v, bool cond)
{
	if (cond)
		json_object_set_new(o, key, v);
	else
		json_decref(v);
}

static const char *proto_name(spec_proto p)
{
	return p == SPEC_PROTO_UDP ? "udp" : p == SPEC_PROTO_SCTP ? "sctp" : "tcp";
}

static json_t *healthcheck_json(const spec_healthcheck *h)
{
	json_t *o = json_object();
	if (h->disable)
		json_object_set_new(o, "Test", json_pack("[s]", "NONE"));
	else if (h->test.n)
		json_object_set_new(o, "Test", strv_json(&h->test));
	set_if(o, "Interval", json_integer(h->interval_ns), h->interval_ns >= 0);
	set_if(o, "Timeout", json_integer(h->timeout_ns), h->timeout_ns >= 0);
	set_if(o, "StartPeriod", json_integer(h->start_period_ns), h->start_period_ns >= 0);
	set_if(o, "StartInterval", json_integer(h->start_interval_ns), h->start_interval_ns >= 0);
	set_if(o, "Retries", json_integer(h->retries), h->retries >= 0);
	return o;
}

static const spec_volume *find_volume(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; name && i < m->swarm.n_volumes; i++)
		if (!strcmp(m->swarm.volumes[i].name, name))
			return &m->swarm.volumes[i];
	return NULL;
}

static const char *share_account(const struct spec_model *m, const char *share)
{
	const char *acct = spec_file_share_account(m, share);
	return acct ? acct : "";
}

/* An Azure File share as a volume: the local driver mounting it over SMB 3 (CIFS). The storage
 * account key is not known at plan time and never in a plan: the password holds a placeholder
 * that the apply step replaces with the key it fetches (swarm_apply.c). */
static json_t *file_share_driver(const struct spec_model *m, const spec_volume *vol)
{
	const char *acct = share_account(m, vol->file_share);
	char *device = spec_file_share_unc(m, acct, vol->file_share), *host = spec_file_share_host(m, acct);
	char *o = xasprintf("addr=%s,username=%s,password=%s,vers=3.0,dir_mode=0777,file_mode=0777,serverino,nosharesock",
			    host, acct, SWARM_KEY_PLACEHOLDER);
	json_t *driver = json_pack("{s:s, s:{s:s, s:s, s:s}}", "Name", "local", "Options", "type", "cifs", "device", device,
				   "o", o);
	free(device);
	free(host);
	free(o);
	return driver;
}

static json_t *mount_json(const struct spec_model *m, const spec_mount *mt)
{
	const char *owner = m->name;
	static const char *const types[] = {"volume", "bind", "tmpfs"};
	json_t *o = json_pack("{s:s, s:s}", "Type", types[mt->type], "Target", mt->target);
	if (mt->source)
		json_object_set_new(o, "Source", json_string(mt->source));
	if (mt->read_only)
		json_object_set_new(o, "ReadOnly", json_true());
	if (mt->type == SPEC_MOUNT_BIND && mt->propagation)
		json_object_set_new(o, "BindOptions", json_pack("{s:s}", "Propagation", mt->propagation));
	if (mt->type == SPEC_MOUNT_VOLUME) {
		json_t *vo = json_object();
		if (mt->nocopy)
			json_object_set_new(vo, "NoCopy", json_true());
		const spec_volume *vol = mt->source ? find_volume(m, mt->source) : NULL;
		if (mt->source) {
			/* Named volumes are created by the engine on whichever node runs the task, from these
			 * options: the swarm has no cluster-wide volume objects to manage. */
			json_t *labels = kv_object(vol ? vol->labels : NULL, vol ? vol->n_labels : 0);
			json_object_set_new(labels, SWARM_LABEL_OWNER, json_string(owner));
			json_object_set_new(vo, "Labels", labels);
		}
		if (vol && vol->file_share) {
			json_object_set_new(vo, "DriverConfig", file_share_driver(m, vol));
			json_object_set_new(json_object_get(vo, "Labels"), SWARM_LABEL_STORAGE_ACCOUNT,
					    json_string(share_account(m, vol->file_share)));
		} else if (vol && (strcmp(vol->driver, "local") || vol->n_driver_opts)) {
			json_t *dc = json_pack("{s:s}", "Name", vol->driver);
			set_if(dc, "Options", kv_object(vol->driver_opts, vol->n_driver_opts), vol->n_driver_opts > 0);
			json_object_set_new(vo, "DriverConfig", dc);
		}
		set_if(o, "VolumeOptions", vo, json_object_size(vo) > 0);
	}
	if (mt->type == SPEC_MOUNT_TMPFS && mt->tmpfs_size >= 0)
		json_object_set_new(o, "TmpfsOptions", json_pack("{s:I}", "SizeBytes", (json_int_t)mt->tmpfs_size));
	return o;
}

/* Compose's extra_hosts "host:ip" becomes the engine's "ip host". */
static json_t *hosts_json(const spec_strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++) {
		const char *s = v->v[i], *colon = strchr(s, ':');
		if (!colon) {
			json_array_append_new(a, json_string(s));
			continue;
		}
		char buf[512];
		snprintf(buf, sizeof(buf), "%s %.*s", colon + 1, (int)(colon - s), s);
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static json_t *file_refs_json(const spec_file_ref *refs, size_t n, const char *const *engine_names,
			      const char *const *logical, size_t nlogical, bool secrets)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		const spec_file_ref *r = &refs[i];
		const char *engine = r->source;
		for (size_t j = 0; j < nlogical; j++)
			if (!strcmp(logical[j], r->source))
				engine = engine_names[j];
		/* Secrets default to /run/secrets/<name>; configs to /<name>. */
		const char *target = r->target ? r->target : r->source;
		json_t *file = json_pack("{s:s, s:s, s:s, s:i}", "Name", target, "UID", r->uid ? r->uid : "0", "GID",
					 r->gid ? r->gid : "0", "Mode", r->mode >= 0 ? r->mode : 0444);
		json_t *ref = json_pack("{s:o, s:s, s:s}", "File", file, secrets ? "SecretName" : "ConfigName", engine,
					secrets ? "SecretID" : "ConfigID", "");
		json_array_append_new(a, ref);
	}
	return a;
}

static json_t *update_json(const spec_update_config *u)
{
	json_t *o = json_object();
	/* Always sent: an UpdateConfig without Parallelism is stored with 0, which means "every task
	 * at once", not the 1 of a service without UpdateConfig (checked on Engine 20.10). berth's
	 * default is 1, as documented and as docker stack deploy sends. */
	json_object_set_new(o, "Parallelism", json_integer(u->parallelism >= 0 ? u->parallelism : 1));
	set_if(o, "Delay", json_integer(u->delay_ns), u->delay_ns >= 0);
	set_if(o, "FailureAction", json_string(u->failure_action ? u->failure_action : ""), u->failure_action != NULL);
	set_if(o, "Monitor", json_integer(u->monitor_ns), u->monitor_ns >= 0);
	set_if(o, "MaxFailureRatio", json_real(u->max_failure_ratio), u->max_failure_ratio >= 0);
	set_if(o, "Order", json_string(u->order ? u->order : ""), u->order != NULL);
	return o;
}

json_t *swarm_service_spec(const struct spec_model *m, const spec_service *s, const char *const *secret_names,
			   const char *const *config_names)
{
	const spec_swarm *sw = &m->swarm;
	const char **secret_logical = xcalloc(sw->n_secrets + 1, sizeof(char *));
	const char **config_logical = xcalloc(sw->n_configs + 1, sizeof(char *));
	for (size_t i = 0; i < sw->n_secrets; i++)
		secret_logical[i] = sw->secrets[i].name;
	for (size_t i = 0; i < sw->n_configs; i++)
		config_logical[i] = sw->configs[i].name;

	json_t *cs = json_pack("{s:s}", "Image", s->image);
	if (s->entrypoint.v)
		json_object_set_new(cs, "Command", strv_json(&s->entrypoint));
	if (s->command.v)
		json_object_set_new(cs, "Args", strv_json(&s->command));
	if (s->n_environment) {
		json_t *env = json_array();
		for (size_t i = 0; i < s->n_environment; i++) {
			char *kv = NULL;
			kv = xasprintf("%s=%s", s->environment[i].key, s->environment[i].value);
			json_array_append_new(env, json_string(kv));
			free(kv);
		}
		json_object_set_new(cs, "Env", env);
	}
	set_if(cs, "Labels", kv_object(s->labels, s->n_labels), s->n_labels > 0);
	set_if(cs, "Hostname", json_string(s->hostname ? s->hostname : ""), s->hostname != NULL);
	set_if(cs, "User", json_string(s->user ? s->user : ""), s->user != NULL);
	set_if(cs, "Dir", json_string(s->working_dir ? s->working_dir : ""), s->working_dir != NULL);
	set_if(cs, "StopSignal", json_string(s->stop_signal ? s->stop_signal : ""), s->stop_signal != NULL);
	set_if(cs, "StopGracePeriod", json_integer(s->stop_grace_period_ns), s->stop_grace_period_ns >= 0);
	set_if(cs, "Init", json_boolean(s->init == 1), s->init >= 0);
	set_if(cs, "ReadOnly", json_boolean(s->read_only == 1), s->read_only == 1);
	set_if(cs, "TTY", json_boolean(s->tty == 1), s->tty == 1);
	if (s->dns.n || s->dns_search.n) {
		json_t *dns = json_object();
		set_if(dns, "Nameservers", strv_json(&s->dns), s->dns.n > 0);
		set_if(dns, "Search", strv_json(&s->dns_search), s->dns_search.n > 0);
		json_object_set_new(cs, "DNSConfig", dns);
	}
	set_if(cs, "Hosts", hosts_json(&s->extra_hosts), s->extra_hosts.n > 0);
	set_if(cs, "CapabilityAdd", strv_json(&s->cap_add), s->cap_add.n > 0);
	set_if(cs, "CapabilityDrop", strv_json(&s->cap_drop), s->cap_drop.n > 0);
	set_if(cs, "Sysctls", kv_object(s->sysctls, s->n_sysctls), s->n_sysctls > 0);
	if (s->healthcheck.present)
		json_object_set_new(cs, "Healthcheck", healthcheck_json(&s->healthcheck));
	if (s->n_volumes) {
		json_t *mounts = json_array();
		for (size_t i = 0; i < s->n_volumes; i++)
			json_array_append_new(mounts, mount_json(m, &s->volumes[i]));
		json_object_set_new(cs, "Mounts", mounts);
	}
	set_if(cs, "Secrets",
	       file_refs_json(s->secrets, s->n_secrets, secret_names, secret_logical, sw->n_secrets, true),
	       s->n_secrets > 0);
	set_if(cs, "Configs",
	       file_refs_json(s->configs, s->n_configs, config_names, config_logical, sw->n_configs, false),
	       s->n_configs > 0);

	json_t *tt = json_pack("{s:o}", "ContainerSpec", cs);
	const spec_deploy *d = &s->deploy;
	json_t *limits = json_object(), *res = json_object();
	set_if(limits, "NanoCPUs", json_integer(d->limit_nano_cpus), d->limit_nano_cpus >= 0);
	set_if(limits, "MemoryBytes", json_integer(d->limit_memory), d->limit_memory >= 0);
	set_if(limits, "Pids", json_integer(d->limit_pids), d->limit_pids >= 0);
	set_if(res, "NanoCPUs", json_integer(d->reserve_nano_cpus), d->reserve_nano_cpus >= 0);
	set_if(res, "MemoryBytes", json_integer(d->reserve_memory), d->reserve_memory >= 0);
	if (json_object_size(limits) || json_object_size(res)) {
		json_t *r = json_object();
		set_if(r, "Limits", json_incref(limits), json_object_size(limits) > 0);
		set_if(r, "Reservations", json_incref(res), json_object_size(res) > 0);
		json_object_set_new(tt, "Resources", r);
	}
	json_decref(limits);
	json_decref(res);
	if (d->restart_policy.present) {
		const spec_restart_policy *rp = &d->restart_policy;
		json_t *o = json_object();
		set_if(o, "Condition", json_string(rp->condition ? rp->condition : ""), rp->condition != NULL);
		set_if(o, "Delay", json_integer(rp->delay_ns), rp->delay_ns >= 0);
		set_if(o, "MaxAttempts", json_integer(rp->max_attempts), rp->max_attempts >= 0);
		set_if(o, "Window", json_integer(rp->window_ns), rp->window_ns >= 0);
		json_object_set_new(tt, "RestartPolicy", o);
	}
	if (d->constraints.n || d->spread_preferences.n || d->max_replicas_per_node >= 0) {
		json_t *pl = json_object();
		set_if(pl, "Constraints", strv_json(&d->constraints), d->constraints.n > 0);
		if (d->spread_preferences.n) {
			json_t *prefs = json_array();
			for (size_t i = 0; i < d->spread_preferences.n; i++)
				json_array_append_new(prefs, json_pack("{s:{s:s}}", "Spread", "SpreadDescriptor",
								       d->spread_preferences.v[i]));
			json_object_set_new(pl, "Preferences", prefs);
		}
		set_if(pl, "MaxReplicas", json_integer(d->max_replicas_per_node), d->max_replicas_per_node >= 0);
		json_object_set_new(tt, "Placement", pl);
	}
	if (s->n_networks) {
		json_t *nets = json_array();
		for (size_t i = 0; i < s->n_networks; i++) {
			json_t *n = json_pack("{s:s}", "Target", s->networks[i].name);
			set_if(n, "Aliases", strv_json(&s->networks[i].aliases), s->networks[i].aliases.n > 0);
			json_array_append_new(nets, n);
		}
		json_object_set_new(tt, "Networks", nets);
	}
	if (s->logging_driver) {
		json_t *ld = json_pack("{s:s}", "Name", s->logging_driver);
		set_if(ld, "Options", kv_object(s->logging_options, s->n_logging_options), s->n_logging_options > 0);
		json_object_set_new(tt, "LogDriver", ld);
	}

	json_t *labels = kv_object(d->labels, d->n_labels);
	json_object_set_new(labels, SWARM_LABEL_OWNER, json_string(m->name));
	json_t *sspec = json_pack("{s:s, s:o, s:o}", "Name", s->name, "Labels", labels, "TaskTemplate", tt);
	if (d->mode == SPEC_MODE_GLOBAL)
		json_object_set_new(sspec, "Mode", json_pack("{s:{}}", "Global"));
	else
		json_object_set_new(sspec, "Mode", json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)d->replicas));
	if (d->update_config.present)
		json_object_set_new(sspec, "UpdateConfig", update_json(&d->update_config));
	if (d->rollback_config.present)
		json_object_set_new(sspec, "RollbackConfig", update_json(&d->rollback_config));
	json_t *ep = json_object();
	if (d->endpoint_mode)
		json_object_set_new(ep, "Mode", json_string(d->endpoint_mode));
	if (s->n_ports) {
		json_t *ports = json_array();
		for (size_t i = 0; i < s->n_ports; i++) {
			const spec_port *p = &s->ports[i];
			json_t *po = json_pack("{s:s, s:i, s:s}", "Protocol", proto_name(p->protocol), "TargetPort", p->target,
					       "PublishMode", p->mode == SPEC_PUBLISH_HOST ? "host" : "ingress");
			if (p->published)
				json_object_set_new(po, "PublishedPort", json_integer(p->published));
			json_array_append_new(ports, po);
		}
		json_object_set_new(ep, "Ports", ports);
	}
	set_if(sspec, "EndpointSpec", ep, json_object_size(ep) > 0);
	free(secret_logical);
	free(config_logical);
	return sspec;
}
