/* The azure section: scale sets, file shares, container groups, Traffic Manager profiles. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec_internal.h"

/* ACI's per-container and per-group ceilings for a standard Linux or Windows group. */
#define ACI_MAX_CPU 4.0
#define ACI_MAX_MEMORY_GB 16.0
/* ACI allows 63 characters in a group name and a DNS label; a rollout's revisions append
 * "-<7 hex rev>" to both, which leaves 55 for what the spec writes. */
#define ACI_NAME_MAX 63
#define ROLLOUT_NAME_MAX (ACI_NAME_MAX - 8)

/* ---- endpoints ---- */

static bool is_loopback_host(const char *url)
{
	const char *h = url + strlen("http://");
	size_t len = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
	if (len == 9 && !strncmp(h, "localhost", 9))
		return true;
	if (len == 5 && !strncmp(h, "[::1]", 5))
		return true;
	/* 127.0.0.0/8, written as a dotted quad */
	if (len < 7 || len > 15 || strncmp(h, "127.", 4))
		return false;
	int dots = 0;
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)h[i]))
			return false;
	}
	return dots == 3;
}

static bool decode_url(spec_ctx *c, const ynode *v, const char **out)
{
	if (!dec_str(c, v, out))
		return false;
	if (!strncmp(*out, "https://", 8) && (*out)[8])
		return true;
	if (!strncmp(*out, "http://", 7) && is_loopback_host(*out))
		return true;
	if (!strncmp(*out, "http://", 7))
		spec_error_at(c, v, "plain http is only allowed for loopback addresses (got '%s')", *out);
	else
		spec_error_at(c, v, "expected an https:// URL, got '%s'", *out);
	return false;
}

static bool f_rm(spec_ctx *c, const ynode *v, void *o) { return decode_url(c, v, &((spec_azure *)o)->resource_manager_endpoint); }
static bool f_ad(spec_ctx *c, const ynode *v, void *o) { return decode_url(c, v, &((spec_azure *)o)->active_directory_endpoint); }

static bool f_endpoints(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_FN("resource_manager", f_rm, 0), F_FN("active_directory", f_ad, 0)};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static bool f_subscription(spec_ctx *c, const ynode *v, void *o)
{
	spec_azure *az = o;
	if (!dec_str(c, v, &az->subscription))
		return false;
	const char *s = az->subscription;
	bool ok = strlen(s) == 36;
	for (size_t i = 0; ok && i < 36; i++)
		ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : isxdigit((unsigned char)s[i]);
	if (!ok)
		spec_error_at(c, v, "'%s' is not a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)", s);
	return ok;
}
static bool f_resource_group(spec_ctx *c, const ynode *v, void *o)
{
	spec_azure *az = o;
	return dec_str(c, v, &az->resource_group) &&
	       spec_check_name(c, v, NAME_RESOURCE_GROUP, "resource group name", az->resource_group);
}
static bool f_location(spec_ctx *c, const ynode *v, void *o)
{
	spec_azure *az = o;
	return dec_str(c, v, &az->location) && spec_check_name(c, v, NAME_LOCATION, "location", az->location);
}

/* ---- scale sets ---- */

/* A duration that must be longer than 0: a wait of nothing would never let anything happen. */
static bool decode_positive_duration(spec_ctx *c, const ynode *v, int64_t *out_ns)
{
	if (!dec_duration(c, v, out_ns))
		return false;
	if (*out_ns <= 0) {
		spec_error_at(c, v, "must be longer than 0 (got %s)", v->u.str);
		return false;
	}
	return true;
}


#define SCALE_SET_WAIT_DEFAULT_NS (10 * 60 * 1000000000LL)

static const char *const node_roles[] = {"worker", "manager", NULL};

static bool f_ss_drain_timeout(spec_ctx *c, const ynode *v, void *o)
{
	return decode_positive_duration(c, v, &((spec_scale_set_swarm *)o)->drain_timeout_ns);
}
static bool f_ss_join_timeout(spec_ctx *c, const ynode *v, void *o)
{
	return decode_positive_duration(c, v, &((spec_scale_set_swarm *)o)->join_timeout_ns);
}

static bool f_ss_swarm(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_ENUM("role", spec_scale_set_swarm, role, node_roles),
		F_FN("drain_timeout", f_ss_drain_timeout, 0),
		F_FN("join_timeout", f_ss_join_timeout, 0),
	};
	spec_scale_set_swarm *sw = &((spec_scale_set *)o)->swarm;
	sw->present = true;
	sw->loc = spec_loc_of(c, v);
	sw->role = SPEC_NODE_WORKER;
	sw->drain_timeout_ns = SCALE_SET_WAIT_DEFAULT_NS;
	sw->join_timeout_ns = SCALE_SET_WAIT_DEFAULT_NS;
	return dec_object(c, v, f, NFIELDS(f), sw);
}

/* A percentage: 20, 20.5 or "20%", between 0 (exclusive) and 100. */
static bool f_ca_cpu_below(spec_ctx *c, const ynode *v, void *o)
{
	double *out = &((spec_cluster_autoscale *)o)->cpu_below;
	if (v && v->kind == YNODE_SCALAR && v->u.str[0] && v->u.str[strlen(v->u.str) - 1] == '%') {
		char *end;
		double pct = strtod(v->u.str, &end);
		if (end == v->u.str || *end != '%' || end[1] || !(pct > 0 && pct <= 100)) {
			spec_error_at(c, v, "expected a percentage above 0 and at most 100 like 20%%, got '%s'", v->u.str);
			return false;
		}
		*out = pct;
		return true;
	}
	if (!dec_num(c, v, 0, 100, out))
		return false;
	if (*out <= 0) {
		spec_error_at(c, v, "must be above 0: no node is ever below 0%% CPU");
		return false;
	}
	return true;
}

static bool f_ca_pending_for(spec_ctx *c, const ynode *v, void *o)
{
	return decode_positive_duration(c, v, &((spec_cluster_autoscale *)o)->pending_for_ns);
}
static bool f_ca_idle_for(spec_ctx *c, const ynode *v, void *o)
{
	return decode_positive_duration(c, v, &((spec_cluster_autoscale *)o)->idle_for_ns);
}

static bool f_ca_scale_out(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_FN("pending_tasks_for", f_ca_pending_for, 0)};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static bool f_ca_scale_in(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {F_FN("cpu_below", f_ca_cpu_below, 0), F_FN("for", f_ca_idle_for, 0)};
	return dec_object(c, v, f, NFIELDS(f), o);
}

#define CLUSTER_COOLDOWN_DEFAULT_NS (10 * 60 * 1000000000LL)
#define CLUSTER_PENDING_DEFAULT_NS (60 * 1000000000LL)

static bool f_ss_autoscale(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_INT("min", spec_cluster_autoscale, min, 0, 1000),
		F_INT("max", spec_cluster_autoscale, max, 0, 1000),
		F_DUR("cooldown", spec_cluster_autoscale, cooldown_ns),
		F_FN("scale_out", f_ca_scale_out, 0),
		F_FN("scale_in", f_ca_scale_in, 0),
	};
	spec_cluster_autoscale *a = &((spec_scale_set *)o)->autoscale;
	const ynode *key = c->depth > 0 && c->depth <= SPEC_PATH_MAX ? c->path[c->depth - 1].at : NULL;
	*a = (spec_cluster_autoscale){
		.present = true,
		.loc = spec_loc_of(c, key ? key : v),
		.min = 0,
		.max = -1,
		.cooldown_ns = CLUSTER_COOLDOWN_DEFAULT_NS,
		.pending_for_ns = CLUSTER_PENDING_DEFAULT_NS,
		.cpu_below = 20,
		.idle_for_ns = CLUSTER_COOLDOWN_DEFAULT_NS,
	};
	if (!dec_object(c, v, f, NFIELDS(f), a))
		return false;
	if (a->max < 0) {
		spec_error_at(c, key ? key : v, "missing required key 'max'");
		return false;
	}
	if (a->min > a->max) {
		spec_push_key(c, "min");
		spec_error_at(c, ymap_key(v, "min"), "min %lld is above max %lld", (long long)a->min, (long long)a->max);
		spec_pop(c);
		return false;
	}
	return true;
}

static bool decode_scale_set(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	static const field f[] = {F_INT("capacity", spec_scale_set, capacity, 0, 1000), F_FN("swarm", f_ss_swarm, 0),
				  F_FN("autoscale", f_ss_autoscale, 0)};
	spec_scale_set *ss = item;
	ss->name = key->u.str;
	ss->loc = spec_loc_of(c, key);
	ss->capacity = -1;
	bool ok = spec_check_name(c, key, NAME_SCALE_SET, "scale set name", ss->name);
	size_t before = spec_diags_errors(c->diags);
	dec_object(c, v, f, NFIELDS(f), ss);
	if (spec_diags_errors(c->diags) == before && v && v->kind == YNODE_MAP) {
		if (ss->autoscale.present && ss->capacity >= 0) {
			spec_push_key(c, "capacity");
			spec_error_at(c, ymap_key(v, "capacity"),
				      "cannot be set with autoscale: the autoscaler decides the capacity (between min %lld and "
				      "max %lld)",
				      (long long)ss->autoscale.min, (long long)ss->autoscale.max);
			spec_pop(c);
		} else if (ss->autoscale.present && !ss->swarm.present) {
			spec_push_key(c, "autoscale");
			spec_error_at(c, ymap_key(v, "autoscale"),
				      "needs a swarm block: the cluster autoscaler sizes a scale set by its swarm nodes' "
				      "pending tasks and load");
			spec_pop(c);
		} else if (!ss->autoscale.present && ss->capacity < 0) {
			spec_error_at(c, v, "missing required key 'capacity' (or autoscale)");
		}
	}
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- file shares ---- */

/* The enumerations below go to Azure, whose API compares them without regard to case (its SDKs
 * do too): they are matched in any case and kept in the spelling listed here (F_AZ_*). */
static const char *const access_tiers[] = {"TransactionOptimized", "Hot", "Cool", "Premium", NULL};

static bool f_storage_account(spec_ctx *c, const ynode *v, void *o)
{
	spec_file_share *fs = o;
	return dec_str(c, v, &fs->storage_account) &&
	       spec_check_name(c, v, NAME_STORAGE_ACCOUNT, "storage account name", fs->storage_account);
}

static const field share_fields[] = {
	F_FN("storage_account", f_storage_account, F_REQUIRED),
	F_INT("quota_gb", spec_file_share, quota_gb, 1, 102400),
	F_BOOL("protect", spec_file_share, protect),
	F_AZ_ENUMSTR("access_tier", spec_file_share, access_tier, access_tiers),
};

static bool decode_file_share(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_file_share *fs = item;
	fs->name = key->u.str;
	fs->loc = spec_loc_of(c, key);
	fs->quota_gb = -1;
	fs->protect = true;
	bool ok = spec_check_name(c, key, NAME_SHARE, "file share name", fs->name);
	size_t before = spec_diags_errors(c->diags);
	dec_object(c, v, share_fields, NFIELDS(share_fields), fs);
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- values shared by sections ---- */

/* An HTTP path to probe (a Traffic Manager monitor's, a rollout's own probe). */
static bool decode_http_path(spec_ctx *c, const ynode *v, const char **out)
{
	if (!dec_str(c, v, out))
		return false;
	if ((*out)[0] != '/') {
		spec_error_at(c, v, "must start with '/' (got '%s')", *out);
		return false;
	}
	return true;
}


/* ---- container groups ---- */

static const char *const os_values[] = {"linux", "windows", NULL};
static const char *const ip_values[] = {"none", "public", "private", NULL};
static const char *const restart_values[] = {"always", "on_failure", "never", NULL};

static bool decode_aci_ports(spec_ctx *c, const ynode *n, spec_aci_port **out, size_t *nout)
{
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	spec_aci_port *ports = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(*ports));
	size_t count = 0;
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *it = n->u.items[i];
		spec_push_index(c, i);
		spec_aci_port p = {.protocol = SPEC_PROTO_TCP, .loc = spec_loc_of(c, it)};
		bool good = false;
		if (it->kind == YNODE_SCALAR && !ynode_is_null(it)) {
			const char *s = it->u.str, *slash = strchr(s, '/');
			int64_t port = 0;
			size_t digits = slash ? (size_t)(slash - s) : strlen(s);
			good = digits > 0 && digits <= 5;
			for (size_t d = 0; good && d < digits; d++)
				good = isdigit((unsigned char)s[d]);
			for (size_t d = 0; good && d < digits; d++)
				port = port * 10 + (s[d] - '0');
			if (good && slash) {
				/* ACI's protocols are TCP and UDP, compared without case like every Azure enum. */
				if (!strcasecmp(slash + 1, "udp"))
					p.protocol = SPEC_PROTO_UDP;
				else if (strcasecmp(slash + 1, "tcp"))
					good = false;
			}
			if (!good)
				spec_error_at(c, it, "invalid port '%s': use PORT or PORT/tcp or PORT/udp", s);
			else if (port < 1 || port > 65535) {
				spec_error_at(c, it, "port must be between 1 and 65535 (got %lld)", (long long)port);
				good = false;
			}
			p.port = (int)port;
		} else {
			spec_error_at(c, it, "expected a port like 80 or 53/udp, got %s", ynode_kind_name(it));
		}
		if (good) {
			for (size_t j = 0; j < count; j++)
				if (ports[j].port == p.port && ports[j].protocol == p.protocol) {
					spec_error_at(c, it, "port %d/%s is listed twice", p.port,
						      p.protocol == SPEC_PROTO_UDP ? "udp" : "tcp");
					good = false;
				}
		}
		if (good)
			ports[count++] = p;
		ok &= good;
		spec_pop(c);
	}
	*out = ports;
	*nout = count;
	return ok;
}

static bool f_container_ports(spec_ctx *c, const ynode *v, void *o)
{
	spec_container *ct = o;
	return decode_aci_ports(c, v, &ct->ports, &ct->n_ports);
}
static bool f_group_ports(spec_ctx *c, const ynode *v, void *o)
{
	spec_container_group *g = o;
	return decode_aci_ports(c, v, &g->ports, &g->n_ports);
}

static bool f_cpu(spec_ctx *c, const ynode *v, void *o)
{
	spec_container *ct = o;
	if (!dec_num(c, v, 0.01, ACI_MAX_CPU, &ct->cpu))
		return false;
	if (fabs(ct->cpu * 100 - round(ct->cpu * 100)) > 1e-6) {
		spec_error_at(c, v, "must be a multiple of 0.01 (got %s)", v->u.str);
		return false;
	}
	return true;
}
static bool f_memory(spec_ctx *c, const ynode *v, void *o)
{
	spec_container *ct = o;
	if (!dec_num(c, v, 0.1, ACI_MAX_MEMORY_GB, &ct->memory_gb))
		return false;
	if (fabs(ct->memory_gb * 10 - round(ct->memory_gb * 10)) > 1e-6) {
		spec_error_at(c, v, "must be a multiple of 0.1 (got %s)", v->u.str);
		return false;
	}
	return true;
}

static bool f_secure_env(spec_ctx *c, const ynode *n, void *o)
{
	spec_container *ct = o;
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_map(c, n))
		return false;
	ct->secure_environment = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(spec_secure_env));
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		spec_secure_env *e = &ct->secure_environment[ct->n_secure_environment];
		if (!dec_str(c, k, &e->name)) {
			ok = false;
			continue;
		}
		spec_push_key(c, e->name);
		if (dec_secret_ref(c, v, &e->value))
			ct->n_secure_environment++;
		else
			ok = false;
		spec_pop(c);
	}
	return ok;
}

static bool f_volume_mounts(spec_ctx *c, const ynode *n, void *o)
{
	spec_container *ct = o;
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_map(c, n))
		return false;
	ct->volume_mounts = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(spec_volume_mount));
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		spec_volume_mount *m = &ct->volume_mounts[ct->n_volume_mounts];
		if (!dec_str(c, k, &m->volume)) {
			ok = false;
			continue;
		}
		m->loc = spec_loc_of(c, k);
		spec_push_key(c, m->volume);
		if (dec_str(c, v, &m->path)) {
			if (m->path[0] != '/' && !(isalpha((unsigned char)m->path[0]) && m->path[1] == ':')) {
				spec_error_at(c, v, "mount path '%s' must be absolute", m->path);
				ok = false;
			} else {
				ct->n_volume_mounts++;
			}
		} else {
			ok = false;
		}
		spec_pop(c);
	}
	return ok;
}

static bool f_container_env(spec_ctx *c, const ynode *n, void *o)
{
	spec_container *ct = o;
	/* The same rule as a swarm service's environment: "KEY:" or "- KEY" is inherited. */
	if (!dec_kv(c, n, KV_FROM_ENV, &ct->environment, &ct->n_environment))
		return false;
	bool ok = true;
	for (size_t i = 0; i < ct->n_environment; i++)
		if (!ct->environment[i].from_env && spec_looks_like_ref(ct->environment[i].value)) {
			spec_push_key(c, ct->environment[i].key);
			spec_error_loc(c, ct->environment[i].loc, "secret references belong in secure_environment");
			spec_pop(c);
			ok = false;
		}
	return ok;
}

static const field container_fields[] = {
	F_STR("image", spec_container, image, F_REQUIRED),
	F_FN("cpu", f_cpu, F_REQUIRED),
	F_FN("memory_gb", f_memory, F_REQUIRED),
	F_FN("ports", f_container_ports, 0),
	F_CMD("command", spec_container, command),
	F_FN("environment", f_container_env, 0),
	F_FN("secure_environment", f_secure_env, 0),
	F_FN("volume_mounts", f_volume_mounts, 0),
};

static bool decode_container(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_container *ct = item;
	ct->name = key->u.str;
	ct->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_AZURE_CONTAINER, "container name", ct->name);
	size_t before = spec_diags_errors(c->diags);
	dec_object(c, v, container_fields, NFIELDS(container_fields), ct);
	return ok && spec_diags_errors(c->diags) == before;
}

static bool f_containers(spec_ctx *c, const ynode *v, void *o)
{
	spec_container_group *g = o;
	return dec_named_map_arena(c, v, sizeof(spec_container), (void **)&g->containers, &g->n_containers, decode_container);
}

/* ---- container group volumes ---- */

typedef struct {
	spec_cg_volume *vol;
	int kinds;
} cgvol_build;

static bool cgvol_kind(spec_ctx *c, const ynode *v, cgvol_build *b, spec_cg_volume_kind kind)
{
	if (b->kinds++) {
		spec_error_at(c, v, "give exactly one of file_share, empty_dir and secret");
		return false;
	}
	b->vol->kind = kind;
	return true;
}
static bool f_cgvol_share(spec_ctx *c, const ynode *v, void *o)
{
	cgvol_build *b = o;
	b->vol->file_share_loc = spec_loc_of(c, v);
	return cgvol_kind(c, v, b, SPEC_CGVOL_FILE_SHARE) && dec_str(c, v, &b->vol->file_share);
}
static bool f_cgvol_empty(spec_ctx *c, const ynode *v, void *o)
{
	cgvol_build *b = o;
	if (!cgvol_kind(c, v, b, SPEC_CGVOL_EMPTY_DIR))
		return false;
	if (!ynode_is_null(v) && !(v->kind == YNODE_MAP && v->n == 0)) {
		spec_error_at(c, v, "empty_dir takes no options: write empty_dir: {}");
		return false;
	}
	return true;
}
static bool f_cgvol_secret(spec_ctx *c, const ynode *n, void *o)
{
	cgvol_build *b = o;
	if (!cgvol_kind(c, n, b, SPEC_CGVOL_SECRET))
		return false;
	/* "secret:" with no files is empty, like every list: then the rule below says what is wrong. */
	bool empty = ynode_is_null(n);
	if (!empty && !dec_expect_map(c, n))
		return false;
	size_t nfiles = empty ? 0 : n->n;
	spec_cg_volume *vol = b->vol;
	vol->secret_files = arena_calloc(c->mem, nfiles ? nfiles : 1, sizeof(spec_secret_file));
	bool ok = true;
	for (size_t i = 0; i < nfiles; i++) {
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		spec_secret_file *sf = &vol->secret_files[vol->n_secret_files];
		if (!dec_str(c, k, &sf->file_name)) {
			ok = false;
			continue;
		}
		spec_push_key(c, sf->file_name);
		if (strchr(sf->file_name, '/')) {
			spec_error_at(c, k, "secret file names cannot contain '/'");
			ok = false;
		} else if (dec_secret_ref(c, v, &sf->value)) {
			vol->n_secret_files++;
		} else {
			ok = false;
		}
		spec_pop(c);
	}
	if (ok && !vol->n_secret_files) {
		spec_error_at(c, n, "a secret volume needs at least one file");
		ok = false;
	}
	return ok;
}
static bool f_cgvol_ro(spec_ctx *c, const ynode *v, void *o)
{
	cgvol_build *b = o;
	return dec_bool(c, v, &b->vol->read_only);
}

static const field cgvol_fields[] = {
	F_FN("file_share", f_cgvol_share, 0),
	F_FN("empty_dir", f_cgvol_empty, 0),
	F_FN("secret", f_cgvol_secret, 0),
	F_FN("read_only", f_cgvol_ro, 0),
};

static bool decode_cg_volume(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_cg_volume *vol = item;
	vol->name = key->u.str;
	vol->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_CG_VOLUME, "volume name", vol->name);
	cgvol_build b = {.vol = vol};
	size_t before = spec_diags_errors(c->diags);
	dec_object(c, v, cgvol_fields, NFIELDS(cgvol_fields), &b);
	if (!b.kinds && spec_diags_errors(c->diags) == before && v && v->kind == YNODE_MAP) {
		spec_error_at(c, v, "give one of file_share, empty_dir and secret");
		ok = false;
	}
	return ok && spec_diags_errors(c->diags) == before;
}

static bool f_cg_volumes(spec_ctx *c, const ynode *v, void *o)
{
	spec_container_group *g = o;
	return dec_named_map_arena(c, v, sizeof(spec_cg_volume), (void **)&g->volumes, &g->n_volumes, decode_cg_volume);
}

static bool f_dns_label(spec_ctx *c, const ynode *v, void *o)
{
	spec_container_group *g = o;
	return dec_str(c, v, &g->dns_label) && spec_check_name(c, v, NAME_DNS_LABEL, "DNS label", g->dns_label);
}

/* ---- rollouts (issue 9) ---- */

/* What the new revision's endpoint must show in Traffic Manager; "none" turns the gate off. An
 * endpoint status is Azure's, so both are matched in any case, like Azure's enumerations. */
static const char *const monitor_gates[] = {"Online", "none", NULL};

static bool f_ro_traffic_manager(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	r->traffic_manager_loc = spec_loc_of(c, v);
	return dec_str(c, v, &r->traffic_manager);
}

static bool f_ro_pause(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	r->pause_loc = spec_loc_of(c, v);
	return dec_duration(c, v, &r->pause_ns);
}

static bool f_ro_timeout(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	return decode_positive_duration(c, v, &r->timeout_ns);
}

static bool f_step_pause(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout_step *st = o;
	st->pause_loc = spec_loc_of(c, v);
	return dec_duration(c, v, &st->pause_ns);
}

static const field step_fields[] = {
	{.key = "weight", .kind = FK_INT, .off = offsetof(spec_rollout_step, weight), .min = 1, .max = 100, .flags = F_REQUIRED},
	F_FN("pause", f_step_pause, 0),
};

/* Each step is a weight (10) or a mapping with its own pause ({weight: 10, pause: 5m}). */
static bool f_ro_steps(spec_ctx *c, const ynode *n, void *o)
{
	spec_rollout *r = o;
	/* "steps:" with no value is empty, like every list: then the rule below says what is wrong. */
	bool empty = ynode_is_null(n);
	if (!empty && !dec_expect_seq(c, n))
		return false;
	size_t count = empty ? 0 : n->n;
	r->steps = arena_calloc(c->mem, count ? count : 1, sizeof(*r->steps));
	bool ok = true;
	int64_t last = -1; /* the last step's weight, when it could be read */
	for (size_t i = 0; i < count; i++) {
		const ynode *it = n->u.items[i];
		spec_push_index(c, i);
		spec_rollout_step st = {.weight = -1, .pause_ns = -1, .loc = spec_loc_of(c, it)};
		size_t before = spec_diags_errors(c->diags);
		if (it->kind == YNODE_MAP)
			dec_object(c, it, step_fields, NFIELDS(step_fields), &st);
		else
			dec_int(c, it, 1, 100, &st.weight);
		bool good = spec_diags_errors(c->diags) == before && st.weight > 0;
		last = i == count - 1 && good ? st.weight : last;
		if (good && r->n_steps && st.weight <= r->steps[r->n_steps - 1].weight) {
			spec_error_at(c, it, "weight %lld is not above the step before it (%lld): the weights must increase",
				      (long long)st.weight, (long long)r->steps[r->n_steps - 1].weight);
			good = false;
		}
		if (good)
			r->steps[r->n_steps++] = st;
		ok &= good;
		spec_pop(c);
	}
	if (!count) {
		spec_error_at(c, n, "a rollout needs at least one step (the last one 100)");
		return false;
	}
	if (last >= 0 && last != 100) {
		spec_push_index(c, count - 1);
		spec_error_at(c, n->u.items[count - 1],
			      "the last step must be 100 (got %lld): a rollout ends with all traffic on the new revision",
			      (long long)last);
		spec_pop(c);
		ok = false;
	}
	return ok;
}

static bool f_health_monitor(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	int i;
	if (!dec_enum(c, v, monitor_gates, true, &i))
		return false;
	r->monitor = i == 0 ? monitor_gates[0] : NULL; /* NULL: no monitor gate */
	return true;
}

static bool f_probe_path(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	return decode_http_path(c, v, &r->probe_path);
}

static bool f_probe_interval(spec_ctx *c, const ynode *v, void *o)
{
	spec_rollout *r = o;
	return decode_positive_duration(c, v, &r->probe_interval_ns);
}

static bool f_health_probe(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_FN("path", f_probe_path, 0),
		F_INT("port", spec_rollout, probe_port, 1, 65535),
		F_INT("expect", spec_rollout, probe_expect, 100, 599),
		F_FN("interval", f_probe_interval, 0),
	};
	spec_rollout *r = o;
	/* Not a mapping is reported here; no probe then, so no port of it is checked either. */
	if (!dec_object(c, v, f, NFIELDS(f), r))
		return false;
	r->probe = true;
	return true;
}

static bool f_ro_health(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_FN("monitor", f_health_monitor, 0),
		F_FN("probe", f_health_probe, 0),
		F_INT("max_restarts", spec_rollout, max_restarts, 0, INT64_MAX),
	};
	return dec_object(c, v, f, NFIELDS(f), o);
}

static const field rollout_fields[] = {
	F_FN("traffic_manager", f_ro_traffic_manager, F_REQUIRED),
	F_FN("steps", f_ro_steps, F_REQUIRED),
	F_FN("pause", f_ro_pause, 0),
	F_FN("health", f_ro_health, 0),
	F_FN("timeout", f_ro_timeout, 0),
};

static bool f_rollout(spec_ctx *c, const ynode *v, void *o)
{
	spec_container_group *g = o;
	/* Errors about the rollout as a whole point at its key, as "missing required key" does. */
	const ynode *key = c->depth > 0 && c->depth <= SPEC_PATH_MAX ? c->path[c->depth - 1].at : NULL;
	g->rollout = (spec_rollout){
		.present = true,
		.loc = spec_loc_of(c, key ? key : v),
		.pause_ns = -1,
		.monitor = monitor_gates[0],
		.probe_path = "/",
		.probe_port = 80,
		.probe_expect = 200,
		.probe_interval_ns = 10 * 1000000000LL,
		.max_restarts = 0,
		.timeout_ns = 15 * 60 * 1000000000LL,
	};
	return dec_object(c, v, rollout_fields, NFIELDS(rollout_fields), &g->rollout);
}

static const field group_fields[] = {
	F_AZ_ENUM("os", spec_container_group, os, os_values),
	F_AZ_ENUM("ip", spec_container_group, ip, ip_values),
	F_FN("dns_label", f_dns_label, 0),
	F_FN("ports", f_group_ports, 0),
	F_AZ_ENUM("restart_policy", spec_container_group, restart_policy, restart_values),
	F_FN("containers", f_containers, F_REQUIRED),
	F_FN("volumes", f_cg_volumes, 0),
	F_FN("rollout", f_rollout, 0),
};

static const char *proto_name(spec_proto p)
{
	return p == SPEC_PROTO_UDP ? "udp" : "tcp";
}

/* A rollout's rules that need only its group (those that need the profile are in validate.c):
 * the revisions' names and FQDNs, and the port berth probes them on. */
static void check_rollout(spec_ctx *c, const ynode *n, const spec_container_group *g)
{
	const spec_rollout *r = &g->rollout;
	if (strlen(g->name) > ROLLOUT_NAME_MAX)
		spec_error_loc(c, g->loc,
			       "a rolled-out group's name is at most %d characters (got %zu): its revisions are named "
			       "'%s-<7 hex rev>' and ACI allows %d",
			       ROLLOUT_NAME_MAX, strlen(g->name), g->name, ACI_NAME_MAX);
	if (g->dns_label && strlen(g->dns_label) > ROLLOUT_NAME_MAX)
		spec_error_at(c, ymap_key(n, "dns_label"),
			      "a rolled-out group's dns_label is at most %d characters (got %zu): its revisions' labels are "
			      "'%s-<7 hex rev>' and ACI allows %d",
			      ROLLOUT_NAME_MAX, strlen(g->dns_label), g->dns_label, ACI_NAME_MAX);
	spec_push_key(c, "rollout");
	if (g->ip != SPEC_IP_PUBLIC || !g->dns_label) {
		const char *needs = g->ip == SPEC_IP_PUBLIC ? "a dns_label"
				    : g->dns_label        ? "ip: public"
							  : "ip: public and a dns_label";
		spec_error_loc(c, r->loc,
			       "a rollout needs %s: Traffic Manager routes to each revision at its own public FQDN "
			       "(<dns_label>-<rev>)",
			       needs);
	}
	if (r->probe && g->n_ports) {
		char list[256];
		size_t len = 0;
		bool found = false;
		list[0] = '\0';
		for (size_t p = 0; p < g->n_ports; p++) {
			if (g->ports[p].protocol != SPEC_PROTO_TCP)
				continue;
			found |= g->ports[p].port == r->probe_port;
			if (len < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", len ? ", " : "", g->ports[p].port);
		}
		if (!found) {
			/* An HTTP probe goes to a TCP port of the group's address. */
			const ynode *probe = ymap_value(ymap_value(ymap_value(n, "rollout"), "health"), "probe");
			const ynode *port = ymap_value(probe, "port");
			spec_push_key(c, "health");
			spec_push_key(c, "probe");
			if (port)
				spec_push_key(c, "port");
			spec_error_at(c, port ? port : probe, "%sport %lld is not a TCP port of the group (%s)", port ? "" : "the default ",
				      (long long)r->probe_port, len ? list : "it has none");
			if (port)
				spec_pop(c);
			spec_pop(c);
			spec_pop(c);
		}
	}
	spec_pop(c);
}

/* Rules that span the group's fields. */
static void check_group(spec_ctx *c, const ynode *n, spec_container_group *g)
{
	double cpu = 0, mem = 0;
	for (size_t i = 0; i < g->n_containers; i++) {
		cpu += g->containers[i].cpu;
		mem += g->containers[i].memory_gb;
	}
	if (cpu > ACI_MAX_CPU + 1e-9)
		spec_error_at(c, n, "containers request %g CPUs in total; a container group allows at most %g", cpu, ACI_MAX_CPU);
	if (mem > ACI_MAX_MEMORY_GB + 1e-9)
		spec_error_at(c, n, "containers request %g GB of memory in total; a container group allows at most %g", mem,
			      ACI_MAX_MEMORY_GB);
	if (g->n_containers == 0 && ymap_key(n, "containers") != n)
		spec_error_at(c, ymap_key(n, "containers"), "a container group needs at least one container");
	/* Containers of a group share one network namespace. */
	for (size_t i = 0; i < g->n_containers; i++)
		for (size_t p = 0; p < g->containers[i].n_ports; p++) {
			const spec_aci_port *a = &g->containers[i].ports[p];
			for (size_t j = 0; j < i; j++)
				for (size_t q = 0; q < g->containers[j].n_ports; q++) {
					const spec_aci_port *b = &g->containers[j].ports[q];
					if (a->port == b->port && a->protocol == b->protocol)
						spec_error_loc(c, a->loc, "port %d/%s is already used by container '%s'", a->port,
							       proto_name(a->protocol), g->containers[j].name);
				}
		}
	if (g->dns_label && g->ip != SPEC_IP_PUBLIC)
		spec_error_at(c, ymap_key(n, "dns_label"), "dns_label needs ip: public");
	if (g->n_ports && g->ip == SPEC_IP_NONE)
		spec_error_at(c, ymap_key(n, "ports"), "ports need ip: public or ip: private");
	for (size_t p = 0; p < g->n_ports; p++) {
		bool exposed = false;
		for (size_t i = 0; i < g->n_containers && !exposed; i++)
			for (size_t q = 0; q < g->containers[i].n_ports; q++)
				if (g->containers[i].ports[q].port == g->ports[p].port &&
				    g->containers[i].ports[q].protocol == g->ports[p].protocol)
					exposed = true;
		if (!exposed)
			spec_error_loc(c, g->ports[p].loc, "port %d/%s is not exposed by any container", g->ports[p].port,
				       proto_name(g->ports[p].protocol));
	}
	if (g->ip != SPEC_IP_NONE && !g->n_ports) {
		/* The group's address exposes every container port unless told otherwise. */
		size_t total = 0;
		for (size_t i = 0; i < g->n_containers; i++)
			total += g->containers[i].n_ports;
		if (!total)
			spec_error_at(c, n, "ip: %s needs at least one container port", g->ip == SPEC_IP_PUBLIC ? "public" : "private");
		g->ports = arena_calloc(c->mem, total ? total : 1, sizeof(spec_aci_port));
		for (size_t i = 0; i < g->n_containers; i++)
			for (size_t q = 0; q < g->containers[i].n_ports; q++)
				g->ports[g->n_ports++] = g->containers[i].ports[q];
	}
	for (size_t v = 0; v < g->n_volumes; v++)
		if (g->os == SPEC_OS_WINDOWS && g->volumes[v].kind == SPEC_CGVOL_FILE_SHARE)
			spec_error_loc(c, g->volumes[v].loc, "Azure File volumes are not supported in windows container groups");
	for (size_t i = 0; i < g->n_containers; i++)
		for (size_t m = 0; m < g->containers[i].n_volume_mounts; m++) {
			const spec_volume_mount *vm = &g->containers[i].volume_mounts[m];
			bool found = false;
			const char *names[64];
			size_t nn = 0;
			for (size_t v = 0; v < g->n_volumes; v++) {
				if (!strcmp(g->volumes[v].name, vm->volume))
					found = true;
				if (nn < 64)
					names[nn++] = g->volumes[v].name;
			}
			if (!found) {
				const char *hint = spec_did_you_mean(vm->volume, names, nn);
				spec_error_loc(c, vm->loc, "container '%s' mounts volume '%s', which is not defined in this group's volumes%s%s%s",
					       g->containers[i].name, vm->volume, hint ? "; did you mean '" : "", hint ? hint : "",
					       hint ? "'?" : "");
			}
		}
	if (g->rollout.present)
		check_rollout(c, n, g);
}

static bool decode_container_group(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_container_group *g = item;
	g->name = key->u.str;
	g->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_AZURE_GROUP, "container group name", g->name);
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, v, group_fields, NFIELDS(group_fields), g))
		return false;
	check_group(c, v, g);
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- Traffic Manager ---- */

static const char *const routing_values[] = {"weighted", NULL};
static const char *const monitor_protocols[] = {"HTTP", "HTTPS", "TCP", NULL};

static bool f_ep_group(spec_ctx *c, const ynode *v, void *o)
{
	spec_tm_endpoint *e = o;
	e->container_group_loc = spec_loc_of(c, v);
	return dec_str(c, v, &e->container_group);
}

static const field endpoint_fields[] = {
	F_FN("container_group", f_ep_group, 0),
	F_STR("target", spec_tm_endpoint, target, 0),
	F_INT("weight", spec_tm_endpoint, weight, 1, 1000),
	F_BOOL("enabled", spec_tm_endpoint, enabled),
};

static bool decode_endpoint(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_tm_endpoint *e = item;
	e->name = key->u.str;
	e->loc = spec_loc_of(c, key);
	e->weight = 1;
	e->enabled = true;
	bool ok = spec_check_name(c, key, NAME_TM_ENDPOINT, "endpoint name", e->name);
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, v, endpoint_fields, NFIELDS(endpoint_fields), e))
		return false;
	if (spec_diags_errors(c->diags) == before && !e->container_group == !e->target)
		spec_error_at(c, v, "give exactly one of container_group and target");
	return ok && spec_diags_errors(c->diags) == before;
}

static bool f_monitor_path(spec_ctx *c, const ynode *v, void *o)
{
	spec_traffic_manager *tm = o;
	return decode_http_path(c, v, &tm->monitor_path);
}

/* Traffic Manager probes every 30 s, or every 10 s ("fast" probing); nothing else. */
static bool f_monitor_interval(spec_ctx *c, const ynode *v, void *o)
{
	spec_traffic_manager *tm = o;
	if (!dec_int(c, v, INT64_MIN, INT64_MAX, &tm->monitor_interval))
		return false;
	if (tm->monitor_interval != 10 && tm->monitor_interval != 30) {
		spec_error_at(c, v, "must be 10 or 30 (got %s)", v->u.str);
		return false;
	}
	return true;
}

static bool f_monitor(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_AZ_ENUM("protocol", spec_traffic_manager, monitor_protocol, monitor_protocols),
		F_INT("port", spec_traffic_manager, monitor_port, 1, 65535),
		F_FN("path", f_monitor_path, 0),
		F_FN("interval", f_monitor_interval, 0),
		F_INT("timeout", spec_traffic_manager, monitor_timeout, 5, 10),
		F_INT("tolerated_failures", spec_traffic_manager, monitor_tolerated_failures, 0, 9),
	};
	spec_traffic_manager *tm = o;
	if (!dec_object(c, v, f, NFIELDS(f), tm))
		return false;
	if (tm->monitor_protocol == SPEC_MONITOR_TCP && tm->monitor_path) {
		spec_error_at(c, v, "a TCP monitor has no path");
		return false;
	}
	if (tm->monitor_interval > 0 && tm->monitor_timeout > 0 && tm->monitor_timeout >= tm->monitor_interval) {
		spec_error_at(c, v, "timeout must be shorter than interval");
		return false;
	}
	return true;
}

static bool f_tm_endpoints(spec_ctx *c, const ynode *v, void *o)
{
	spec_traffic_manager *tm = o;
	return dec_named_map_arena(c, v, sizeof(spec_tm_endpoint), (void **)&tm->endpoints, &tm->n_endpoints, decode_endpoint);
}

static bool f_tm_dns_name(spec_ctx *c, const ynode *v, void *o)
{
	spec_traffic_manager *tm = o;
	return dec_str(c, v, &tm->dns_name) && spec_check_name(c, v, NAME_TM_PROFILE, "DNS name", tm->dns_name);
}

static const field tm_fields[] = {
	F_AZ_ENUMSTR("routing", spec_traffic_manager, routing, routing_values),
	F_FN("dns_name", f_tm_dns_name, 0),
	F_INT("ttl", spec_traffic_manager, ttl, 0, 2147483647),
	F_FN("monitor", f_monitor, 0),
	F_FN("endpoints", f_tm_endpoints, 0),
};

static bool decode_traffic_manager(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_traffic_manager *tm = item;
	tm->name = key->u.str;
	tm->loc = spec_loc_of(c, key);
	tm->ttl = 30;
	tm->monitor_port = -1;
	tm->monitor_interval = tm->monitor_timeout = tm->monitor_tolerated_failures = -1;
	bool ok = spec_check_name(c, key, NAME_TM_PROFILE, "Traffic Manager profile name", tm->name);
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, v, tm_fields, NFIELDS(tm_fields), tm))
		return false;
	if (!tm->routing)
		tm->routing = "weighted";
	if (!tm->dns_name)
		tm->dns_name = tm->name;
	if (tm->monitor_port < 0)
		tm->monitor_port = tm->monitor_protocol == SPEC_MONITOR_HTTPS ? 443 : 80;
	if (!tm->monitor_path && tm->monitor_protocol != SPEC_MONITOR_TCP)
		tm->monitor_path = "/";
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- the section ---- */

NAMED_MAP_FIELD(f_scale_sets, spec_azure, scale_sets, n_scale_sets, decode_scale_set, spec_scale_set)
NAMED_MAP_FIELD(f_file_shares, spec_azure, file_shares, n_file_shares, decode_file_share, spec_file_share)
NAMED_MAP_FIELD(f_container_groups, spec_azure, container_groups, n_container_groups, decode_container_group, spec_container_group)
NAMED_MAP_FIELD(f_traffic_manager, spec_azure, traffic_managers, n_traffic_managers, decode_traffic_manager, spec_traffic_manager)

static const field azure_fields[] = {
	F_FN("subscription", f_subscription, F_SETTING),
	F_FN("resource_group", f_resource_group, F_SETTING),
	F_FN("location", f_location, F_SETTING),
	F_FN("endpoints", f_endpoints, F_SETTING),
	F_FN("scale_sets", f_scale_sets, 0),
	F_FN("file_shares", f_file_shares, 0),
	F_FN("container_groups", f_container_groups, 0),
	F_FN("traffic_manager", f_traffic_manager, 0),
};

bool spec_decode_azure(spec_ctx *c, const ynode *n, spec_azure *az)
{
	az->present = true;
	if (ynode_is_null(n))
		return true;
	return dec_object(c, n, azure_fields, NFIELDS(azure_fields), az);
}
