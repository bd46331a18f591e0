/* Observing and planning the Azure side: scale-set capacity and file shares here; container
 * groups (aci.c) and Traffic Manager (trafficmanager.c) are called from here, and their order in
 * the one plan is set here. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "providers/azure/azure.h"
#include "core/util.h"
#include "providers/azure/azure_step.h"

char *azure_scale_set_path(const struct spec_model *m, const char *name)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s",
			 m->azure.subscription, m->azure.resource_group, name);
}

char *azure_share_path(const struct spec_model *m, const char *account, const char *share)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s/"
			 "fileServices/default/shares%s%s",
			 m->azure.subscription, m->azure.resource_group, account, share ? "/" : "", share ? share : "");
}

/* A scale set's instances, "<instance id>=<computer name>": the platform's ids (used by the API)
 * against the guests' host names (which the swarm sees as node names). */
static int observe_instances(arm *a, const struct spec_model *m, azure_state *out, const char *name, char **err)
{
	bool exists = false;
	size_t i;
	json_t *it;
	json_array_foreach(out->scale_sets, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		exists |= n && !strcasecmp(n, name);
	}
	if (!exists)
		return 0;
	char *vmss = azure_scale_set_path(m, name);
	char *path = xasprintf("%s/virtualMachines", vmss);
	free(vmss);
	json_t *vms = NULL;
	int rc = arm_list(a, path, ARM_API_COMPUTE, &vms, err);
	free(path);
	if (rc != 0)
		return -1;
	json_t *list = json_array();
	json_array_foreach(vms, i, it) {
		const char *id = json_string_value(json_object_get(it, "instanceId"));
		const char *host = json_string_value(
			json_object_get(json_object_get(json_object_get(it, "properties"), "osProfile"), "computerName"));
		char *entry = xasprintf("%s=%s", id ? id : "?", host ? host : "?");
		json_array_append_new(list, json_string(entry));
		free(entry);
	}
	json_decref(vms);
	json_object_set_new(out->instances, name, list);
	return 0;
}

int azure_observe(arm *a, const struct spec_model *m, azure_state *out, char **err)
{
	memset(out, 0, sizeof(*out));
	const spec_azure *az = &m->azure;
	out->shares = json_object();
	if (az->n_scale_sets) {
		char *path = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets",
				       az->subscription, az->resource_group);
		int rc = arm_list(a, path, ARM_API_COMPUTE, &out->scale_sets, err);
		free(path);
		if (rc != 0) {
			azure_state_free(out);
			return -1;
		}
	} else {
		out->scale_sets = json_array();
	}
	out->instances = json_object();
	for (size_t i = 0; i < az->n_scale_sets; i++)
		if (observe_instances(a, m, out, az->scale_sets[i].name, err) != 0) {
			azure_state_free(out);
			return -1;
		}
	for (size_t i = 0; i < az->n_file_shares; i++) {
		const char *acct = az->file_shares[i].storage_account;
		if (json_object_get(out->shares, acct))
			continue;
		char *path = azure_share_path(m, acct, NULL);
		json_t *items = NULL;
		int rc = arm_list(a, path, ARM_API_STORAGE, &items, err);
		free(path);
		if (rc != 0) {
			azure_state_free(out);
			return -1;
		}
		json_object_set_new(out->shares, acct, items);
	}
	if (aci_observe(a, m, &out->container_groups, err) != 0 || tm_observe(a, m, &out->profiles, err) != 0) {
		azure_state_free(out);
		return -1;
	}
	return 0;
}

void azure_state_free(azure_state *st)
{
	json_decref(st->instances);
	json_decref(st->scale_sets);
	json_decref(st->shares);
	json_decref(st->container_groups);
	json_decref(st->profiles);
	memset(st, 0, sizeof(*st));
}

char *azure_fingerprint(const azure_state *st)
{
	/* The observed JSON, canonically encoded: any change to what was observed shows. */
	json_t *all = json_pack("{s:O, s:O, s:O, s:O}", "scale_sets", st->scale_sets ? st->scale_sets : json_null(),
				"shares", st->shares ? st->shares : json_null(), "container_groups",
				st->container_groups ? st->container_groups : json_null(), "profiles",
				st->profiles ? st->profiles : json_null());
	char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
	free(text);
	char *hex = malloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

void azure_step_free(void *payload)
{
	azure_step *s = payload;
	if (!s)
		return;
	free(s->path);
	json_decref(s->body);
	free(s->name);
	json_decref(s->refs);
	free(s);
}

void azure_plan_result_free(azure_plan_result *r)
{
	free(r->scale_up);
	free(r->scale_down);
	memset(r, 0, sizeof(*r));
}

static int strcmp_ptr(const char **a, const char **b)
{
	return strcmp(*a, *b);
}

#define find_named azure_find_named
#define new_step azure_new_step

json_t *azure_find_named(json_t *items, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		if (n && !strcasecmp(n, name))
			return it;
	}
	return NULL;
}

azure_step *azure_new_step(azure_kind kind, char *path, json_t *body)
{
	azure_step *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->kind = kind;
	s->path = path;
	s->body = body;
	return s;
}

size_t azure_diff_views(plan *p, size_t id, json_t *have, json_t *want, bool only_wanted)
{
	/* Both views' keys, sorted, so the changes read in a stable order. */
	json_t *keys = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(want, k, v)
		json_object_set(keys, k, json_true());
	if (!only_wanted)
		json_object_foreach(have, k, v)
			json_object_set(keys, k, json_true());
	size_t n = json_object_size(keys), i = 0, added = 0;
	const char **sorted = calloc(n ? n : 1, sizeof(char *));
	json_object_foreach(keys, k, v)
		sorted[i++] = k;
	qsort(sorted, n, sizeof(char *), (int (*)(const void *, const void *))strcmp_ptr);
	for (i = 0; i < n; i++) {
		const char *o = json_string_value(json_object_get(have, sorted[i]));
		const char *w = json_string_value(json_object_get(want, sorted[i]));
		if ((!o && !w) || (o && w && !strcmp(o, w)))
			continue;
		plan_add_change(p, id, sorted[i], o, w, false);
		added++;
	}
	free(sorted);
	json_decref(keys);
	return added;
}

size_t azure_find_step(const plan *p, size_t first, const char *kind, const char *name, bool include_delete)
{
	for (size_t i = first; i < plan_count(p); i++) {
		const plan_step *s = plan_step_at(p, i);
		if (!strcmp(s->kind, kind) && !strcmp(s->name, name) && (include_delete || s->action != PLAN_DELETE))
			return i;
	}
	return SIZE_MAX;
}

static void push(size_t **arr, size_t *n, size_t v)
{
	*arr = realloc(*arr, (*n + 1) * sizeof(size_t));
	(*arr)[(*n)++] = v;
}

static void plan_scale_sets(const struct spec_model *m, const azure_state *st, plan *p, azure_plan_result *res,
			    problems *pr)
{
	for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
		const spec_scale_set *ss = &m->azure.scale_sets[i];
		json_t *obs = find_named(st->scale_sets, ss->name);
		if (!obs) {
			problem(pr, "scale set '%s' does not exist in resource group '%s'; berth sizes scale sets, it does not "
				    "create them",
				ss->name, m->azure.resource_group);
			continue;
		}
		const char *owner = json_string_value(json_object_get(json_object_get(obs, "tags"), AZURE_TAG_OWNER));
		if (!owner || strcmp(owner, m->name)) {
			problem(pr, "scale set '%s' is not tagged %s=%s%s%s%s; berth only sizes scale sets that carry its owner tag",
				ss->name, AZURE_TAG_OWNER, m->name, owner ? " (it belongs to '" : "", owner ? owner : "",
				owner ? "')" : "");
			continue;
		}
		json_int_t have = json_integer_value(json_object_get(json_object_get(obs, "sku"), "capacity"));
		if (have == ss->capacity)
			continue;
		char old_v[32], new_v[32];
		snprintf(old_v, sizeof(old_v), "%lld", (long long)have);
		snprintf(new_v, sizeof(new_v), "%lld", (long long)ss->capacity);
		azure_step *s = new_step(AZURE_SCALE_SET, azure_scale_set_path(m, ss->name),
					 json_pack("{s:{s:I}}", "sku", "capacity", (json_int_t)ss->capacity));
		size_t id = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name,
					  ss->capacity > have ? "capacity increased" : "capacity decreased", s);
		plan_add_change(p, id, "capacity", old_v, new_v, false);
		/* Which instances there are now; on a decrease the scale-in policy picks which go. */
		json_t *inst = json_object_get(st->instances, ss->name);
		if (json_array_size(inst)) {
			char *now = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&now, &len);
			size_t k;
			json_t *e;
			json_array_foreach(inst, k, e)
				fprintf(f, "%s%s", k ? ", " : "", json_string_value(e));
			fclose(f);
			plan_add_change(p, id, "instances", now,
					ss->capacity > have ? "(kept; Azure adds the new ones)" : "(Azure's scale-in policy picks which go)",
					false);
			free(now);
		}
		if (ss->capacity > have)
			push(&res->scale_up, &res->n_scale_up, id);
		else
			push(&res->scale_down, &res->n_scale_down, id);
	}
}

static json_t *share_body(const struct spec_model *m, const spec_file_share *fs)
{
	json_t *props = json_pack("{s:{s:s, s:s}}", "metadata", AZURE_TAG_OWNER, m->name, AZURE_META_PROTECT,
				  fs->protect ? "true" : "false");
	if (fs->quota_gb > 0)
		json_object_set_new(props, "shareQuota", json_integer(fs->quota_gb));
	if (fs->access_tier)
		json_object_set_new(props, "accessTier", json_string(fs->access_tier));
	return json_pack("{s:o}", "properties", props);
}

static void plan_shares(const struct spec_model *m, const azure_state *st, plan *p, problems *pr)
{
	const spec_azure *az = &m->azure;
	for (size_t i = 0; i < az->n_file_shares; i++) {
		const spec_file_share *fs = &az->file_shares[i];
		json_t *obs = find_named(json_object_get(st->shares, fs->storage_account), fs->name);
		char *path = azure_share_path(m, fs->storage_account, fs->name);
		if (!obs) {
			azure_step *s = new_step(AZURE_FILE_SHARE, path, share_body(m, fs));
			size_t id = plan_add_step(p, PLAN_CREATE, "file share", fs->name, NULL, s);
			plan_add_change(p, id, "storage_account", NULL, fs->storage_account, false);
			if (fs->quota_gb > 0) {
				char q[32];
				snprintf(q, sizeof(q), "%lld", (long long)fs->quota_gb);
				plan_add_change(p, id, "quota_gb", NULL, q, false);
			}
			plan_add_change(p, id, "protect", NULL, fs->protect ? "true" : "false", false);
			continue;
		}
		json_t *props = json_object_get(obs, "properties");
		json_t *md = json_object_get(props, "metadata");
		const char *owner = json_string_value(json_object_get(md, AZURE_TAG_OWNER));
		if (!owner || strcmp(owner, m->name)) {
			problem(pr, "file share '%s' in storage account '%s' exists and %s; berth never adopts objects",
				fs->name, fs->storage_account,
				owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner metadata)");
			free(path);
			continue;
		}
		json_int_t quota = json_integer_value(json_object_get(props, "shareQuota"));
		const char *protect = json_string_value(json_object_get(md, AZURE_META_PROTECT));
		const char *tier = json_string_value(json_object_get(props, "accessTier"));
		bool quota_changed = fs->quota_gb > 0 && quota != fs->quota_gb;
		bool protect_changed = !protect || strcmp(protect, fs->protect ? "true" : "false");
		bool tier_changed = fs->access_tier && (!tier || strcmp(tier, fs->access_tier));
		if (!quota_changed && !protect_changed && !tier_changed) {
			free(path);
			continue;
		}
		azure_step *s = new_step(AZURE_FILE_SHARE, path, share_body(m, fs));
		size_t id = plan_add_step(p, PLAN_UPDATE, "file share", fs->name,
					  quota_changed ? "quota changed" : tier_changed ? "access tier changed" : "protection changed", s);
		if (quota_changed) {
			char o[32], n[32];
			snprintf(o, sizeof(o), "%lld", (long long)quota);
			snprintf(n, sizeof(n), "%lld", (long long)fs->quota_gb);
			plan_add_change(p, id, "quota_gb", o, n, false);
		}
		if (tier_changed)
			plan_add_change(p, id, "access_tier", tier, fs->access_tier, false);
		if (protect_changed)
			plan_add_change(p, id, "protect", protect, fs->protect ? "true" : "false", false);
	}
	/* Owned shares the spec no longer has: deleted only when they were declared protect: false
	 * (recorded in their metadata, since the spec no longer says). */
	const char *acct;
	json_t *items;
	json_object_foreach(st->shares, acct, items) {
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			const char *name = json_string_value(json_object_get(it, "name"));
			json_t *md = json_object_get(json_object_get(it, "properties"), "metadata");
			const char *owner = json_string_value(json_object_get(md, AZURE_TAG_OWNER));
			if (!name || !owner || strcmp(owner, m->name))
				continue;
			bool wanted = false;
			for (size_t j = 0; j < az->n_file_shares && !wanted; j++)
				wanted = !strcmp(az->file_shares[j].name, name) && !strcmp(az->file_shares[j].storage_account, acct);
			if (wanted)
				continue;
			const char *protect = json_string_value(json_object_get(md, AZURE_META_PROTECT));
			if (!protect || strcmp(protect, "false"))
				continue; /* protected: kept, whatever the spec says */
			azure_step *s = new_step(AZURE_FILE_SHARE, azure_share_path(m, acct, name), NULL);
			plan_add_step(p, PLAN_DELETE, "file share", name, "not in the spec (protect: false)", s);
		}
	}
}

static bool refs_have(const azure_step *s, const char *v)
{
	size_t i;
	json_t *r;
	json_array_foreach(s->refs, i, r) {
		if (json_string_value(r) && !strcasecmp(json_string_value(r), v))
			return true;
	}
	return false;
}

/* The order between providers: file shares before the groups that mount them; groups before the
 * endpoints that point at them; endpoints (and profiles) removed before the groups they point at
 * are deleted; a profile before its endpoints. */
static void order_azure(const struct spec_model *m, plan *p, size_t first)
{
	const spec_azure *az = &m->azure;
	for (size_t i = first; i < plan_count(p); i++) {
		const plan_step *st = plan_step_at(p, i);
		const azure_step *s = st->payload;
		if (s->kind == AZURE_CONTAINER_GROUP && st->action != PLAN_DELETE) {
			for (size_t g = 0; g < az->n_container_groups; g++) {
				const spec_container_group *cg = &az->container_groups[g];
				if (strcmp(cg->name, st->name))
					continue;
				for (size_t v = 0; v < cg->n_volumes; v++) {
					if (cg->volumes[v].kind != SPEC_CGVOL_FILE_SHARE)
						continue;
					size_t dep = azure_find_step(p, first, "file share", cg->volumes[v].file_share, false);
					if (dep != SIZE_MAX)
						plan_add_dep(p, i, dep);
				}
			}
		} else if (s->kind == AZURE_TM_ENDPOINT && st->action != PLAN_DELETE) {
			const char *group = json_string_value(json_array_get(s->refs, 0));
			size_t dep = group ? azure_find_step(p, first, AZURE_KIND_CG, group, false) : SIZE_MAX;
			if (dep != SIZE_MAX)
				plan_add_dep(p, i, dep);
			char *profile = strdup(st->name);
			char *slash = strchr(profile, '/');
			if (slash)
				*slash = '\0';
			dep = azure_find_step(p, first, AZURE_KIND_TM_PROFILE, profile, false);
			if (dep != SIZE_MAX)
				plan_add_dep(p, i, dep);
			free(profile);
		} else if (s->kind == AZURE_CONTAINER_GROUP && st->action == PLAN_DELETE) {
			const char *fqdn = json_string_value(json_array_get(s->refs, 0));
			if (!fqdn)
				continue;
			for (size_t j = first; j < plan_count(p); j++) {
				const plan_step *o = plan_step_at(p, j);
				const azure_step *os = o->payload;
				if (o->action == PLAN_DELETE && (os->kind == AZURE_TM_ENDPOINT || os->kind == AZURE_TM_PROFILE) &&
				    refs_have(os, fqdn))
					plan_add_dep(p, i, j);
			}
		}
	}
}

int azure_plan(const struct spec_model *m, const azure_state *st, plan *p, azure_plan_result *res, char **err)
{
	problems pr;
	problems_init(&pr);
	memset(res, 0, sizeof(*res));
	size_t first = plan_count(p);
	plan_scale_sets(m, st, p, res, &pr);
	plan_shares(m, st, p, &pr);
	aci_plan(m, st->container_groups, p, &pr);
	tm_plan(m, st->profiles, p, &pr);
	char *text = problems_finish(&pr);
	if (!text)
		order_azure(m, p, first);
	if (text) {
		/* No plan: the steps added so far are emptied (their payloads freed here), as the
		 * caller only takes over the payloads of a plan that was made. */
		for (size_t i = first; i < plan_count(p); i++) {
			azure_step_free(plan_step_at(p, i)->payload);
			plan_set_payload(p, i, NULL);
		}
		*err = text;
		return -1;
	}
	return 0;
}
