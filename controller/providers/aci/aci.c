/* The container-group provider (Azure Container Instances): observe with one list call per
 * resource group, diff a normalised view of desired vs observed (providers/aci/aci_body.c), apply
 * with PUT (create, update in place) or DELETE then PUT (replace), then wait for the containers
 * to run. The secure values are read again at apply time and put only in the request body: never
 * in the plan, never in a message.
 *
 * A group gives "container_group <name>" and, with a DNS label, "fqdn <its FQDN>" to the Traffic
 * Manager endpoints that point at it; a delete removes them. Its Azure File volumes need
 * "fileshare <account>/<share>". */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/aci/aci_body.h"
#include "providers/aci/aci_rollout.h"
#include "providers/common/azure_common.h"

/* How long a created or updated group may take to have its containers running. */
#define ACI_RUN_TIMEOUT_S 600
#define ACI_RUN_POLL_S 2

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

static void plan_unwanted(const struct spec_model *m, json_t *observed, plan *p);
static void aci_observed_free(void *observed);
static void add_observed_share_refs(json_t *group, plan *p, size_t id);

static void plan_group_refs(const struct spec_model *m, const spec_container_group *g, plan *p, size_t id)
{
	plan_add_ref(p, id, PLAN_GIVES, "container_group %s", g->name);
	char *fqdn = spec_aci_fqdn(m, g);
	if (fqdn)
		plan_add_ref(p, id, PLAN_GIVES, "fqdn %s", fqdn);
	free(fqdn);
	for (size_t v = 0; v < g->n_volumes; v++) {
		const char *acct = g->volumes[v].kind == SPEC_CGVOL_FILE_SHARE
					   ? spec_file_share_account(m, g->volumes[v].file_share) : NULL;
		if (acct)
			plan_add_ref(p, id, PLAN_NEEDS, "fileshare %s/%s", acct, g->volumes[v].file_share);
	}
}

static void plan_wanted(const struct spec_model *m, json_t *observed, plan *p, problems *pr)
{
	const spec_azure *az = &m->azure;
	for (size_t i = 0; i < az->n_container_groups; i++) {
		const spec_container_group *g = &az->container_groups[i];
		if (g->rollout.present)
			continue; /* runs as revisions: aci_rollout.c */
		json_t *obs = azure_find_named(observed, g->name);
		const char *owner = obs ? tag_of(obs, AZURE_TAG_OWNER) : NULL;
		if (obs && (!owner || strcmp(owner, m->name))) {
			problem(pr, "container group '%s' exists in resource group '%s' and %s; berth never adopts objects",
				      g->name, az->resource_group,
				      owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner tag)");
			continue;
		}
		char *err = NULL;
		char *hash = aci_secure_hash(g, &err);
		if (!hash) {
			problem(pr, "container group '%s': %s", g->name, err);
			free(err);
			continue;
		}
		json_t *body = aci_desired_body(m, g, hash);
		azure_step *s = azure_step_new(0, azure_resource_path(m, ACI_TYPE, g->name), body, g->name);
		if (!obs) {
			size_t id = plan_add_step(p, PLAN_CREATE, ACI_KIND, g->name, NULL, s);
			plan_group_refs(m, g, p, id);
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
		size_t id = plan_add_step(p, forcing ? PLAN_REPLACE : PLAN_UPDATE, ACI_KIND, g->name, forcing_copy, s);
		plan_group_refs(m, g, p, id);
		add_observed_share_refs(obs, p, id);
		azure_diff_views(p, id, have, want, false);
		if (secure_changed)
			plan_add_change(p, id, "secure values", NULL, NULL, true);
		free(forcing_copy);
		json_decref(keys);
		json_decref(have);
		json_decref(want);
		free(hash);
	}
}

/* A group mounts its observed shares until its step ran (a delete, or an update that drops them):
 * whatever removes a share waits for it. */
static void add_observed_share_refs(json_t *group, plan *p, size_t id)
{
	size_t i;
	json_t *vol;
	json_array_foreach(json_object_get(json_object_get(group, "properties"), "volumes"), i, vol) {
		json_t *af = json_object_get(vol, "azureFile");
		const char *acct = json_string_value(json_object_get(af, "storageAccountName"));
		const char *share = json_string_value(json_object_get(af, "shareName"));
		if (acct && share)
			plan_add_ref(p, id, PLAN_NEEDS, "fileshare %s/%s", acct, share);
	}
}

/* Owned groups the spec no longer has are deleted; what points at them goes first. */
static void plan_unwanted(const struct spec_model *m, json_t *observed, plan *p)
{
	size_t i;
	json_t *it;
	json_array_foreach(observed, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *owner = azure_owner_of(it);
		if (!name || !owner || strcmp(owner, m->name) || aci_rollout_owns(m, it))
			continue;
		const spec_container_group *g = aci_find_group(m, name);
		/* A group that now has a rollout goes once its first revision serves. */
		bool now_rolled_out = g && g->rollout.present && !tag_of(it, ROLLOUT_TAG_GROUP_KEY);
		if (g && !now_rolled_out)
			continue;
		azure_step *s = azure_step_new(0, azure_resource_path(m, ACI_TYPE, name), NULL, name);
		size_t id = plan_add_step(p, PLAN_DELETE, ACI_KIND, name, now_rolled_out ? "replaced by revisions" : "not in the spec", s);
		if (now_rolled_out)
			plan_add_ref(p, id, PLAN_NEEDS, "rollout %s", name);
		plan_add_ref(p, id, PLAN_REMOVES, "container_group %s", name);
		const char *fqdn = json_string_value(json_object_get(json_object_get(json_object_get(it, "properties"), "ipAddress"), "fqdn"));
		if (fqdn)
			plan_add_ref(p, id, PLAN_REMOVES, "fqdn %s", fqdn);
		add_observed_share_refs(it, p, id);
	}
}

/* ---- apply ---------------------------------------------------------------------------------- */

/* Polls the group until its containers run, through the injected clock; a cancel ends the wait
 * within one poll. */
static int wait_running(const berth_env *env, const char *path, const char *name, berth_error *err)
{
	double deadline = berth_now(env->clock) + ACI_RUN_TIMEOUT_S;
	for (;;) {
		arm_response r;
		char *msg = NULL;
		int rc = arm_request(env->arm, "GET", path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &msg);
		if (rc != 0) {
			rc = azure_error(env->arm, rc, &r, msg, err);
			arm_response_free(&r);
			return rc;
		}
		bool failed = false;
		if (aci_all_running(r.body, &failed)) {
			arm_response_free(&r);
			return 0;
		}
		bool timeout = berth_now(env->clock) >= deadline;
		if (failed || timeout) {
			char *d = aci_describe_group(r.body);
			berth_error_set(err, failed ? BERTH_EFAILED : BERTH_ETIMEOUT, "container group %s %s: %s", name,
					failed ? "did not start" : "did not have its containers running in time", d);
			free(d);
			arm_response_free(&r);
			return err ? err->code : BERTH_EFAILED;
		}
		arm_response_free(&r);
		if (!berth_sleep(env->clock, ACI_RUN_POLL_S, env->cancel))
			return berth_error_set(err, BERTH_ECANCELED, "container group %s: cancelled while waiting for its containers",
					       name);
	}
}

static int aci_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
		     berth_error *err)
{
	azure_step *s = payload;
	arm *a = env->arm;
	plan_action action = plan_step_action(step);
	if (!strcmp(plan_step_kind(step), ACI_KIND_ROLLOUT))
		return aci_rollout_apply(env, m, step, err);
	if (action == PLAN_DELETE || action == PLAN_REPLACE) {
		int rc = azure_delete(a, s->path, ARM_API_CONTAINER_INSTANCE, true, err);
		if (rc != 0 || action == PLAN_DELETE)
			return rc;
	}
	char *msg = NULL;
	json_t *body = aci_body_with_secrets(a, m, s, &msg);
	if (!body)
		return azure_error(a, -1, NULL, msg, err);
	arm_response r;
	int rc = arm_call(a, "PUT", s->path, ARM_API_CONTAINER_INSTANCE, body, &r, &msg);
	aci_wipe_secrets(body);
	json_decref(body);
	/* The operation's final read often shows the containers running already. */
	bool failed = false;
	bool running = rc == 0 && aci_all_running(r.body, &failed);
	if (rc != 0) {
		rc = azure_error(a, rc, &r, msg, err);
		arm_response_free(&r);
		if (rc == BERTH_ECANCELED)
			return rc;
		/* Say what state the group was left in, with its events, if it can be read. */
		char *ignored = NULL;
		arm_response g;
		if (arm_request(a, "GET", s->path, ARM_API_CONTAINER_INSTANCE, NULL, &g, &ignored) == 0) {
			char *d = aci_describe_group(g.body);
			char *e = xasprintf("%s; %s", err ? err->message : "", d);
			berth_error_take(err, rc, e);
			free(d);
		}
		free(ignored);
		arm_response_free(&g);
		return rc;
	}
	arm_response_free(&r);
	if (running)
		return 0;
	return wait_running(env, s->path, s->name, err);
}

/* ---- observe, and the provider ---- */

static bool aci_wants(const struct spec_model *m)
{
	return azure_section_active(m);
}

static unsigned aci_needs(const struct spec_model *m)
{
	(void)m;
	return BERTH_NEEDS_ARM;
}

/* Observed groups keep their instance view: health gates read it. */
static int aci_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
		       berth_error *err)
{
	char *path = azure_resource_path(m, ACI_TYPE, NULL), *msg = NULL;
	json_t *items = NULL;
	int rc = arm_list(env->arm, path, ARM_API_CONTAINER_INSTANCE, &items, &msg);
	free(path);
	if (rc != 0)
		return azure_error(env->arm, rc, NULL, msg, err);
	aci_observed *o = xcalloc(1, sizeof(*o));
	o->groups = items;
	o->wall = berth_wall(env->clock);
	rc = aci_rollout_observe(env, m, o, err);
	if (rc != 0) {
		aci_observed_free(o);
		return rc;
	}
	*observed = o;
	*complete = true;
	return 0;
}

/* Per-poll details that change by themselves (the instance view, monitor statuses) are not
 * part of it. */
static char *aci_fingerprint(const void *observed)
{
	const aci_observed *o = observed;
	json_t *copy = json_deep_copy(o->groups);
	size_t i;
	json_t *g;
	json_array_foreach(copy, i, g) {
		json_t *props = json_object_get(g, "properties");
		json_object_del(props, "instanceView");
		json_t *c;
		size_t k;
		json_array_foreach(json_object_get(props, "containers"), k, c)
			json_object_del(json_object_get(c, "properties"), "instanceView");
	}
	json_t *profiles = json_deep_copy(o->profiles);
	const char *k;
	json_t *pr;
	json_object_foreach(profiles, k, pr) {
		json_t *props = json_object_get(pr, "properties");
		json_object_del(json_object_get(props, "monitorConfig"), "profileMonitorStatus");
		json_t *e;
		json_array_foreach(json_object_get(props, "endpoints"), i, e)
			json_object_del(json_object_get(e, "properties"), "endpointMonitorStatus");
	}
	json_t *both = json_pack("{s:o, s:o}", "groups", copy, "profiles", profiles);
	char *fp = azure_json_fingerprint(both);
	json_decref(both);
	return fp;
}

static int aci_diff(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts,
		    plan *p, berth_error *err)
{
	(void)opts;
	problems pr;
	problems_init(&pr);
	const aci_observed *o = observed;
	plan_wanted(m, o->groups, p, &pr);
	aci_rollout_diff(m, o, p, &pr);
	if (complete)
		plan_unwanted(m, o->groups, p);
	return problems_to_error(&pr, err);
}

static void aci_observed_free(void *observed)
{
	aci_observed *o = observed;
	if (!o)
		return;
	json_decref(o->groups);
	json_decref(o->profiles);
	free(o);
}

/* A container group without a rollout, for the status page: its states and containers (name,
 * image, state, restarts; never an environment value). */
static json_t *group_status(const spec_container_group *g, json_t *obs)
{
	json_t *props = json_object_get(obs, "properties");
	json_t *st = json_pack("{s:s, s:s, s:b}", "kind", "container_group", "name", g->name, "exists", obs != NULL);
	json_t *v = json_object_get(props, "provisioningState");
	if (json_is_string(v))
		json_object_set(st, "provisioning", v);
	v = json_object_get(json_object_get(props, "instanceView"), "state");
	if (json_is_string(v))
		json_object_set(st, "state", v);
	v = json_object_get(json_object_get(props, "ipAddress"), "fqdn");
	if (json_is_string(v))
		json_object_set(st, "fqdn", v);
	json_t *cs = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(props, "containers"), i, c) {
		json_t *cp = json_object_get(c, "properties");
		json_t *iv = json_object_get(cp, "instanceView");
		const char *state = json_string_value(json_object_get(json_object_get(iv, "currentState"), "state"));
		json_array_append_new(cs, json_pack("{s:s?, s:s?, s:s?, s:I}", "name", json_string_value(json_object_get(c, "name")),
						    "image", json_string_value(json_object_get(cp, "image")), "state", state,
						    "restarts", json_integer_value(json_object_get(iv, "restartCount"))));
	}
	json_object_set_new(st, "containers", cs);
	return st;
}

/* The rollouts, then the groups without one. */
static char *aci_status(const struct spec_model *m, const void *observed, double wall)
{
	const aci_observed *o = observed;
	char *text = aci_rollout_status(m, o, wall);
	json_t *all = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	if (!json_is_array(all)) {
		json_decref(all);
		all = json_array();
	}
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!g->rollout.present)
			json_array_append_new(all, group_status(g, azure_find_named(o->groups, g->name)));
	}
	text = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	return text;
}

const berth_provider berth_provider_aci = {
	.version = BERTH_PROVIDER_VERSION,
	.name = "aci",
	.wants = aci_wants,
	.needs = aci_needs,
	.observe = aci_observe,
	.fingerprint = aci_fingerprint,
	.diff = aci_diff,
	.apply = aci_apply,
	.observed_free = aci_observed_free,
	.free_payload = azure_step_free,
	.status = aci_status,
	.command = aci_rollout_command,
};
