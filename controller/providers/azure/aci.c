/* The container-group provider (Azure Container Instances): observe with one list call per
 * resource group, diff a normalised view of desired vs observed, apply with PUT (create, update
 * in place) or DELETE then PUT (replace), then wait for the containers to run.
 *
 * What Azure never returns (secureValue, the storage account key, secret volume contents) is
 * compared through the berth-secure-hash tag: a SHA-256 over every secure value of the group,
 * names included, read at plan time. The values themselves are read again at apply time and put
 * only in the request body: never in the plan, never in a message. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/evp.h>

#include "providers/azure/azure.h"
#include "providers/azure/azure_step.h"
#include "core/secret.h"

/* How long a created or updated group may take to have its containers running. */
#define ACI_RUN_TIMEOUT_S 600
#define ACI_RUN_POLL_S 2

char *azure_container_group_path(const struct spec_model *m, const char *name)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerInstance/containerGroups%s%s",
			 m->azure.subscription, m->azure.resource_group, name ? "/" : "", name ? name : "");
}

int aci_observe(arm *a, const struct spec_model *m, json_t **out, char **err)
{
	char *path = azure_container_group_path(m, NULL);
	int rc = arm_list(a, path, ARM_API_CONTAINER_INSTANCE, out, err);
	free(path);
	if (rc == 0) {
		/* Per-poll details that change by themselves are not part of what berth compares. */
		size_t i;
		json_t *g;
		json_array_foreach(*out, i, g)
			json_object_del(json_object_get(g, "properties"), "instanceView");
	}
	return rc;
}

static const spec_container_group *find_group(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; i < m->azure.n_container_groups; i++)
		if (!strcmp(m->azure.container_groups[i].name, name))
			return &m->azure.container_groups[i];
	return NULL;
}

static const char *proto(spec_proto p)
{
	return p == SPEC_PROTO_UDP ? "UDP" : "TCP";
}

static const char *restart_name(spec_aci_restart r)
{
	return r == SPEC_RESTART_ON_FAILURE ? "OnFailure" : r == SPEC_RESTART_NEVER ? "Never" : "Always";
}

static json_t *ports_json(const spec_aci_port *ports, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:s}", "port", ports[i].port, "protocol", proto(ports[i].protocol)));
	return a;
}

/* ---- the secure hash ------------------------------------------------------------------------ */

static void hash_field(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	/* Length-prefixed, so no two different sequences of fields hash alike. */
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (8 * i));
	EVP_DigestUpdate(ctx, len, sizeof(len));
	EVP_DigestUpdate(ctx, p, n);
}

static void hash_str(EVP_MD_CTX *ctx, const char *s)
{
	hash_field(ctx, s, strlen(s));
}

static int hash_secret(EVP_MD_CTX *ctx, const spec_secret_ref *ref, char **err)
{
	secret_value *sv = NULL;
	if (secret_resolve(ref, &sv, err) != 0)
		return -1;
	size_t n;
	const unsigned char *b = secret_bytes(sv, &n);
	hash_field(ctx, b, n);
	secret_free(sv);
	return 0;
}

/* The hex SHA-256 over the group's secure environment values and secret volume files, names
 * included; NULL with *err (naming the variable or file, never a value) if one cannot be read. */
static char *secure_hash(const spec_container_group *g, char **err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	int rc = 0;
	for (size_t i = 0; i < g->n_containers && rc == 0; i++) {
		const spec_container *c = &g->containers[i];
		for (size_t e = 0; e < c->n_secure_environment && rc == 0; e++) {
			hash_str(ctx, "env");
			hash_str(ctx, c->name);
			hash_str(ctx, c->secure_environment[e].name);
			rc = hash_secret(ctx, &c->secure_environment[e].value, err);
		}
	}
	for (size_t v = 0; v < g->n_volumes && rc == 0; v++) {
		const spec_cg_volume *vol = &g->volumes[v];
		for (size_t f = 0; vol->kind == SPEC_CGVOL_SECRET && f < vol->n_secret_files && rc == 0; f++) {
			hash_str(ctx, "secret");
			hash_str(ctx, vol->name);
			hash_str(ctx, vol->secret_files[f].file_name);
			rc = hash_secret(ctx, &vol->secret_files[f].value, err);
		}
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	if (rc != 0)
		return NULL;
	char *hex = malloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* ---- the desired body (no secret in it) ----------------------------------------------------- */

static const spec_file_share *find_share(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; i < m->azure.n_file_shares; i++)
		if (!strcmp(m->azure.file_shares[i].name, name))
			return &m->azure.file_shares[i];
	return NULL;
}

static json_t *desired_body(const struct spec_model *m, const spec_container_group *g, const char *hash)
{
	json_t *containers = json_array();
	for (size_t i = 0; i < g->n_containers; i++) {
		const spec_container *c = &g->containers[i];
		json_t *props = json_pack("{s:s, s:{s:{s:f, s:f}}}", "image", c->image, "resources", "requests", "cpu", c->cpu,
					  "memoryInGB", c->memory_gb);
		if (c->command.n) {
			json_t *cmd = json_array();
			for (size_t k = 0; k < c->command.n; k++)
				json_array_append_new(cmd, json_string(c->command.v[k]));
			json_object_set_new(props, "command", cmd);
		}
		if (c->n_ports)
			json_object_set_new(props, "ports", ports_json(c->ports, c->n_ports));
		if (c->n_environment || c->n_secure_environment) {
			json_t *env = json_array();
			for (size_t k = 0; k < c->n_environment; k++)
				json_array_append_new(env, json_pack("{s:s, s:s}", "name", c->environment[k].key, "value",
								     c->environment[k].value));
			/* secureValue is added at apply time. */
			for (size_t k = 0; k < c->n_secure_environment; k++)
				json_array_append_new(env, json_pack("{s:s}", "name", c->secure_environment[k].name));
			json_object_set_new(props, "environmentVariables", env);
		}
		if (c->n_volume_mounts) {
			json_t *vm = json_array();
			for (size_t k = 0; k < c->n_volume_mounts; k++) {
				bool ro = false;
				for (size_t v = 0; v < g->n_volumes; v++)
					if (!strcmp(g->volumes[v].name, c->volume_mounts[k].volume))
						ro = g->volumes[v].read_only;
				json_array_append_new(vm, json_pack("{s:s, s:s, s:b}", "name", c->volume_mounts[k].volume, "mountPath",
								    c->volume_mounts[k].path, "readOnly", ro));
			}
			json_object_set_new(props, "volumeMounts", vm);
		}
		json_array_append_new(containers, json_pack("{s:s, s:o}", "name", c->name, "properties", props));
	}
	json_t *props = json_pack("{s:s, s:s, s:o}", "osType", g->os == SPEC_OS_WINDOWS ? "Windows" : "Linux",
				  "restartPolicy", restart_name(g->restart_policy), "containers", containers);
	if (g->ip != SPEC_IP_NONE) {
		json_t *ip = json_pack("{s:s, s:o}", "type", g->ip == SPEC_IP_PRIVATE ? "Private" : "Public", "ports",
				       ports_json(g->ports, g->n_ports));
		if (g->dns_label)
			json_object_set_new(ip, "dnsNameLabel", json_string(g->dns_label));
		json_object_set_new(props, "ipAddress", ip);
	}
	if (g->n_volumes) {
		json_t *vols = json_array();
		for (size_t v = 0; v < g->n_volumes; v++) {
			const spec_cg_volume *vol = &g->volumes[v];
			json_t *j = json_pack("{s:s}", "name", vol->name);
			if (vol->kind == SPEC_CGVOL_FILE_SHARE) {
				const spec_file_share *fs = find_share(m, vol->file_share);
				/* storageAccountKey is added at apply time. */
				json_object_set_new(j, "azureFile", json_pack("{s:s, s:s, s:b}", "shareName", vol->file_share,
									      "storageAccountName", fs ? fs->storage_account : "",
									      "readOnly", vol->read_only));
			} else if (vol->kind == SPEC_CGVOL_EMPTY_DIR) {
				json_object_set_new(j, "emptyDir", json_object());
			} else {
				json_object_set_new(j, "secret", json_object()); /* files added at apply time */
			}
			json_array_append_new(vols, j);
		}
		json_object_set_new(props, "volumes", vols);
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o}", "location", m->azure.location, "tags", AZURE_TAG_OWNER, m->name,
			 AZURE_TAG_SECURE_HASH, hash, "properties", props);
}

/* ---- the view ------------------------------------------------------------------------------- */

static void put(json_t *view, const char *value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(json_t *view, const char *value, const char *fmt, ...)
{
	char key[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	json_object_set_new(view, key, json_string(value));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A list of ports as "80/TCP, 443/TCP", sorted. */
static char *ports_text(json_t *ports)
{
	size_t n = json_array_size(ports);
	char **items = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(ports, i);
		const char *pr = json_string_value(json_object_get(p, "protocol"));
		items[i] = xasprintf("%lld/%s", (long long)json_integer_value(json_object_get(p, "port")),
				     pr && !strcasecmp(pr, "udp") ? "UDP" : "TCP");
	}
	qsort(items, n, sizeof(char *), cmp_str);
	char *out = strdup("");
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s%s", out, i ? ", " : "", items[i]);
		free(out);
		free(items[i]);
		out = next;
	}
	free(items);
	return out;
}

static void put_number(json_t *view, json_t *v, const char *key)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%g", json_number_value(v));
	put(view, buf, "%s", key);
}

json_t *aci_view(json_t *group)
{
	json_t *view = json_object();
	json_t *props = json_object_get(group, "properties");
	const char *loc = json_string_value(json_object_get(group, "location"));
	if (loc) {
		char buf[128];
		size_t n = 0;
		for (const char *c = loc; *c && n + 1 < sizeof(buf); c++)
			if (*c != ' ')
				buf[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		buf[n] = '\0';
		put(view, buf, "location");
	}
	const char *os = json_string_value(json_object_get(props, "osType"));
	put(view, os ? os : "Linux", "os_type");
	const char *rp = json_string_value(json_object_get(props, "restartPolicy"));
	put(view, rp ? rp : "Always", "restart_policy");
	json_t *ip = json_object_get(props, "ipAddress");
	if (json_is_object(ip)) {
		const char *t = json_string_value(json_object_get(ip, "type"));
		put(view, t ? t : "", "ip");
		char *pt = ports_text(json_object_get(ip, "ports"));
		put(view, pt, "ip_ports");
		free(pt);
		const char *label = json_string_value(json_object_get(ip, "dnsNameLabel"));
		if (label)
			put(view, label, "dns_label");
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(props, "containers"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *cp = json_object_get(c, "properties");
		if (!name)
			continue;
		const char *image = json_string_value(json_object_get(cp, "image"));
		put(view, image ? image : "", "containers.%s.image", name);
		json_t *cmd = json_object_get(cp, "command");
		if (json_array_size(cmd)) {
			char *t = json_dumps(cmd, JSON_COMPACT);
			put(view, t, "containers.%s.command", name);
			free(t);
		}
		json_t *req = json_object_get(json_object_get(cp, "resources"), "requests");
		char key[300];
		snprintf(key, sizeof(key), "containers.%s.cpu", name);
		put_number(view, json_object_get(req, "cpu"), key);
		snprintf(key, sizeof(key), "containers.%s.memory_gb", name);
		put_number(view, json_object_get(req, "memoryInGB"), key);
		json_t *ports = json_object_get(cp, "ports");
		if (json_array_size(ports)) {
			char *pt = ports_text(ports);
			put(view, pt, "containers.%s.ports", name);
			free(pt);
		}
		size_t k;
		json_t *ev;
		json_t *secure = json_array();
		json_array_foreach(json_object_get(cp, "environmentVariables"), k, ev) {
			const char *en = json_string_value(json_object_get(ev, "name"));
			const char *val = json_string_value(json_object_get(ev, "value"));
			if (!en)
				continue;
			if (val)
				put(view, val, "containers.%s.environment.%s", name, en);
			else
				json_array_append_new(secure, json_string(en)); /* a secure value: its name only */
		}
		if (json_array_size(secure)) {
			/* Names only, sorted: the values are compared through the secure hash. */
			size_t n = json_array_size(secure);
			const char **names = calloc(n, sizeof(char *));
			for (size_t s = 0; s < n; s++)
				names[s] = json_string_value(json_array_get(secure, s));
			qsort(names, n, sizeof(char *), cmp_str);
			char *t = strdup("");
			for (size_t s = 0; s < n; s++) {
				char *next = xasprintf("%s%s%s", t, s ? ", " : "", names[s]);
				free(t);
				t = next;
			}
			put(view, t, "containers.%s.secure_environment", name);
			free(t);
			free(names);
		}
		json_decref(secure);
		json_t *vm;
		json_array_foreach(json_object_get(cp, "volumeMounts"), k, vm) {
			const char *vn = json_string_value(json_object_get(vm, "name"));
			const char *path = json_string_value(json_object_get(vm, "mountPath"));
			if (!vn)
				continue;
			char *t = xasprintf("%s%s", path ? path : "",
					    json_is_true(json_object_get(vm, "readOnly")) ? " (read-only)" : "");
			put(view, t, "containers.%s.volume_mounts.%s", name, vn);
			free(t);
		}
	}
	json_t *vol;
	json_array_foreach(json_object_get(props, "volumes"), i, vol) {
		const char *vn = json_string_value(json_object_get(vol, "name"));
		if (!vn)
			continue;
		json_t *af = json_object_get(vol, "azureFile");
		if (json_is_object(af)) {
			const char *acct = json_string_value(json_object_get(af, "storageAccountName"));
			const char *share = json_string_value(json_object_get(af, "shareName"));
			char *t = xasprintf("file share %s/%s%s", acct ? acct : "", share ? share : "",
					    json_is_true(json_object_get(af, "readOnly")) ? " (read-only)" : "");
			put(view, t, "volumes.%s", vn);
			free(t);
		} else if (json_object_get(vol, "emptyDir")) {
			put(view, "empty_dir", "volumes.%s", vn);
		} else if (json_object_get(vol, "secret")) {
			put(view, "secret", "volumes.%s", vn);
		} else {
			put(view, "other", "volumes.%s", vn);
		}
	}
	return view;
}

/* A change of one of these fields cannot be made in place: the group is deleted and created. */
static bool forces_replace(const char *field)
{
	size_t n = strlen(field);
	return !strcmp(field, "location") || !strcmp(field, "os_type") || !strcmp(field, "restart_policy") ||
	       !strcmp(field, "ip") || (n > 4 && !strcmp(field + n - 4, ".cpu")) ||
	       (n > 10 && !strcmp(field + n - 10, ".memory_gb"));
}

static const char *tag_of(json_t *obj, const char *tag)
{
	return json_string_value(json_object_get(json_object_get(obj, "tags"), tag));
}

void aci_plan(const struct spec_model *m, json_t *observed, plan *p, problems *pr)
{
	const spec_azure *az = &m->azure;
	for (size_t i = 0; i < az->n_container_groups; i++) {
		const spec_container_group *g = &az->container_groups[i];
		json_t *obs = azure_find_named(observed, g->name);
		const char *owner = obs ? tag_of(obs, AZURE_TAG_OWNER) : NULL;
		if (obs && (!owner || strcmp(owner, m->name))) {
			problem(pr, "container group '%s' exists in resource group '%s' and %s; berth never adopts objects",
				      g->name, az->resource_group,
				      owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner tag)");
			continue;
		}
		char *err = NULL;
		char *hash = secure_hash(g, &err);
		if (!hash) {
			problem(pr, "container group '%s': %s", g->name, err);
			free(err);
			continue;
		}
		json_t *body = desired_body(m, g, hash);
		azure_step *s = azure_new_step(AZURE_CONTAINER_GROUP, azure_container_group_path(m, g->name), body);
		s->name = strdup(g->name);
		if (!obs) {
			size_t id = plan_add_step(p, PLAN_CREATE, AZURE_KIND_CG, g->name, NULL, s);
			json_t *want = aci_view(body);
			azure_diff_views(p, id, NULL, want, false);
			json_decref(want);
			bool any_secure = false;
			for (size_t c = 0; c < g->n_containers; c++)
				any_secure |= g->containers[c].n_secure_environment > 0;
			for (size_t v = 0; v < g->n_volumes; v++)
				any_secure |= g->volumes[v].kind == SPEC_CGVOL_SECRET;
			if (any_secure)
				plan_add_change(p, id, "secure values", NULL, NULL, true);
			free(hash);
			continue;
		}
		json_t *have = aci_view(obs), *want = aci_view(body);
		/* Which change forces a replacement, if any (the first, in field order). */
		const char *forcing = NULL;
		const char *k;
		json_t *v;
		json_t *keys = json_object();
		json_object_foreach(want, k, v)
			json_object_set(keys, k, json_true());
		json_object_foreach(have, k, v)
			json_object_set(keys, k, json_true());
		char *forcing_copy = NULL;
		json_object_foreach(keys, k, v) {
			const char *o = json_string_value(json_object_get(have, k));
			const char *w = json_string_value(json_object_get(want, k));
			bool differs = (o == NULL) != (w == NULL) || (o && w && strcmp(o, w));
			if (differs && forces_replace(k) && (!forcing || strcmp(k, forcing) < 0))
				forcing = k;
		}
		if (forcing)
			forcing_copy = xasprintf("%s forces replacement", forcing);
		const char *old_hash = tag_of(obs, AZURE_TAG_SECURE_HASH);
		bool secure_changed = !old_hash || strcmp(old_hash, hash);
		bool view_changed = !json_equal(have, want);
		if (!view_changed && !secure_changed) {
			azure_step_free(s);
			json_decref(keys);
			json_decref(have);
			json_decref(want);
			free(hash);
			continue;
		}
		size_t id = plan_add_step(p, forcing ? PLAN_REPLACE : PLAN_UPDATE, AZURE_KIND_CG, g->name, forcing_copy, s);
		azure_diff_views(p, id, have, want, false);
		if (secure_changed)
			plan_add_change(p, id, "secure values", NULL, NULL, true);
		free(forcing_copy);
		json_decref(keys);
		json_decref(have);
		json_decref(want);
		free(hash);
	}
	/* Owned groups the spec no longer has are deleted. */
	size_t i;
	json_t *it;
	json_array_foreach(observed, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *owner = tag_of(it, AZURE_TAG_OWNER);
		if (!name || !owner || strcmp(owner, m->name) || find_group(m, name))
			continue;
		azure_step *s = azure_new_step(AZURE_CONTAINER_GROUP, azure_container_group_path(m, name), NULL);
		s->name = strdup(name);
		s->refs = json_array();
		const char *fqdn = json_string_value(json_object_get(json_object_get(json_object_get(it, "properties"), "ipAddress"), "fqdn"));
		if (fqdn)
			json_array_append_new(s->refs, json_string(fqdn));
		plan_add_step(p, PLAN_DELETE, AZURE_KIND_CG, name, "not in the spec", s);
	}
}

/* ---- apply ---------------------------------------------------------------------------------- */

static char *b64(const unsigned char *b, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, b, (int)n);
	return out;
}

static void wipe_json_string(json_t *s)
{
	/* Overwrite a secret in the request body before it is freed. */
	if (!json_is_string(s))
		return;
	/* jansson keeps the value in a malloc'd buffer of its own: clear it in place. */
	memset((char *)json_string_value(s), 0, json_string_length(s));
}

static void wipe_secrets(json_t *body)
{
	json_t *props = json_object_get(body, "properties");
	size_t i, k;
	json_t *c, *ev, *vol;
	json_array_foreach(json_object_get(props, "containers"), i, c)
		json_array_foreach(json_object_get(json_object_get(c, "properties"), "environmentVariables"), k, ev)
			wipe_json_string(json_object_get(ev, "secureValue"));
	json_array_foreach(json_object_get(props, "volumes"), i, vol) {
		wipe_json_string(json_object_get(json_object_get(vol, "azureFile"), "storageAccountKey"));
		const char *f;
		json_t *v;
		json_object_foreach(json_object_get(vol, "secret"), f, v)
			wipe_json_string(v);
	}
}

/* The full body with its secrets: secure environment values, secret volume files (base64) and
 * the storage account key of each file-share volume (listKeys). NULL with *err. */
static json_t *body_with_secrets(arm *a, const struct spec_model *m, const azure_step *s, char **err)
{
	const spec_container_group *g = find_group(m, s->name);
	if (!g) {
		*err = xasprintf("container group '%s' is not in the spec", s->name);
		return NULL;
	}
	json_t *body = json_deep_copy(s->body);
	json_t *props = json_object_get(body, "properties");
	for (size_t i = 0; i < g->n_containers; i++) {
		const spec_container *c = &g->containers[i];
		json_t *ct = NULL, *x;
		size_t k;
		json_array_foreach(json_object_get(props, "containers"), k, x)
			if (!strcmp(json_string_value(json_object_get(x, "name")), c->name))
				ct = x;
		for (size_t e = 0; e < c->n_secure_environment; e++) {
			secret_value *sv = NULL;
			if (secret_resolve(&c->secure_environment[e].value, &sv, err) != 0)
				goto fail;
			size_t n;
			const unsigned char *b = secret_bytes(sv, &n);
			json_t *ev;
			json_array_foreach(json_object_get(json_object_get(ct, "properties"), "environmentVariables"), k, ev)
				if (!strcmp(json_string_value(json_object_get(ev, "name")), c->secure_environment[e].name))
					json_object_set_new(ev, "secureValue", json_stringn_nocheck((const char *)b, n));
			secret_free(sv);
		}
	}
	json_t *keys_by_account = json_object();
	for (size_t v = 0; v < g->n_volumes; v++) {
		const spec_cg_volume *vol = &g->volumes[v];
		json_t *jv = NULL, *x;
		size_t k;
		json_array_foreach(json_object_get(props, "volumes"), k, x)
			if (!strcmp(json_string_value(json_object_get(x, "name")), vol->name))
				jv = x;
		if (vol->kind == SPEC_CGVOL_SECRET) {
			json_t *files = json_object_get(jv, "secret");
			for (size_t f = 0; f < vol->n_secret_files; f++) {
				secret_value *sv = NULL;
				if (secret_resolve(&vol->secret_files[f].value, &sv, err) != 0) {
					json_decref(keys_by_account);
					goto fail;
				}
				size_t n;
				const unsigned char *b = secret_bytes(sv, &n);
				char *enc = b64(b, n);
				json_object_set_new(files, vol->secret_files[f].file_name, json_string(enc));
				memset(enc, 0, strlen(enc));
				free(enc);
				secret_free(sv);
			}
		} else if (vol->kind == SPEC_CGVOL_FILE_SHARE) {
			json_t *af = json_object_get(jv, "azureFile");
			const char *acct = json_string_value(json_object_get(af, "storageAccountName"));
			json_t *key = json_object_get(keys_by_account, acct);
			if (!key) {
				char *path = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/"
						       "storageAccounts/%s/listKeys",
						       m->azure.subscription, m->azure.resource_group, acct);
				arm_response r;
				int rc = arm_request(a, "POST", path, ARM_API_STORAGE, NULL, &r, err);
				free(path);
				const char *kv = rc == 0 ? json_string_value(json_object_get(
								   json_array_get(json_object_get(r.body, "keys"), 0), "value"))
							 : NULL;
				if (rc == 0 && !kv)
					*err = xasprintf("storage account '%s': listKeys returned no key", acct);
				if (kv) {
					key = json_string(kv);
					json_object_set_new(keys_by_account, acct, key);
					/* The answer holds the keys: wiped before it is freed. */
					size_t j;
					json_t *kk;
					json_array_foreach(json_object_get(r.body, "keys"), j, kk)
						wipe_json_string(json_object_get(kk, "value"));
				}
				arm_response_free(&r);
				if (!key) {
					json_decref(keys_by_account);
					goto fail;
				}
			}
			json_object_set_new(af, "storageAccountKey", json_string(json_string_value(key)));
		}
	}
	const char *acct;
	json_t *key;
	json_object_foreach(keys_by_account, acct, key)
		wipe_json_string(key);
	json_decref(keys_by_account);
	return body;
fail:
	wipe_secrets(body);
	json_decref(body);
	return NULL;
}

static void append(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **out, const char *fmt, ...)
{
	char *add = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&add, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *next = xasprintf("%s%s", *out ? *out : "", add);
	free(*out);
	free(add);
	*out = next;
}

static void describe_events(char **out, json_t *events)
{
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		append(out, "; event %s%s%s: %s", type ? type : "", type && name ? " " : "", name ? name : "", msg ? msg : "");
	}
}

/* The group's and its containers' states, with their events and exit codes. */
static char *describe_group(json_t *g)
{
	json_t *props = json_object_get(g, "properties");
	const char *ps = json_string_value(json_object_get(props, "provisioningState"));
	json_t *iv = json_object_get(props, "instanceView");
	const char *gs = json_string_value(json_object_get(iv, "state"));
	char *out = NULL;
	append(&out, "provisioning state %s, group state %s", ps ? ps : "unknown", gs ? gs : "unknown");
	describe_events(&out, json_object_get(iv, "events"));
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(props, "containers"), i, c) {
		json_t *civ = json_object_get(json_object_get(c, "properties"), "instanceView");
		json_t *cs = json_object_get(civ, "currentState");
		const char *st = json_string_value(json_object_get(cs, "state"));
		const char *detail = json_string_value(json_object_get(cs, "detailStatus"));
		append(&out, "; container %s: %s", json_string_value(json_object_get(c, "name")), st ? st : "unknown");
		if (detail && *detail)
			append(&out, " (%s)", detail);
		if (json_is_integer(json_object_get(cs, "exitCode")))
			append(&out, ", exit code %lld", (long long)json_integer_value(json_object_get(cs, "exitCode")));
		if (json_is_integer(json_object_get(civ, "restartCount")) && json_integer_value(json_object_get(civ, "restartCount")))
			append(&out, ", %lld restarts", (long long)json_integer_value(json_object_get(civ, "restartCount")));
		describe_events(&out, json_object_get(civ, "events"));
	}
	return out;
}

static bool all_running(json_t *g, bool *failed)
{
	json_t *props = json_object_get(g, "properties");
	const char *ps = json_string_value(json_object_get(props, "provisioningState"));
	const char *gs = json_string_value(json_object_get(json_object_get(props, "instanceView"), "state"));
	*failed = (ps && (!strcmp(ps, "Failed") || !strcmp(ps, "Canceled"))) ||
		  (gs && (!strcmp(gs, "Failed") || !strcmp(gs, "Stopped")));
	if (!gs || strcmp(gs, "Running"))
		return false;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(props, "containers"), i, c) {
		const char *st = json_string_value(json_object_get(
			json_object_get(json_object_get(json_object_get(c, "properties"), "instanceView"), "currentState"),
			"state"));
		if (!st || strcmp(st, "Running")) {
			if (st && !strcmp(st, "Terminated"))
				*failed = true;
			return false;
		}
	}
	return true;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls the group until its containers run. */
static int wait_running(arm *a, const char *path, const char *name, char **err)
{
	double deadline = now_s() + ACI_RUN_TIMEOUT_S;
	for (;;) {
		arm_response r;
		if (arm_request(a, "GET", path, ARM_API_CONTAINER_INSTANCE, NULL, &r, err) != 0) {
			arm_response_free(&r);
			return -1;
		}
		bool failed = false;
		if (all_running(r.body, &failed)) {
			arm_response_free(&r);
			return 0;
		}
		bool timeout = now_s() >= deadline;
		if (failed || timeout) {
			char *d = describe_group(r.body);
			*err = xasprintf("container group %s %s: %s", name,
					 failed ? "did not start" : "did not have its containers running in time", d);
			free(d);
			arm_response_free(&r);
			return -1;
		}
		arm_response_free(&r);
		struct timespec ts = {ACI_RUN_POLL_S, 0};
		nanosleep(&ts, NULL);
	}
}

int aci_apply(arm *a, const struct spec_model *m, const plan_step *step, azure_step *s, char **err)
{
	arm_response r;
	int rc;
	if (step->action == PLAN_DELETE || step->action == PLAN_REPLACE) {
		rc = arm_call(a, "DELETE", s->path, ARM_API_CONTAINER_INSTANCE, NULL, &r, err);
		if (rc != 0 && r.status == 404) { /* already gone */
			free(*err);
			*err = NULL;
			rc = 0;
		}
		arm_response_free(&r);
		if (rc != 0 || step->action == PLAN_DELETE)
			return rc;
	}
	json_t *body = body_with_secrets(a, m, s, err);
	if (!body)
		return -1;
	rc = arm_call(a, "PUT", s->path, ARM_API_CONTAINER_INSTANCE, body, &r, err);
	wipe_secrets(body);
	json_decref(body);
	/* The operation's final read often shows the containers running already. */
	bool failed = false;
	bool running = rc == 0 && all_running(r.body, &failed);
	arm_response_free(&r);
	if (running)
		return 0;
	if (rc != 0) {
		/* Say what state the group was left in, with its events, if it can be read. */
		char *ignored = NULL;
		arm_response g;
		if (arm_request(a, "GET", s->path, ARM_API_CONTAINER_INSTANCE, NULL, &g, &ignored) == 0) {
			char *d = describe_group(g.body);
			char *e = xasprintf("%s; %s", *err, d);
			free(*err);
			free(d);
			*err = e;
		}
		free(ignored);
		arm_response_free(&g);
		return -1;
	}
	return wait_running(a, s->path, s->name, err);
}
