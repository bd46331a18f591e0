/* The Azure File share provider: one list call per storage account the spec names; shares are
 * created with PUT, changed (quota, access tier, protection) with PATCH, and deleted only when
 * berth owns them and they were declared `protect: false` (recorded in their metadata, since the
 * spec no longer says once they are gone from it).
 *
 * A share gives "fileshare <account>/<name>" to whatever mounts it (swarm volumes, container
 * groups); a delete removes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/common/azure_common.h"
#include "spec/spec.h"
#include "transport/arm.h"

typedef struct {
	json_t *shares; /* storage account name -> its shares (list items) */
} fileshare_observed;

static bool fileshare_wants(const struct spec_model *m)
{
	return m->azure.present && m->azure.n_file_shares > 0;
}

static unsigned fileshare_needs(const struct spec_model *m)
{
	(void)m;
	return BERTH_NEEDS_ARM;
}

static char *share_path(const struct spec_model *m, const char *account, const char *share)
{
	char *type = xasprintf("Microsoft.Storage/storageAccounts/%s/fileServices/default/shares", account);
	char *path = azure_resource_path(m, type, share);
	free(type);
	return path;
}

static void fileshare_observed_free(void *o)
{
	fileshare_observed *f = o;
	if (!f)
		return;
	json_decref(f->shares);
	free(f);
}

static int fileshare_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
			     berth_error *err)
{
	fileshare_observed *o = xcalloc(1, sizeof(*o));
	o->shares = json_object();
	for (size_t i = 0; i < m->azure.n_file_shares; i++) {
		const char *acct = m->azure.file_shares[i].storage_account;
		if (json_object_get(o->shares, acct))
			continue;
		char *path = share_path(m, acct, NULL), *msg = NULL;
		json_t *items = NULL;
		int rc = arm_list(env->arm, path, ARM_API_STORAGE, &items, &msg);
		free(path);
		if (rc != 0) {
			fileshare_observed_free(o);
			return azure_error(env->arm, rc, NULL, msg, err);
		}
		json_object_set_new(o->shares, acct, items);
	}
	*observed = o;
	*complete = true;
	return 0;
}

static char *fileshare_fingerprint(const void *observed)
{
	return azure_json_fingerprint(((const fileshare_observed *)observed)->shares);
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

static size_t add_share_step(plan *p, const struct spec_model *m, plan_action action, const spec_file_share *fs,
			     const char *reason)
{
	azure_step *s = azure_step_new(0, share_path(m, fs->storage_account, fs->name), share_body(m, fs), fs->name);
	size_t id = plan_add_step(p, action, "file share", fs->name, reason, s);
	plan_add_ref(p, id, PLAN_GIVES, "fileshare %s/%s", fs->storage_account, fs->name);
	return id;
}

static void plan_wanted(const struct spec_model *m, const fileshare_observed *o, plan *p, problems *pr)
{
	for (size_t i = 0; i < m->azure.n_file_shares; i++) {
		const spec_file_share *fs = &m->azure.file_shares[i];
		json_t *obs = azure_find_named(json_object_get(o->shares, fs->storage_account), fs->name);
		if (!obs) {
			size_t id = add_share_step(p, m, PLAN_CREATE, fs, NULL);
			plan_add_change(p, id, "storage_account", NULL, fs->storage_account, false);
			if (fs->quota_gb > 0) {
				char q[32];
				snprintf(q, sizeof(q), "%lld", (long long)fs->quota_gb);
				plan_add_change(p, id, "quota_gb", NULL, q, false);
			}
			if (fs->access_tier)
				plan_add_change(p, id, "access_tier", NULL, fs->access_tier, false);
			plan_add_change(p, id, "protect", NULL, fs->protect ? "true" : "false", false);
			continue;
		}
		json_t *props = json_object_get(obs, "properties");
		json_t *md = json_object_get(props, "metadata");
		const char *owner = json_string_value(json_object_get(md, AZURE_TAG_OWNER));
		if (!owner || strcmp(owner, m->name)) {
			problem(pr, "file share '%s' in storage account '%s' exists and %s; berth never adopts objects", fs->name,
				fs->storage_account,
				owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner metadata)");
			continue;
		}
		json_int_t quota = json_integer_value(json_object_get(props, "shareQuota"));
		const char *protect = json_string_value(json_object_get(md, AZURE_META_PROTECT));
		const char *tier = json_string_value(json_object_get(props, "accessTier"));
		bool quota_changed = fs->quota_gb > 0 && quota != fs->quota_gb;
		bool protect_changed = !protect || strcmp(protect, fs->protect ? "true" : "false");
		bool tier_changed = fs->access_tier && (!tier || strcmp(tier, fs->access_tier));
		if (!quota_changed && !protect_changed && !tier_changed)
			continue;
		size_t id = add_share_step(p, m, PLAN_UPDATE, fs,
					   quota_changed ? "quota changed" : tier_changed ? "access tier changed" : "protection changed");
		if (quota_changed) {
			char was[32], want[32];
			snprintf(was, sizeof(was), "%lld", (long long)quota);
			snprintf(want, sizeof(want), "%lld", (long long)fs->quota_gb);
			plan_add_change(p, id, "quota_gb", was, want, false);
		}
		if (tier_changed)
			plan_add_change(p, id, "access_tier", tier, fs->access_tier, false);
		if (protect_changed)
			plan_add_change(p, id, "protect", protect, fs->protect ? "true" : "false", false);
	}
}

/* Owned shares the spec no longer has: deleted only when they were declared protect: false. */
static void plan_unwanted(const struct spec_model *m, const fileshare_observed *o, plan *p)
{
	const char *acct;
	json_t *items;
	json_object_foreach(o->shares, acct, items) {
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			const char *name = json_string_value(json_object_get(it, "name"));
			json_t *md = json_object_get(json_object_get(it, "properties"), "metadata");
			const char *owner = json_string_value(json_object_get(md, AZURE_TAG_OWNER));
			if (!name || !owner || strcmp(owner, m->name))
				continue;
			bool wanted = false;
			for (size_t j = 0; j < m->azure.n_file_shares && !wanted; j++)
				wanted = !strcmp(m->azure.file_shares[j].name, name) &&
					 !strcmp(m->azure.file_shares[j].storage_account, acct);
			const char *protect = json_string_value(json_object_get(md, AZURE_META_PROTECT));
			if (wanted || !protect || strcmp(protect, "false"))
				continue; /* wanted, or protected: kept, whatever the spec says */
			azure_step *s = azure_step_new(0, share_path(m, acct, name), NULL, name);
			size_t id = plan_add_step(p, PLAN_DELETE, "file share", name, "not in the spec (protect: false)", s);
			plan_add_ref(p, id, PLAN_REMOVES, "fileshare %s/%s", acct, name);
		}
	}
}

static int fileshare_diff(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts,
			  plan *p, berth_error *err)
{
	(void)opts;
	problems pr;
	problems_init(&pr);
	plan_wanted(m, observed, p, &pr);
	if (complete)
		plan_unwanted(m, observed, p);
	return problems_to_error(&pr, err);
}

static int fileshare_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
			   berth_error *err)
{
	(void)m;
	azure_step *s = payload;
	if (plan_step_action(step) == PLAN_DELETE)
		return azure_delete(env->arm, s->path, ARM_API_STORAGE, true, err);
	arm_response r;
	char *msg = NULL;
	int rc = arm_call(env->arm, plan_step_action(step) == PLAN_CREATE ? "PUT" : "PATCH", s->path, ARM_API_STORAGE,
			  s->body, &r, &msg);
	rc = azure_error(env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	return rc;
}

const berth_provider berth_provider_fileshare = {
	.version = BERTH_PROVIDER_VERSION,
	.name = "fileshare",
	.wants = fileshare_wants,
	.needs = fileshare_needs,
	.observe = fileshare_observe,
	.fingerprint = fileshare_fingerprint,
	.diff = fileshare_diff,
	.apply = fileshare_apply,
	.observed_free = fileshare_observed_free,
	.free_payload = azure_step_free,
};
