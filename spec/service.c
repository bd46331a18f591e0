/* A swarm service, in Compose-specification vocabulary. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "spec_internal.h"

/* ---- ports ---- */

static const char *const protocols[] = {"tcp", "udp", "sctp", NULL};
static const char *const publish_modes[] = {"ingress", "host", NULL};

typedef struct {
	spec_port *v;
	size_t n, cap;
} port_vec;

static void port_push(spec_ctx *c, port_vec *pv, spec_port p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 4;
		spec_port *nv = arena_calloc(c->mem, cap, sizeof(*nv));
		if (pv->n)
			memcpy(nv, pv->v, pv->n * sizeof(*nv));
		pv->v = nv;
		pv->cap = cap;
	}
	pv->v[pv->n++] = p;
}

/* "80" or "8000-8010" */
static bool parse_port_range(const char *s, size_t len, int *lo, int *hi)
{
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	for (const char *p = buf; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	if (dash)
		for (const char *p = dash + 1; *p; p++)
			if (!isdigit((unsigned char)*p))
				return false;
	if (!buf[0] || (dash && !dash[1]) || strlen(buf) > 6 || (dash && strlen(dash + 1) > 6))
		return false;
	*lo = atoi(buf);
	*hi = dash ? atoi(dash + 1) : *lo;
	return true;
}

static bool port_in_range(spec_ctx *c, const ynode *at, int p)
{
	if (p >= 1 && p <= 65535)
		return true;
	spec_error_at(c, at, "port must be between 1 and 65535 (got %d)", p);
	return false;
}

static bool decode_short_port(spec_ctx *c, const ynode *n, port_vec *pv)
{
	const char *s = n->u.str;
	const char *slash = strchr(s, '/');
	size_t body_len = slash ? (size_t)(slash - s) : strlen(s);
	spec_proto proto = SPEC_PROTO_TCP;
	if (slash) {
		int idx = -1;
		for (int i = 0; protocols[i]; i++)
			if (!strcmp(slash + 1, protocols[i]))
				idx = i;
		if (idx < 0) {
			spec_error_at(c, n, "unknown protocol '%s' (use tcp, udp or sctp)", slash + 1);
			return false;
		}
		proto = (spec_proto)idx;
	}
	const char *colon = memchr(s, ':', body_len);
	if (colon && memchr(colon + 1, ':', body_len - (size_t)(colon + 1 - s))) {
		spec_error_at(c, n, "'%s': binding a published port to a host IP is not supported in swarm mode", s);
		return false;
	}
	int plo = 0, phi = 0, tlo, thi;
	const char *target = colon ? colon + 1 : s;
	size_t target_len = body_len - (size_t)(target - s);
	if ((colon && !parse_port_range(s, (size_t)(colon - s), &plo, &phi)) ||
	    !parse_port_range(target, target_len, &tlo, &thi)) {
		spec_error_at(c, n, "invalid port '%s': use TARGET, PUBLISHED:TARGET or PUBLISHED:TARGET/PROTOCOL", s);
		return false;
	}
	if (!port_in_range(c, n, tlo) || !port_in_range(c, n, thi) || (colon && (!port_in_range(c, n, plo) || !port_in_range(c, n, phi))))
		return false;
	if (thi < tlo || (colon && phi < plo)) {
		spec_error_at(c, n, "invalid port range in '%s'", s);
		return false;
	}
	/* A published range to one target port ("8000-8002:80") publishes every port of the range to
	 * it, as docker stack deploy does (the swarm has no published range); other ranges pair up. */
	bool fan_in = colon && tlo == thi && phi > plo;
	if (colon && !fan_in && phi - plo != thi - tlo) {
		spec_error_at(c, n,
			      "'%s': published and target ranges differ in size (publish a range to a range of the same size, "
			      "or to one target port)",
			      s);
		return false;
	}
	int count = fan_in ? phi - plo : thi - tlo;
	for (int i = 0; i <= count; i++) {
		spec_port p = {.target = fan_in ? tlo : tlo + i, .published = colon ? plo + i : 0, .protocol = proto,
			       .mode = SPEC_PUBLISH_INGRESS, .loc = spec_loc_of(c, n)};
		port_push(c, pv, p);
	}
	return true;
}

static bool port_number(spec_ctx *c, const ynode *v, int *out)
{
	int64_t x;
	if (v && v->kind == YNODE_SCALAR && v->quoted) {
		/* Compose allows a published port as a string. */
		int lo, hi;
		if (!parse_port_range(v->u.str, v->n, &lo, &hi) || lo != hi) {
			spec_error_at(c, v, "expected a port number, got '%s'", v->u.str);
			return false;
		}
		x = lo;
		if (!port_in_range(c, v, (int)x))
			return false;
	} else if (!dec_int(c, v, 1, 65535, &x)) {
		return false;
	}
	*out = (int)x;
	return true;
}

static bool f_port_target(spec_ctx *c, const ynode *v, void *o) { return port_number(c, v, &((spec_port *)o)->target); }
static bool f_port_published(spec_ctx *c, const ynode *v, void *o) { return port_number(c, v, &((spec_port *)o)->published); }
static bool f_port_host_ip(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	spec_error_at(c, v, "binding a published port to a host IP is not supported in swarm mode");
	return false;
}
static bool f_ignore(spec_ctx *c, const ynode *v, void *o)
{
	(void)c, (void)v, (void)o;
	return true;
}

static const field port_fields[] = {
	F_FN("target", f_port_target, F_REQUIRED),
	F_FN("published", f_port_published, 0),
	F_ENUM("protocol", spec_port, protocol, protocols),
	F_ENUM("mode", spec_port, mode, publish_modes),
	F_FN("host_ip", f_port_host_ip, 0),
	F_FN("name", f_ignore, 0),
	F_FN("app_protocol", f_ignore, 0),
};

static bool f_ports(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	port_vec pv = {0};
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *it = n->u.items[i];
		spec_push_index(c, i);
		if (it->kind == YNODE_MAP) {
			spec_port p = {.loc = spec_loc_of(c, it)};
			size_t before = c->diags ? spec_diags_errors(c->diags) : 0;
			dec_object(c, it, port_fields, NFIELDS(port_fields), &p);
			if (spec_diags_errors(c->diags) == before)
				port_push(c, &pv, p);
			else
				ok = false;
		} else if (it->kind == YNODE_SCALAR && !ynode_is_null(it)) {
			ok &= decode_short_port(c, it, &pv);
		} else {
			spec_error_at(c, it, "expected a port string or mapping, got %s", ynode_kind_name(it));
			ok = false;
		}
		spec_pop(c);
	}
	s->ports = pv.v;
	s->n_ports = pv.n;
	return ok;
}

/* ---- volumes ---- */

static const char *const mount_types[] = {"volume", "bind", "tmpfs", NULL};
static const char *const propagations[] = {"rprivate", "private", "rshared", "shared", "rslave", "slave", NULL};

static bool is_path(const char *s)
{
	return s[0] == '/' || s[0] == '.' || s[0] == '~';
}

static bool decode_short_mount(spec_ctx *c, const ynode *n, spec_mount *m)
{
	char *buf = arena_strdup(c->mem, n->u.str);
	char *parts[4];
	size_t np = 0;
	for (char *p = buf; np < 4;) {
		parts[np++] = p;
		char *colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (np > 3 || !*parts[0]) {
		spec_error_at(c, n, "invalid volume '%s': use [SOURCE:]TARGET[:MODE]", n->u.str);
		return false;
	}
	if (np == 1) {
		m->type = SPEC_MOUNT_VOLUME;
		m->target = parts[0];
	} else {
		m->source = parts[0];
		m->target = parts[1];
		m->type = is_path(parts[0]) ? SPEC_MOUNT_BIND : SPEC_MOUNT_VOLUME;
	}
	if (np == 3) {
		/* strtok_r: the spec is parsed on server threads too, and strtok's state is global. */
		char *save = NULL;
		for (char *opt = strtok_r(parts[2], ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
			if (!strcmp(opt, "ro"))
				m->read_only = true;
			else if (!strcmp(opt, "rw"))
				m->read_only = false;
			else if (!strcmp(opt, "nocopy") && m->type == SPEC_MOUNT_VOLUME)
				m->nocopy = true;
			else if (!strcmp(opt, "z") || !strcmp(opt, "Z"))
				;
			else if (m->type == SPEC_MOUNT_BIND && !strcmp(opt, propagations[0]))
				m->propagation = propagations[0];
			else {
				int idx = -1;
				for (int i = 0; propagations[i]; i++)
					if (!strcmp(opt, propagations[i]))
						idx = i;
				if (idx >= 0 && m->type == SPEC_MOUNT_BIND) {
					m->propagation = propagations[idx];
					continue;
				}
				spec_error_at(c, n, "unknown volume option '%s' in '%s'", opt, n->u.str);
				return false;
			}
		}
	}
	return true;
}

typedef struct {
	spec_mount *m;
	bool has_type;
} mount_ctx;

static bool f_mount_type(spec_ctx *c, const ynode *v, void *o)
{
	int idx;
	if (v && v->kind == YNODE_SCALAR && (!strcmp(v->u.str, "npipe") || !strcmp(v->u.str, "cluster") ||
					     !strcmp(v->u.str, "image"))) {
		spec_error_at(c, v, "mount type '%s' is not supported by berth", v->u.str);
		return false;
	}
	if (!dec_enum(c, v, mount_types, false, &idx))
		return false;
	((spec_mount *)o)->type = (spec_mount_type)idx;
	return true;
}
static bool f_bind_opts(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_ENUMSTR("propagation", spec_mount, propagation, propagations),
		F_FN("create_host_path", f_ignore, 0),
		F_FN("selinux", f_ignore, 0),
	};
	return dec_object(c, v, f, NFIELDS(f), o);
}
static bool f_volume_opts(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_BOOL("nocopy", spec_mount, nocopy)};
	return dec_object(c, v, f, NFIELDS(f), o);
}
static bool f_tmpfs_opts(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_BYTES("size", spec_mount, tmpfs_size), F_FN("mode", f_ignore, 0)};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static const field mount_fields[] = {
	F_FN("type", f_mount_type, F_REQUIRED),
	F_STR("source", spec_mount, source, 0),
	F_STR("target", spec_mount, target, F_REQUIRED),
	F_BOOL("read_only", spec_mount, read_only),
	F_FN("bind", f_bind_opts, 0),
	F_FN("volume", f_volume_opts, 0),
	F_FN("tmpfs", f_tmpfs_opts, 0),
	F_FN("consistency", f_ignore, 0),
};

static bool f_volumes(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	s->volumes = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(spec_mount));
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *it = n->u.items[i];
		spec_mount *m = &s->volumes[s->n_volumes];
		m->tmpfs_size = -1;
		m->loc = spec_loc_of(c, it);
		spec_push_index(c, i);
		bool good;
		if (it->kind == YNODE_MAP) {
			size_t before = spec_diags_errors(c->diags);
			dec_object(c, it, mount_fields, NFIELDS(mount_fields), m);
			good = spec_diags_errors(c->diags) == before;
		} else if (it->kind == YNODE_SCALAR && !ynode_is_null(it)) {
			good = decode_short_mount(c, it, m);
		} else {
			spec_error_at(c, it, "expected a volume string or mapping, got %s", ynode_kind_name(it));
			good = false;
		}
		if (good && m->target && m->target[0] != '/') {
			spec_error_at(c, it, "mount target '%s' must be an absolute path", m->target);
			good = false;
		}
		if (good && m->type == SPEC_MOUNT_BIND && (!m->source || m->source[0] != '/')) {
			spec_error_at(c, it, "bind mount source '%s' must be an absolute path on the node", m->source ? m->source : "");
			good = false;
		}
		if (good && m->type == SPEC_MOUNT_TMPFS && m->source) {
			spec_error_at(c, it, "a tmpfs mount has no source");
			good = false;
		}
		spec_pop(c);
		if (good)
			s->n_volumes++;
		ok &= good;
	}
	return ok;
}

/* ---- secrets and configs ---- */

/* A file mode is octal however it is written, as the Compose specification says: 440, 0440,
 * 0o440 and "440" are all r--r-----. (compose-go reads an unquoted 440 as the YAML integer 440,
 * that is 0670, which is never what was meant; berth does not follow it there.) */
static bool f_file_mode(spec_ctx *c, const ynode *v, void *o)
{
	if (!v || v->kind != YNODE_SCALAR || ynode_is_null(v)) {
		spec_error_at(c, v, "expected a file mode like 0440");
		return false;
	}
	const char *s = v->u.str;
	if (s[0] == '0' && s[1] == 'o')
		s += 2;
	if (!*s || strspn(s, "01234567") != strlen(s)) {
		spec_error_at(c, v, "expected an octal file mode like 0440 (digits 0 to 7), got '%s'", v->u.str);
		return false;
	}
	s += strspn(s, "0"); /* leading zeros say nothing more */
	long m = strlen(s) > 3 ? 01000 : strtol(s, NULL, 8);
	if (m > 0777) {
		spec_error_at(c, v, "expected a file mode between 0 and 0777, got '%s'", v->u.str);
		return false;
	}
	((spec_file_ref *)o)->mode = (int)m;
	return true;
}

static const field file_ref_fields[] = {
	F_STR("source", spec_file_ref, source, F_REQUIRED),
	F_STR("target", spec_file_ref, target, 0),
	F_STR("uid", spec_file_ref, uid, 0),
	F_STR("gid", spec_file_ref, gid, 0),
	F_FN("mode", f_file_mode, 0),
};

static bool decode_file_refs(spec_ctx *c, const ynode *n, spec_file_ref **out, size_t *nout)
{
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	spec_file_ref *refs = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(*refs));
	size_t count = 0;
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *it = n->u.items[i];
		spec_file_ref *r = &refs[count];
		r->mode = -1;
		r->loc = spec_loc_of(c, it);
		spec_push_index(c, i);
		size_t before = spec_diags_errors(c->diags);
		if (it->kind == YNODE_MAP)
			dec_object(c, it, file_ref_fields, NFIELDS(file_ref_fields), r);
		else
			dec_str(c, it, &r->source);
		spec_pop(c);
		if (spec_diags_errors(c->diags) == before)
			count++;
		else
			ok = false;
	}
	*out = refs;
	*nout = count;
	return ok;
}

static bool f_secrets(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	return decode_file_refs(c, n, &s->secrets, &s->n_secrets);
}
static bool f_configs(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	return decode_file_refs(c, n, &s->configs, &s->n_configs);
}

/* ---- networks ---- */

static bool f_net_aliases(spec_ctx *c, const ynode *v, void *o)
{
	return dec_strv(c, v, &((spec_service_network *)o)->aliases);
}

static const field service_network_fields[] = {
	F_FN("aliases", f_net_aliases, 0),
};

static bool f_networks(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	if (ynode_is_null(n))
		return true;
	if (n->kind != YNODE_SEQ && n->kind != YNODE_MAP) {
		spec_error_at(c, n, "expected a list of network names or a mapping, got %s", ynode_kind_name(n));
		return false;
	}
	s->networks = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(spec_service_network));
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		spec_service_network *net = &s->networks[s->n_networks];
		if (n->kind == YNODE_SEQ) {
			spec_push_index(c, i);
			if (dec_str(c, n->u.items[i], &net->name)) {
				net->loc = spec_loc_of(c, n->u.items[i]);
				s->n_networks++;
			} else {
				ok = false;
			}
			spec_pop(c);
			continue;
		}
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		if (!dec_str(c, k, &net->name)) {
			ok = false;
			continue;
		}
		net->loc = spec_loc_of(c, k);
		spec_push_key(c, net->name);
		if (!ynode_is_null(v))
			dec_object(c, v, service_network_fields, NFIELDS(service_network_fields), net);
		spec_pop(c);
		s->n_networks++;
	}
	return ok;
}

/* ---- healthcheck ---- */

static bool f_hc_test(spec_ctx *c, const ynode *v, void *o)
{
	spec_healthcheck *h = o;
	if (list_is_empty(v, &h->test))
		return true; /* "test:" with no value: the image's test, as if it were left out */
	if (v->kind == YNODE_SCALAR) {
		h->test.v = arena_calloc(c->mem, 2, sizeof(char *));
		h->test.v[0] = "CMD-SHELL";
		h->test.v[1] = v->u.str;
		h->test.n = 2;
		return true;
	}
	if (!dec_strv(c, v, &h->test))
		return false;
	if (h->test.n == 0 || (strcmp(h->test.v[0], "CMD") && strcmp(h->test.v[0], "CMD-SHELL") &&
			       strcmp(h->test.v[0], "NONE"))) {
		spec_error_at(c, v, "a test list must start with CMD, CMD-SHELL or NONE");
		return false;
	}
	return true;
}

static const field healthcheck_fields[] = {
	F_FN("test", f_hc_test, 0),
	F_DUR("interval", spec_healthcheck, interval_ns),
	F_DUR("timeout", spec_healthcheck, timeout_ns),
	F_DUR("start_period", spec_healthcheck, start_period_ns),
	F_DUR("start_interval", spec_healthcheck, start_interval_ns),
	F_INT("retries", spec_healthcheck, retries, 0, 1000000),
	F_BOOL("disable", spec_healthcheck, disable),
};

static bool f_healthcheck(spec_ctx *c, const ynode *n, void *o)
{
	spec_healthcheck *h = &((spec_service *)o)->healthcheck;
	h->present = true;
	h->interval_ns = h->timeout_ns = h->start_period_ns = h->start_interval_ns = -1;
	h->retries = -1;
	if (!dec_object(c, n, healthcheck_fields, NFIELDS(healthcheck_fields), h))
		return false;
	if (h->disable && h->test.n && strcmp(h->test.v[0], "NONE")) {
		spec_error_at(c, n, "'disable: true' and a test cannot be combined");
		return false;
	}
	if (!h->disable && !h->test.n && h->interval_ns < 0 && h->retries < 0 && h->timeout_ns < 0 &&
	    h->start_period_ns < 0) {
		spec_error_at(c, n, "empty healthcheck: give a test, or disable: true");
		return false;
	}
	return true;
}

/* ---- deploy ---- */

static const char *const service_modes[] = {"replicated", "global", NULL};
static const char *const failure_actions[] = {"pause", "continue", "rollback", NULL};
static const char *const rollback_failure_actions[] = {"pause", "continue", NULL};
static const char *const update_orders[] = {"stop-first", "start-first", NULL};
static const char *const restart_conditions[] = {"none", "on-failure", "any", NULL};
static const char *const endpoint_modes[] = {"vip", "dnsrr", NULL};

static bool decode_cpus(spec_ctx *c, const ynode *v, int64_t *nano)
{
	double cpus;
	if (!dec_num(c, v, 0.001, 1024, &cpus))
		return false;
	*nano = (int64_t)(cpus * 1e9 + 0.5);
	return true;
}

typedef struct {
	int64_t *cpus, *memory, *pids;
} resource_target;

static bool f_res_cpus(spec_ctx *c, const ynode *v, void *o) { return decode_cpus(c, v, ((resource_target *)o)->cpus); }
static bool f_res_memory(spec_ctx *c, const ynode *v, void *o)
{
	int64_t *m = ((resource_target *)o)->memory;
	if (!dec_bytes(c, v, m))
		return false;
	if (*m < 4 * 1024 * 1024) {
		spec_error_at(c, v, "must be at least 4m (got '%s')", v->u.str);
		return false;
	}
	return true;
}
static bool f_res_pids(spec_ctx *c, const ynode *v, void *o) { return dec_int(c, v, 1, INT64_MAX, ((resource_target *)o)->pids); }
static bool f_res_unsupported(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	spec_error_at(c, v, "not supported by berth");
	return false;
}

static bool f_limits(spec_ctx *c, const ynode *v, void *o)
{
	spec_deploy *d = o;
	static const field f[] = {F_FN("cpus", f_res_cpus, 0), F_FN("memory", f_res_memory, 0), F_FN("pids", f_res_pids, 0)};
	resource_target t = {&d->limit_nano_cpus, &d->limit_memory, &d->limit_pids};
	return dec_object(c, v, f, NFIELDS(f), &t);
}
static bool f_reservations(spec_ctx *c, const ynode *v, void *o)
{
	spec_deploy *d = o;
	static const field f[] = {F_FN("cpus", f_res_cpus, 0), F_FN("memory", f_res_memory, 0),
				  F_FN("generic_resources", f_res_unsupported, 0), F_FN("devices", f_res_unsupported, 0)};
	resource_target t = {&d->reserve_nano_cpus, &d->reserve_memory, NULL};
	return dec_object(c, v, f, NFIELDS(f), &t);
}
static bool f_resources(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_FN("limits", f_limits, 0), F_FN("reservations", f_reservations, 0)};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static bool f_preferences(spec_ctx *c, const ynode *n, void *o)
{
	spec_deploy *d = o;
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	d->spread_preferences.v = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(char *));
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		typedef struct {
			const char *spread;
		} preference;
		static const field f[] = {F_STR("spread", preference, spread, F_REQUIRED)};
		preference one = {0};
		spec_push_index(c, i);
		size_t before = spec_diags_errors(c->diags);
		dec_object(c, n->u.items[i], f, NFIELDS(f), &one);
		if (spec_diags_errors(c->diags) == before)
			d->spread_preferences.v[d->spread_preferences.n++] = one.spread;
		else
			ok = false;
		spec_pop(c);
	}
	return ok;
}

static bool f_constraints(spec_ctx *c, const ynode *n, void *o)
{
	spec_deploy *d = o;
	if (!dec_strv(c, n, &d->constraints))
		return false;
	bool ok = true;
	for (size_t i = 0; i < d->constraints.n; i++) {
		const char *s = d->constraints.v[i];
		if (!strstr(s, "==") && !strstr(s, "!=")) {
			spec_push_index(c, i);
			spec_error_at(c, n->u.items[i], "constraint '%s' needs an operator, == or !=", s);
			spec_pop(c);
			ok = false;
		}
	}
	return ok;
}

static bool f_placement(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_FN("constraints", f_constraints, 0),
		F_FN("preferences", f_preferences, 0),
		F_INT("max_replicas_per_node", spec_deploy, max_replicas_per_node, 0, INT32_MAX),
	};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static const field update_fields[] = {
	F_INT("parallelism", spec_update_config, parallelism, 0, INT32_MAX),
	F_DUR("delay", spec_update_config, delay_ns),
	F_ENUMSTR("failure_action", spec_update_config, failure_action, failure_actions),
	F_DUR("monitor", spec_update_config, monitor_ns),
	{.key = "max_failure_ratio", .kind = FK_NUM, .off = offsetof(spec_update_config, max_failure_ratio), .min = 0, .max = 1},
	F_ENUMSTR("order", spec_update_config, order, update_orders),
};
static const field rollback_fields[] = {
	F_INT("parallelism", spec_update_config, parallelism, 0, INT32_MAX),
	F_DUR("delay", spec_update_config, delay_ns),
	F_ENUMSTR("failure_action", spec_update_config, failure_action, rollback_failure_actions),
	F_DUR("monitor", spec_update_config, monitor_ns),
	{.key = "max_failure_ratio", .kind = FK_NUM, .off = offsetof(spec_update_config, max_failure_ratio), .min = 0, .max = 1},
	F_ENUMSTR("order", spec_update_config, order, update_orders),
};

static void update_defaults(spec_update_config *u)
{
	u->present = true;
	u->parallelism = -1;
	u->delay_ns = u->monitor_ns = -1;
	u->max_failure_ratio = -1;
}

static bool f_update_config(spec_ctx *c, const ynode *v, void *o)
{
	spec_update_config *u = &((spec_deploy *)o)->update_config;
	update_defaults(u);
	return dec_object(c, v, update_fields, NFIELDS(update_fields), u);
}
static bool f_rollback_config(spec_ctx *c, const ynode *v, void *o)
{
	spec_update_config *u = &((spec_deploy *)o)->rollback_config;
	update_defaults(u);
	return dec_object(c, v, rollback_fields, NFIELDS(rollback_fields), u);
}

static bool f_restart_policy(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_ENUMSTR("condition", spec_restart_policy, condition, restart_conditions),
		F_DUR("delay", spec_restart_policy, delay_ns),
		F_INT("max_attempts", spec_restart_policy, max_attempts, 0, INT32_MAX),
		F_DUR("window", spec_restart_policy, window_ns),
	};
	spec_restart_policy *r = &((spec_deploy *)o)->restart_policy;
	r->present = true;
	r->delay_ns = r->window_ns = -1;
	r->max_attempts = -1;
	return dec_object(c, v, f, NFIELDS(f), r);
}

static bool f_deploy_replicas(spec_ctx *c, const ynode *v, void *o)
{
	return dec_int(c, v, 0, 1000000, &((spec_deploy *)o)->replicas);
}

/* ---- autoscale (issue 10) ---- */

static bool f_as_cooldown(spec_ctx *c, const ynode *v, void *o)
{
	spec_autoscale *a = o;
	return dec_duration(c, v, &a->cooldown_ns);
}

static bool f_as_prometheus(spec_ctx *c, const ynode *v, void *o)
{
	spec_autoscale *a = o;
	if (!dec_str(c, v, &a->prometheus))
		return false;
	if (strncmp(a->prometheus, "http://", 7) && strncmp(a->prometheus, "https://", 8)) {
		spec_error_at(c, v, "unsupported Prometheus URL '%s': use http://HOST[:PORT][/PATH] or https://...",
			      a->prometheus);
		return false;
	}
	return true;
}

static bool f_as_target(spec_ctx *c, const ynode *v, void *o)
{
	spec_autoscale *a = o;
	if (!dec_num(c, v, 0, 1e15, &a->target))
		return false;
	if (a->target <= 0) {
		spec_error_at(c, v, "must be above 0: it divides the query's value");
		return false;
	}
	return true;
}

static bool f_as_source(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_FN("prometheus", f_as_prometheus, F_REQUIRED),
		F_STR("query", spec_autoscale, query, F_REQUIRED),
		F_FN("target", f_as_target, F_REQUIRED),
	};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static const field autoscale_fields[] = {
	F_INT("min", spec_autoscale, min, 1, 1000000),
	F_INT("max", spec_autoscale, max, 1, 1000000),
	F_INT("cpu_percent", spec_autoscale, cpu_percent, 1, 1000),
	F_INT("memory_percent", spec_autoscale, memory_percent, 1, 1000),
	{.key = "tolerance", .kind = FK_NUM, .off = offsetof(spec_autoscale, tolerance), .min = 0, .max = 1},
	F_FN("cooldown", f_as_cooldown, 0),
	F_FN("source", f_as_source, 0),
};

static bool f_autoscale(spec_ctx *c, const ynode *v, void *o)
{
	spec_autoscale *a = &((spec_deploy *)o)->autoscale;
	const ynode *key = c->depth > 0 && c->depth <= SPEC_PATH_MAX ? c->path[c->depth - 1].at : NULL;
	*a = (spec_autoscale){
		.present = true,
		.loc = spec_loc_of(c, key ? key : v),
		.min = 1,
		.max = -1,
		.cpu_percent = -1,
		.memory_percent = -1,
		.tolerance = 0.1,
		.cooldown_ns = 180 * 1000000000LL,
		.target = -1,
	};
	if (!dec_object(c, v, autoscale_fields, NFIELDS(autoscale_fields), a))
		return false;
	bool ok = true;
	if (a->max < 0) {
		spec_error_at(c, key ? key : v, "missing required key 'max'");
		ok = false;
	} else if (a->min > a->max) {
		spec_push_key(c, "min");
		spec_error_at(c, ymap_key(v, "min"), "min %lld is above max %lld", (long long)a->min, (long long)a->max);
		spec_pop(c);
		ok = false;
	}
	if (a->cpu_percent < 0 && a->memory_percent < 0 && !a->prometheus) {
		spec_error_at(c, key ? key : v, "autoscale needs a metric: cpu_percent, memory_percent or a prometheus source");
		ok = false;
	}
	return ok;
}

static void needs_base(spec_ctx *c, const ynode *as, const char *key, bool missing, const char *res, const char *what)
{
	if (!missing)
		return;
	spec_push_key(c, key);
	spec_error_at(c, ymap_key(as, key),
		      "needs resources.reservations.%s or resources.limits.%s: the percentage is of the task's reserved %s, "
		      "else of its limit",
		      res, res, what);
	spec_pop(c);
}

/* The rules that need the whole deploy block: autoscale owns replicas, and a percentage is of
 * the task's reserved resource (as Kubernetes' requests), else of its limit; with neither it
 * would mean nothing. */
static void check_autoscale(spec_ctx *c, const ynode *n, const spec_deploy *d)
{
	const spec_autoscale *a = &d->autoscale;
	if (d->replicas >= 0) {
		spec_push_key(c, "replicas");
		spec_error_at(c, ymap_key(n, "replicas"),
			      "cannot be set with autoscale: the autoscaler decides the replicas (between min %lld and max %lld)",
			      (long long)a->min, (long long)a->max);
		spec_pop(c);
	}
	spec_push_key(c, "autoscale");
	const ynode *as = ymap_value(n, "autoscale");
	if (d->mode == SPEC_MODE_GLOBAL)
		spec_error_loc(c, a->loc, "cannot be set with mode: global (one task per node is not scaled)");
	needs_base(c, as, "cpu_percent", a->cpu_percent > 0 && d->reserve_nano_cpus <= 0 && d->limit_nano_cpus <= 0, "cpus", "CPU");
	needs_base(c, as, "memory_percent", a->memory_percent > 0 && d->reserve_memory <= 0 && d->limit_memory <= 0, "memory",
		   "memory");
	spec_pop(c);
}

static const field deploy_fields[] = {
	F_ENUM("mode", spec_deploy, mode, service_modes),
	F_FN("replicas", f_deploy_replicas, 0),
	F_FN("resources", f_resources, 0),
	F_FN("placement", f_placement, 0),
	F_FN("update_config", f_update_config, 0),
	F_FN("rollback_config", f_rollback_config, 0),
	F_FN("restart_policy", f_restart_policy, 0),
	F_KV("labels", spec_deploy, labels, n_labels),
	F_ENUMSTR("endpoint_mode", spec_deploy, endpoint_mode, endpoint_modes),
	F_FN("autoscale", f_autoscale, 0),
};

static bool f_deploy(spec_ctx *c, const ynode *n, void *o)
{
	spec_deploy *d = &((spec_service *)o)->deploy;
	if (ynode_is_null(n))
		return true;
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, n, deploy_fields, NFIELDS(deploy_fields), d))
		return false;
	if (d->autoscale.present) {
		check_autoscale(c, n, d);
		return spec_diags_errors(c->diags) == before;
	}
	if (d->mode == SPEC_MODE_GLOBAL && d->replicas >= 0) {
		for (size_t i = 0; i < n->n; i++)
			if (n->u.pairs[2 * i]->kind == YNODE_SCALAR && !strcmp(n->u.pairs[2 * i]->u.str, "replicas")) {
				spec_push_key(c, "replicas");
				spec_error_at(c, n->u.pairs[2 * i], "cannot be set with mode: global");
				spec_pop(c);
			}
		return false;
	}
	return true;
}

/* ---- logging ---- */

static bool f_logging(spec_ctx *c, const ynode *n, void *o)
{
	static const field f[] = {
		F_STR("driver", spec_service, logging_driver, 0),
		F_KV("options", spec_service, logging_options, n_logging_options),
	};
	return dec_object(c, n, f, NFIELDS(f), o);
}

/* ---- the service ---- */

static bool f_environment(spec_ctx *c, const ynode *n, void *o)
{
	spec_service *s = o;
	/* Compose: "KEY:" or "- KEY" takes the value from the environment of the one deploying. */
	if (!dec_kv(c, n, KV_FROM_ENV, &s->environment, &s->n_environment))
		return false;
	bool ok = true;
	for (size_t i = 0; i < s->n_environment; i++)
		/* Only what is written in the spec: an inherited value is taken literally. */
		if (!s->environment[i].from_env && spec_looks_like_ref(s->environment[i].value)) {
			spec_push_key(c, s->environment[i].key);
			spec_error_loc(c, s->environment[i].loc,
				       "secret references are not expanded in environment; use a swarm secret");
			spec_pop(c);
			ok = false;
		}
	return ok;
}

static const field service_fields[] = {
	F_STR("image", spec_service, image, F_REQUIRED),
	F_CMD("command", spec_service, command),
	F_CMD("entrypoint", spec_service, entrypoint),
	F_FN("environment", f_environment, 0),
	F_FN("ports", f_ports, 0),
	F_FN("volumes", f_volumes, 0),
	F_FN("secrets", f_secrets, 0),
	F_FN("configs", f_configs, 0),
	F_FN("networks", f_networks, 0),
	F_KV("labels", spec_service, labels, n_labels),
	F_FN("healthcheck", f_healthcheck, 0),
	F_FN("deploy", f_deploy, 0),
	F_STR("hostname", spec_service, hostname, 0),
	F_STR("user", spec_service, user, 0),
	F_STR("working_dir", spec_service, working_dir, 0),
	F_STR("stop_signal", spec_service, stop_signal, 0),
	F_DUR("stop_grace_period", spec_service, stop_grace_period_ns),
	F_TRI("init", spec_service, init),
	F_TRI("read_only", spec_service, read_only),
	F_TRI("tty", spec_service, tty),
	F_STRS("dns", spec_service, dns),
	F_STRS("dns_search", spec_service, dns_search),
	F_STRV("extra_hosts", spec_service, extra_hosts),
	F_STRV("cap_add", spec_service, cap_add),
	F_STRV("cap_drop", spec_service, cap_drop),
	F_KV("sysctls", spec_service, sysctls, n_sysctls),
	F_FN("logging", f_logging, 0),
};

bool spec_decode_service(spec_ctx *c, const ynode *key, const ynode *n, void *item)
{
	spec_service *s = item;
	s->name = key->u.str;
	s->loc = spec_loc_of(c, key);
	s->stop_grace_period_ns = -1;
	s->init = s->read_only = s->tty = -1;
	spec_deploy *d = &s->deploy;
	d->replicas = -1;
	d->limit_nano_cpus = d->limit_memory = d->limit_pids = -1;
	d->reserve_nano_cpus = d->reserve_memory = -1;
	d->max_replicas_per_node = -1;
	bool ok = spec_check_name(c, key, NAME_SWARM_SERVICE, "service name", s->name);
	size_t before = spec_diags_errors(c->diags);
	if (!dec_compose_object(c, n, service_fields, NFIELDS(service_fields), s))
		return false;
	/* An autoscaled service starts at min; the swarm provider replaces it by the decision. */
	if (d->mode == SPEC_MODE_REPLICATED && d->replicas < 0)
		d->replicas = d->autoscale.present ? d->autoscale.min : 1;
	if (d->endpoint_mode && !strcmp(d->endpoint_mode, "dnsrr")) {
		for (size_t i = 0; i < s->n_ports; i++)
			if (s->ports[i].published && s->ports[i].mode == SPEC_PUBLISH_INGRESS) {
				spec_error_loc(c, s->ports[i].loc,
					       "port %d is published in ingress mode, which endpoint_mode: dnsrr does not allow (use mode: host)",
					       s->ports[i].published);
				ok = false;
			}
	}
	return ok && spec_diags_errors(c->diags) == before;
}
