/* The swarm section: engine endpoint, expected nodes, networks, secrets, configs, volumes, services. */
#include <string.h>

#include "spec_internal.h"

static bool f_endpoint(spec_ctx *c, const ynode *v, void *o)
{
	spec_swarm *sw = o;
	if (!dec_str(c, v, &sw->endpoint))
		return false;
	/* The scheme only: the Docker client checks the rest when it connects (ssh:// URLs, their
	 * user, port and path included, in controller/transport/docker_ssh.c). */
	if (strncmp(sw->endpoint, "unix://", 7) && strncmp(sw->endpoint, "tcp://", 6) &&
	    strncmp(sw->endpoint, "ssh://", 6)) {
		spec_error_at(c, v, "unsupported endpoint '%s': use unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]",
			      sw->endpoint);
		return false;
	}
	return true;
}

static bool f_tls(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_STR("ca", spec_swarm, tls_ca, 0),
		F_STR("cert", spec_swarm, tls_cert, 0),
		F_STR("key", spec_swarm, tls_key, 0),
	};
	spec_swarm *sw = o;
	if (!dec_object(c, v, f, NFIELDS(f), o))
		return false;
	if (!sw->tls_cert != !sw->tls_key) {
		spec_error_at(c, v, "cert and key must be given together");
		return false;
	}
	/* Paths are relative to the spec file, like every other path in it. */
	const char **paths[] = {&sw->tls_ca, &sw->tls_cert, &sw->tls_key};
	for (size_t i = 0; i < 3; i++)
		if (*paths[i] && (*paths[i])[0] != '/' && c->dir && strcmp(c->dir, "."))
			*paths[i] = arena_printf(c->mem, "%s/%s", c->dir, *paths[i]);
	return true;
}

static bool f_nodes(spec_ctx *c, const ynode *v, void *o)
{
	static const field f[] = {
		F_INT("managers", spec_swarm, managers, 1, 7),
		F_INT("workers", spec_swarm, workers, 0, 10000),
	};
	return dec_object(c, v, f, NFIELDS(f), o);
}

/* "local" (the default), or hostname -> tcp://HOST:PORT: where each node's engine serves its
 * tasks' container stats (autoscaling). A manager's engine only knows its own containers. */
static bool f_engines(spec_ctx *c, const ynode *v, void *o)
{
	spec_swarm *sw = o;
	if (v && v->kind == YNODE_SCALAR) {
		if (!strcmp(v->u.str, "local"))
			return true;
		spec_error_at(c, v, "must be 'local' or a mapping of node hostname to tcp://HOST:PORT");
		return false;
	}
	if (!dec_kv(c, v, KV_EMPTY, &sw->engines, &sw->n_engines))
		return false;
	bool ok = true;
	for (size_t i = 0; i < sw->n_engines; i++)
		if (strncmp(sw->engines[i].value, "tcp://", 6)) {
			spec_push_key(c, sw->engines[i].key);
			spec_error_loc(c, sw->engines[i].loc, "unsupported engine endpoint '%s': use tcp://HOST:PORT (with swarm.tls)",
				       sw->engines[i].value);
			spec_pop(c);
			ok = false;
		}
	return ok;
}

/* ---- networks ---- */

static bool f_net_external(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	spec_error_at(c, v, "external networks are not managed by berth; leave them out of the spec");
	return false;
}

static const field network_fields[] = {
	F_STR("driver", spec_network, driver, 0),
	F_BOOL("attachable", spec_network, attachable),
	F_BOOL("internal", spec_network, internal),
	F_KV("labels", spec_network, labels, n_labels),
	F_KV("driver_opts", spec_network, driver_opts, n_driver_opts),
	F_FN("external", f_net_external, 0),
};

static bool decode_network(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_network *n = item;
	n->name = key->u.str;
	n->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_SWARM_OBJECT, "network name", n->name);
	size_t before = spec_diags_errors(c->diags);
	if (!ynode_is_null(v))
		dec_object(c, v, network_fields, NFIELDS(network_fields), n);
	if (!n->driver)
		n->driver = "overlay";
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- secrets ---- */

typedef struct {
	spec_swarm_secret *s;
	const ynode *first;
	int sources;
} secret_build;

static bool secret_source(spec_ctx *c, const ynode *v, secret_build *b)
{
	if (b->sources++) {
		spec_error_at(c, v, "give exactly one of value, file and environment");
		return false;
	}
	return true;
}

static bool f_secret_value(spec_ctx *c, const ynode *v, void *o)
{
	secret_build *b = o;
	return secret_source(c, v, b) && dec_secret_ref(c, v, &b->s->value);
}
static bool f_secret_file(spec_ctx *c, const ynode *v, void *o)
{
	secret_build *b = o;
	const char *path;
	if (!secret_source(c, v, b) || !dec_str(c, v, &path))
		return false;
	b->s->value.kind = SPEC_REF_FILE;
	b->s->value.name = path[0] == '/' || !c->dir || !strcmp(c->dir, ".") ? path : arena_printf(c->mem, "%s/%s", c->dir, path);
	b->s->value.loc = spec_loc_of(c, v);
	return true;
}
static bool f_secret_env(spec_ctx *c, const ynode *v, void *o)
{
	secret_build *b = o;
	if (!secret_source(c, v, b) || !dec_str(c, v, &b->s->value.name))
		return false;
	if (!spec_valid_env_name(b->s->value.name, strlen(b->s->value.name))) {
		spec_error_at(c, v, "'%s' is not a valid environment variable name", b->s->value.name);
		return false;
	}
	b->s->value.kind = SPEC_REF_ENV;
	b->s->value.loc = spec_loc_of(c, v);
	return true;
}
static bool f_secret_labels(spec_ctx *c, const ynode *v, void *o)
{
	secret_build *b = o;
	return dec_kv(c, v, KV_EMPTY, &b->s->labels, &b->s->n_labels);
}
static bool f_not_managed(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	spec_error_at(c, v, "external objects are not managed by berth; leave them out of the spec");
	return false;
}

static const field secret_fields[] = {
	F_FN("value", f_secret_value, 0),
	F_FN("file", f_secret_file, 0),
	F_FN("environment", f_secret_env, 0),
	F_FN("labels", f_secret_labels, 0),
	F_FN("external", f_not_managed, 0),
};

static bool decode_secret(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_swarm_secret *s = item;
	s->name = key->u.str;
	s->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_SWARM_SECRET, "secret name", s->name);
	secret_build b = {.s = s};
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, v, secret_fields, NFIELDS(secret_fields), &b))
		return false;
	if (!b.sources && spec_diags_errors(c->diags) == before) {
		spec_error_at(c, key, "missing value: give value: ${env:NAME} or value: ${file:PATH}");
		return false;
	}
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- configs ---- */

static bool f_config_content(spec_ctx *c, const ynode *v, void *o)
{
	spec_config *cf = o;
	if (cf->file) {
		spec_error_at(c, v, "give either content or file, not both");
		return false;
	}
	if (v && v->kind == YNODE_SCALAR && v->quoted && v->n == 0) {
		cf->content = ""; /* an empty config is legitimate */
		return true;
	}
	return dec_str(c, v, &cf->content);
}
static bool f_config_file(spec_ctx *c, const ynode *v, void *o)
{
	spec_config *cf = o;
	if (cf->content) {
		spec_error_at(c, v, "give either content or file, not both");
		return false;
	}
	if (!dec_str(c, v, &cf->file))
		return false;
	cf->file_loc = spec_loc_of(c, v);
	if (cf->file[0] != '/' && c->dir && strcmp(c->dir, "."))
		cf->file = arena_printf(c->mem, "%s/%s", c->dir, cf->file);
	return true;
}

static const field config_fields[] = {
	F_FN("content", f_config_content, 0),
	F_FN("file", f_config_file, 0),
	F_KV("labels", spec_config, labels, n_labels),
	F_FN("external", f_not_managed, 0),
};

static bool decode_config(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_config *cf = item;
	cf->name = key->u.str;
	cf->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_SWARM_SECRET, "config name", cf->name);
	size_t before = spec_diags_errors(c->diags);
	if (!dec_object(c, v, config_fields, NFIELDS(config_fields), cf))
		return false;
	if (!cf->content && !cf->file && spec_diags_errors(c->diags) == before) {
		spec_error_at(c, key, "missing content: give content or file");
		return false;
	}
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- volumes ---- */

static bool f_volume_share(spec_ctx *c, const ynode *v, void *o)
{
	spec_volume *vol = o;
	vol->file_share_loc = spec_loc_of(c, v);
	return dec_str(c, v, &vol->file_share);
}

static const field volume_fields[] = {
	F_STR("driver", spec_volume, driver, 0),
	F_KV("driver_opts", spec_volume, driver_opts, n_driver_opts),
	F_KV("labels", spec_volume, labels, n_labels),
	F_FN("file_share", f_volume_share, 0),
	F_FN("external", f_not_managed, 0),
};

static bool decode_volume(spec_ctx *c, const ynode *key, const ynode *v, void *item)
{
	spec_volume *vol = item;
	vol->name = key->u.str;
	vol->loc = spec_loc_of(c, key);
	bool ok = spec_check_name(c, key, NAME_SWARM_OBJECT, "volume name", vol->name);
	size_t before = spec_diags_errors(c->diags);
	if (!ynode_is_null(v))
		dec_object(c, v, volume_fields, NFIELDS(volume_fields), vol);
	if (vol->file_share && (vol->driver || vol->n_driver_opts)) {
		spec_error_at(c, key, "a file_share volume sets its own driver and driver_opts");
		ok = false;
	}
	if (!vol->driver)
		vol->driver = "local";
	return ok && spec_diags_errors(c->diags) == before;
}

/* ---- the section ---- */

NAMED_MAP_FIELD(f_networks, spec_swarm, networks, n_networks, decode_network, spec_network)
NAMED_MAP_FIELD(f_secrets, spec_swarm, secrets, n_secrets, decode_secret, spec_swarm_secret)
NAMED_MAP_FIELD(f_configs, spec_swarm, configs, n_configs, decode_config, spec_config)
NAMED_MAP_FIELD(f_volumes, spec_swarm, volumes, n_volumes, decode_volume, spec_volume)

/* x- names are skipped in every named map (a place for anchors), but under services that is a
 * trap: Compose does not treat them as extensions there, so docker stack deploy would deploy
 * "x-ray" while berth would silently not. Say so. */
static bool f_services(spec_ctx *c, const ynode *v, void *o)
{
	spec_swarm *sw = o;
	for (size_t i = 0; v && v->kind == YNODE_MAP && i < v->n; i++) {
		const ynode *k = v->u.pairs[2 * i];
		if (k->kind != YNODE_SCALAR || strncmp(k->u.str, "x-", 2))
			continue;
		spec_push_key(c, k->u.str);
		spec_warn_at(c, k,
			     "not deployed: a name starting with 'x-' is an extension field, not a service (docker stack "
			     "deploy would deploy it); rename it, or keep shared fragments in a top-level x- key");
		spec_pop(c);
	}
	return dec_named_map(c, v, sizeof(spec_service), (void **)&sw->services, &sw->n_services, spec_decode_service);
}

static const field swarm_fields[] = {
	F_FN("endpoint", f_endpoint, F_SETTING),
	F_FN("tls", f_tls, F_SETTING),
	F_FN("nodes", f_nodes, F_SETTING),
	F_FN("engines", f_engines, F_SETTING),
	F_FN("networks", f_networks, 0),
	F_FN("secrets", f_secrets, 0),
	F_FN("configs", f_configs, 0),
	F_FN("volumes", f_volumes, 0),
	F_FN("services", f_services, 0),
};

bool spec_decode_swarm(spec_ctx *c, const ynode *n, spec_swarm *sw)
{
	sw->present = true;
	if (ynode_is_null(n))
		return true;
	return dec_object(c, n, swarm_fields, NFIELDS(swarm_fields), sw);
}
