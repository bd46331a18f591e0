/* Rollouts of container groups through Traffic Manager weights (issue 9): the live side of
 * rollout/rollout.h. A rolled-out group runs as revisions "<name>-<rev>" (dns label
 * "<label>-<rev>", tagged berth-group and berth-revision) behind externalEndpoints of the same
 * names in its profile; progress is the profile's berth-rollout tag.
 *
 * The plan has one "rollout" step per group that is not where the spec wants it. Applying it is a
 * loop: observe (one list of groups, one GET of the profile, one GET of the new revision), decide
 * (rollout_next), do the one write decided, again. berth apply waits out pauses in the loop;
 * berth run stops at the first wait and asks to be requeued when it ends. */
#include "providers/aci/aci_rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/digest.h"
#include "providers/aci/aci_body.h"
#include "providers/common/azure_common.h"
#include "rollout/rollout.h"
#include "transport/arm.h"
#include "transport/probe.h"

#define TM_TYPE "Microsoft.Network/trafficmanagerprofiles"
#define ROLLOUT_TAG_PROFILE "berth-profile"
#define ROLLOUT_MAX_REVS 16
#define PROBE_TIMEOUT_S 5

static const char *tag_of(json_t *obj, const char *tag)
{
	return json_string_value(json_object_get(json_object_get(obj, "tags"), tag));
}

/* The revision of g: a digest of the body berth would create (tags aside) and of its secure
 * values' hash, so a changed secret is a new revision too. NULL with *err. */
static char *revision_of(const struct spec_model *m, const spec_container_group *g, char **err)
{
	char *hash = aci_secure_hash(g, err);
	if (!hash)
		return NULL;
	json_t *body = aci_desired_body(m, g, hash);
	json_object_del(body, "tags");
	char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
	berth_sha256 *h = berth_sha256_new();
	berth_sha256_field(h, text, strlen(text));
	berth_sha256_field(h, hash, strlen(hash));
	char hex[BERTH_SHA256_HEX];
	berth_sha256_final_hex(h, hex);
	free(text);
	free(hash);
	json_decref(body);
	hex[ROLLOUT_REV_LEN] = 0;
	return xstrdup(hex);
}

static char *revision_name(const spec_container_group *g, const char *rev)
{
	return xasprintf("%s-%s", g->name, rev);
}

static char *revision_fqdn(const struct spec_model *m, const spec_container_group *g, const char *rev)
{
	char *f = spec_aci_fqdn(m, g);
	if (!f)
		return NULL;
	size_t n = strlen(g->dns_label);
	char *out = xasprintf("%.*s-%s%s", (int)n, f, rev, f + n);
	free(f);
	return out;
}

static const spec_container_group *rollout_group(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (g->rollout.present && !strcasecmp(g->name, name))
			return g;
	}
	return NULL;
}

bool aci_rollout_owns(const struct spec_model *m, json_t *group)
{
	const char *owner = tag_of(group, AZURE_TAG_OWNER), *of = tag_of(group, ROLLOUT_TAG_GROUP);
	return owner && of && tag_of(group, ROLLOUT_TAG_REVISION) && !strcmp(owner, m->name) && rollout_group(m, of);
}

/* ---- observing ---- */

static int get_profile(arm *a, const struct spec_model *m, const char *name, json_t **out, berth_error *err)
{
	*out = NULL;
	char *path = azure_resource_path(m, TM_TYPE, name), *msg = NULL;
	arm_response r;
	int rc = arm_request(a, "GET", path, ARM_API_TRAFFIC_MANAGER, NULL, &r, &msg);
	free(path);
	if (rc == 0) {
		*out = json_incref(r.body);
	} else if (r.status == 404) {
		rc = 0;
		free(msg);
	} else {
		rc = azure_error(a, rc, &r, msg, err);
	}
	arm_response_free(&r);
	return rc;
}

/* Replaces the list item of the group named name in groups by a GET of it (a list may leave out
 * the instance view, which health reads); a group gone meanwhile leaves the list. */
static int read_whole(arm *a, const struct spec_model *m, json_t *groups, const char *name, berth_error *err)
{
	size_t i;
	json_t *it;
	json_array_foreach(groups, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		if (!n || strcasecmp(n, name))
			continue;
		char *path = azure_resource_path(m, ACI_TYPE, name), *msg = NULL;
		arm_response r;
		int rc = arm_request(a, "GET", path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &msg);
		free(path);
		if (rc == 0)
			json_array_set(groups, i, r.body);
		else if (r.status == 404)
			json_array_remove(groups, i), rc = 0, free(msg);
		else
			rc = azure_error(a, rc, &r, msg, err);
		arm_response_free(&r);
		return rc;
	}
	return 0;
}

/* The revision a profile's tag says is rolling out for g, or NULL. */
static const char *in_flight(const spec_container_group *g, json_t *profile, rollout_tag *t)
{
	if (!profile || !rollout_tag_parse(tag_of(profile, ROLLOUT_TAG), t) || strcasecmp(t->group, g->name) ||
	    t->phase != ROLLOUT_PROGRESSING)
		return NULL;
	return t->rev;
}

int aci_rollout_observe(const berth_env *env, const struct spec_model *m, aci_observed *o, berth_error *err)
{
	o->profiles = json_object();
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!g->rollout.present || json_object_get(o->profiles, g->rollout.traffic_manager))
			continue;
		json_t *p = NULL;
		int rc = get_profile(env->arm, m, g->rollout.traffic_manager, &p, err);
		if (rc != 0)
			return rc;
		if (!p)
			continue;
		json_object_set_new(o->profiles, g->rollout.traffic_manager, p);
		rollout_tag t;
		const char *rev = in_flight(g, p, &t);
		if (rev) {
			char *name = revision_name(g, rev);
			rc = read_whole(env->arm, m, o->groups, name, err);
			free(name);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* The live revisions of g (groups and endpoints) and the rollout tag, as rollout.h reads them. */
typedef struct live {
	rollout_revision revs[ROLLOUT_MAX_REVS];
	size_t n;
	rollout_view v;
	char desired[ROLLOUT_REV_LEN + 1];
} live;

static rollout_revision *live_rev(live *l, const char *rev)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->revs[i].rev, rev))
			return &l->revs[i];
	if (l->n == ROLLOUT_MAX_REVS)
		return NULL;
	rollout_revision *r = &l->revs[l->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->rev, sizeof(r->rev), "%s", rev);
	return r;
}

static int restarts_of(json_t *group)
{
	int most = 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_object_get(group, "properties"), "containers"), i, c) {
		json_t *n = json_object_get(json_object_get(json_object_get(c, "properties"), "instanceView"), "restartCount");
		if (json_is_integer(n) && json_integer_value(n) > most)
			most = (int)json_integer_value(n);
	}
	return most;
}

static void live_group(live *l, json_t *grp)
{
	rollout_revision *r = live_rev(l, tag_of(grp, ROLLOUT_TAG_REVISION));
	if (!r)
		return;
	r->group = true;
	bool failed = false;
	r->running = aci_all_running(grp, &failed);
	r->failed = failed;
	r->restarts = restarts_of(grp);
}

static void build_live(const struct spec_model *m, const spec_container_group *g, json_t *groups, json_t *profile,
		       const char *desired, double now, live *l)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->desired, sizeof(l->desired), "%s", desired);
	size_t i;
	json_t *it;
	json_array_foreach(groups, i, it) {
		const char *owner = tag_of(it, AZURE_TAG_OWNER), *of = tag_of(it, ROLLOUT_TAG_GROUP);
		const char *rev = tag_of(it, ROLLOUT_TAG_REVISION);
		if (owner && of && rev && !strcmp(owner, m->name) && !strcasecmp(of, g->name) && strlen(rev) == ROLLOUT_REV_LEN)
			live_group(l, it);
	}
	json_array_foreach(json_object_get(json_object_get(profile, "properties"), "endpoints"), i, it) {
		const char *rev = rollout_endpoint_revision(g->name, json_string_value(json_object_get(it, "name")));
		rollout_revision *r = rev ? live_rev(l, rev) : NULL;
		if (!r)
			continue;
		json_t *props = json_object_get(it, "properties");
		r->endpoint = true;
		json_t *w = json_object_get(props, "weight");
		r->weight = json_is_integer(w) ? (int)json_integer_value(w) : 1;
		r->monitor = json_string_value(json_object_get(props, "endpointMonitorStatus"));
	}
	l->v = (rollout_view){.group = g->name, .desired = l->desired, .revs = l->revs, .n_revs = l->n, .now = now};
	const char *t = profile ? tag_of(profile, ROLLOUT_TAG) : NULL;
	l->v.has_tag = rollout_tag_parse(t, &l->v.tag);
}

/* "8be04d1 500 / 3f2a91c 500" */
static char *weights_text(const live *l)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < l->n; i++) {
		if (!l->revs[i].endpoint)
			continue;
		char *next = xasprintf("%s%s%s %d", s, *s ? " / " : "", l->revs[i].rev, l->revs[i].weight);
		free(s);
		s = next;
	}
	return s;
}

/* ---- planning ---- */

static void add_sub_steps(plan *p, size_t id, const rollout_cfg *cfg, const char *from, const char *to)
{
	for (int k = 0; k < cfg->n_steps; k++) {
		int nw, ow;
		rollout_step_weights(cfg, k, &nw, &ow);
		char field[32], value[160];
		snprintf(field, sizeof(field), "step %d", k + 1);
		if (ow > 0)
			snprintf(value, sizeof(value), "%d%%: %s %d / %s %d, pause %.0fs once healthy", cfg->weight[k], to, nw,
				 from, ow, cfg->pause[k]);
		else
			snprintf(value, sizeof(value), "100%%: %s %d, endpoint of %s removed, then its group", to, nw,
				 from && *from ? from : "(none)");
		plan_add_change(p, id, field, NULL, value, false);
	}
}

void aci_rollout_diff(const struct spec_model *m, const aci_observed *o, plan *p, problems *pr)
{
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!g->rollout.present)
			continue;
		char *err = NULL;
		char *desired = revision_of(m, g, &err);
		if (!desired) {
			problem(pr, "container group '%s': %s", g->name, err);
			free(err);
			continue;
		}
		json_t *profile = json_object_get(o->profiles, g->rollout.traffic_manager);
		live l;
		build_live(m, g, o->groups, profile, desired, o->wall, &l);
		rollout_cfg cfg;
		rollout_cfg_from_spec(m, g, &cfg);
		rollout_action a;
		rollout_next(&cfg, &l.v, &a);
		if (a.op == RO_NOTHING) {
			free(desired);
			continue;
		}
		if (a.op == RO_BLOCKED || a.op == RO_ERROR) {
			plan_add_note(p, "rollout %s: %s", g->name, a.why);
			free(desired);
			continue;
		}
		const char *stable = rollout_stable(&l.v);
		const rollout_tag *t = l.v.has_tag && !strcmp(l.v.tag.group, g->name) ? &l.v.tag : NULL;
		bool moving = t && (t->phase == ROLLOUT_PROGRESSING || t->phase == ROLLOUT_ROLLING_BACK);
		const char *from = moving ? t->from : stable, *to = moving ? t->rev : desired;
		char *reason;
		plan_action action = PLAN_UPDATE;
		if (!*stable && !moving) {
			action = PLAN_CREATE;
			reason = xasprintf("first revision %s, all traffic", desired);
		} else if (!moving && !strcmp(stable, desired)) {
			reason = xasprintf("%s: %s", desired, a.why);
		} else {
			reason = rollout_describe(&cfg, from, to);
		}
		azure_step *s = azure_step_new(0, azure_resource_path(m, TM_TYPE, g->rollout.traffic_manager), NULL, g->name);
		size_t id = plan_add_step(p, action, ACI_KIND_ROLLOUT, g->name, reason, s);
		free(reason);
		if (moving && t->phase == ROLLOUT_ROLLING_BACK) {
			plan_add_change(p, id, "rollback", t->rev, from, false);
		} else if (moving && strcmp(t->rev, desired)) {
			plan_add_change(p, id, "abandon", t->rev, "traffic back to the stable revision", false);
			add_sub_steps(p, id, &cfg, from, desired);
		} else if (moving) {
			char *w = weights_text(&l);
			plan_add_change(p, id, "now", w, a.why, false);
			free(w);
		} else if (!*stable) {
			plan_add_change(p, id, "revision", NULL, desired, false);
		} else if (strcmp(stable, desired)) {
			plan_add_change(p, id, "revision", stable, desired, false);
			add_sub_steps(p, id, &cfg, stable, desired);
		} else {
			plan_add_change(p, id, "now", NULL, a.why, false);
		}
		plan_add_ref(p, id, PLAN_NEEDS, "tm_profile %s", g->rollout.traffic_manager);
		plan_add_ref(p, id, PLAN_GIVES, "rollout %s", g->name);
		plan_add_ref(p, id, PLAN_GIVES, "container_group %s", g->name);
		for (size_t v = 0; v < g->n_volumes; v++) {
			const char *acct = g->volumes[v].kind == SPEC_CGVOL_FILE_SHARE
						   ? spec_file_share_account(m, g->volumes[v].file_share) : NULL;
			if (acct)
				plan_add_ref(p, id, PLAN_NEEDS, "fileshare %s/%s", acct, g->volumes[v].file_share);
		}
		free(desired);
	}
}

/* ---- applying ---- */

typedef struct driver {
	const berth_env *env;
	const struct spec_model *m;
	const spec_container_group *g;
	const plan_step *step;
	rollout_cfg cfg;
	char *desired;
	char *profile_path;
	json_t *profile; /* as last read */
	bool rolled_back;       /* this run started a rollback for a failure */
	char failure[sizeof(((rollout_tag *)0)->reason)];
	int failed_step;
	bool until_rolled_back; /* an abort: stop once the rollback is over */
	bool saw_rollback;      /* this revision was seen in flight: if it ends failed, someone else (an
				 * abort, another replica) rolled it back while this run drove it */
	char last_why[256];
} driver;

static int observe_live(driver *d, live *l, berth_error *err)
{
	arm *a = d->env->arm;
	json_decref(d->profile);
	d->profile = NULL;
	int rc = get_profile(a, d->m, d->g->rollout.traffic_manager, &d->profile, err);
	if (rc != 0)
		return rc;
	if (!d->profile)
		return berth_error_set(err, BERTH_ENOTFOUND, "rollout %s: Traffic Manager profile %s does not exist",
				       d->g->name, d->g->rollout.traffic_manager);
	char *path = azure_resource_path(d->m, ACI_TYPE, NULL), *msg = NULL;
	json_t *groups = NULL;
	rc = arm_list(a, path, ARM_API_CONTAINER_INSTANCE, &groups, &msg);
	free(path);
	if (rc != 0)
		return azure_error(a, rc, NULL, msg, err);
	/* The revision being rolled out (or about to be) is read whole. */
	rollout_tag t;
	const char *rev = in_flight(d->g, d->profile, &t);
	char *name = revision_name(d->g, rev ? rev : d->desired);
	rc = read_whole(a, d->m, groups, name, err);
	free(name);
	if (rc == 0)
		build_live(d->m, d->g, groups, d->profile, d->desired, berth_wall(d->env->clock), l);
	json_decref(groups);
	return rc;
}

static int write_tag(driver *d, const rollout_tag *t, berth_error *err)
{
	json_t *tags = json_deep_copy(json_object_get(d->profile, "tags"));
	if (!json_is_object(tags)) {
		json_decref(tags);
		tags = json_object();
	}
	char *v = rollout_tag_format(t);
	json_object_set_new(tags, ROLLOUT_TAG, json_string(v));
	free(v);
	json_t *body = json_pack("{s:o}", "tags", tags);
	arm_response r;
	char *msg = NULL;
	int rc = arm_request(d->env->arm, "PATCH", d->profile_path, ARM_API_TRAFFIC_MANAGER, body, &r, &msg);
	json_decref(body);
	rc = azure_error(d->env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	return rc;
}

static char *endpoint_path(const driver *d, const char *rev)
{
	return xasprintf("%s/externalEndpoints/%s-%s", d->profile_path, d->g->name, rev);
}

static int set_weight(driver *d, const char *rev, int weight, berth_error *err)
{
	char *fqdn = revision_fqdn(d->m, d->g, rev);
	char *path = endpoint_path(d, rev);
	json_t *body = json_pack("{s:{s:s, s:i, s:s}}", "properties", "target", fqdn, "weight", weight, "endpointStatus",
				 "Enabled");
	arm_response r;
	char *msg = NULL;
	int rc = arm_request(d->env->arm, "PUT", path, ARM_API_TRAFFIC_MANAGER, body, &r, &msg);
	rc = azure_error(d->env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	json_decref(body);
	free(path);
	free(fqdn);
	return rc;
}

static int create_revision(driver *d, const char *rev, berth_error *err)
{
	if (strcmp(rev, d->desired))
		return berth_error_set(err, BERTH_EFAILED, "rollout %s: revision %s is not the spec's (%s)", d->g->name, rev,
				       d->desired);
	char *msg = NULL;
	char *hash = aci_secure_hash(d->g, &msg);
	if (!hash)
		return azure_error(d->env->arm, -1, NULL, msg, err);
	json_t *body = aci_desired_body(d->m, d->g, hash);
	free(hash);
	char *label = xasprintf("%s-%s", d->g->dns_label, rev);
	json_object_set_new(json_object_get(json_object_get(body, "properties"), "ipAddress"), "dnsNameLabel",
			    json_string(label));
	free(label);
	json_t *tags = json_object_get(body, "tags");
	json_object_set_new(tags, ROLLOUT_TAG_GROUP, json_string(d->g->name));
	json_object_set_new(tags, ROLLOUT_TAG_REVISION, json_string(rev));
	json_object_set_new(tags, ROLLOUT_TAG_PROFILE, json_string(d->g->rollout.traffic_manager));
	char *name = revision_name(d->g, rev);
	azure_step *s = azure_step_new(0, azure_resource_path(d->m, ACI_TYPE, name), body, d->g->name);
	free(name);
	json_t *full = aci_body_with_secrets(d->env->arm, d->m, s, &msg);
	int rc;
	if (!full) {
		rc = azure_error(d->env->arm, -1, NULL, msg, err);
	} else {
		arm_response r;
		rc = arm_call(d->env->arm, "PUT", s->path, ARM_API_CONTAINER_INSTANCE, full, &r, &msg);
		aci_wipe_secrets(full);
		json_decref(full);
		rc = azure_error(d->env->arm, rc, &r, msg, err);
		arm_response_free(&r);
	}
	azure_step_free(s);
	return rc;
}

static void progress(driver *d, const live *l, const char *why)
{
	if (!strcmp(why, d->last_why))
		return;
	snprintf(d->last_why, sizeof(d->last_why), "%s", why);
	char *w = weights_text(l);
	berth_emitf(d->env->events, d->step ? BERTH_EV_STEP_PROGRESS : BERTH_EV_INFO, d->env->plan, d->step,
		    "rollout %s: %s%s%s%s", d->g->name, why,
		    *w ? " [weights " : "", w, *w ? "]" : "");
	free(w);
}

static int probe(driver *d, const live *l)
{
	const rollout_tag *t = &l->v.tag;
	if (!d->cfg.probe || !l->v.has_tag || t->phase != ROLLOUT_PROGRESSING)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->revs[i].rev, t->rev) || !l->revs[i].running)
			continue;
		char *fqdn = revision_fqdn(d->m, d->g, t->rev);
		const spec_rollout *r = &d->g->rollout;
		char *url = xasprintf("http://%s:%lld%s", fqdn, (long long)(r->probe_port > 0 ? r->probe_port : 80),
				      r->probe_path ? r->probe_path : "/");
		int status = probe_http(url, d->env->opts ? d->env->opts->probe_connect_to : NULL, PROBE_TIMEOUT_S,
					d->env->cancel);
		free(url);
		free(fqdn);
		return status;
	}
	return 0;
}

/* A structured event when a tag write starts a new step or a rollback (for notifications). */
static void announce(driver *d, const rollout_view *v, const rollout_tag *t, bool failed_now)
{
	bool new_step = t->phase == ROLLOUT_PROGRESSING && t->step >= 0 &&
			(!v->has_tag || v->tag.phase != ROLLOUT_PROGRESSING || v->tag.step != t->step || strcmp(v->tag.rev, t->rev));
	if (!new_step && !failed_now)
		return;
	berth_rollout_event re = {.group = d->g->name, .revision = t->rev, .step = t->step + 1, .steps = d->cfg.n_steps,
				  .reason = failed_now ? t->reason : NULL, .from = failed_now ? t->from : NULL};
	berth_emit(d->env->events, &(berth_event){.kind = BERTH_EV_ROLLOUT, .plan = d->env->plan, .step = d->step, .rollout = &re});
}

/* One observe-decide-act round; *done once nothing is left for now. */
static int round_once(driver *d, bool wait, bool *done, berth_error *err)
{
	live l;
	int rc = observe_live(d, &l, err);
	if (rc != 0)
		return rc;
	l.v.probe = probe(d, &l);
	if (l.v.has_tag && (l.v.tag.phase == ROLLOUT_ROLLING_BACK || l.v.tag.phase == ROLLOUT_PROGRESSING) &&
	    !strcmp(l.v.tag.rev, d->desired))
		d->saw_rollback = true;
	if (d->saw_rollback && !d->rolled_back && l.v.has_tag && l.v.tag.phase == ROLLOUT_FAILED &&
	    !strcmp(l.v.tag.rev, d->desired)) {
		d->failed_step = l.v.tag.step;
		snprintf(d->failure, sizeof(d->failure), "%s", l.v.tag.reason);
	}
	if (d->until_rolled_back && l.v.has_tag && l.v.tag.phase == ROLLOUT_FAILED) {
		*done = true;
		progress(d, &l, "rolled back");
		return 0;
	}
	rollout_action a;
	rollout_next(&d->cfg, &l.v, &a);
	*done = false;
	switch (a.op) {
	case RO_NOTHING:
		*done = true;
		progress(d, &l, "done");
		return 0;
	case RO_BLOCKED:
		*done = true;
		if (d->rolled_back || d->saw_rollback)
			return berth_error_set(err, BERTH_EFAILED,
					       "rollout %s failed at step %d/%d: %s; rolled back, traffic is on %s", d->g->name,
					       d->failed_step + 1, d->cfg.n_steps, d->failure, l.v.tag.from);
		progress(d, &l, a.why);
		return 0;
	case RO_ERROR:
		*done = true;
		return berth_error_set(err, BERTH_EFAILED, "rollout %s: %s", d->g->name, a.why);
	case RO_WAIT:
		progress(d, &l, a.why);
		if (!wait) {
			*done = true;
			if (d->env->requeue)
				d->env->requeue(d->env->requeue_ctx, a.wait_s);
			return 0;
		}
		if (!berth_sleep(d->env->clock, a.wait_s, d->env->cancel))
			return berth_error_set(err, BERTH_ECANCELED, "rollout %s: cancelled (progress is kept on the profile)",
					       d->g->name);
		return 0;
	case RO_TAG:
		if (a.failed_now) {
			d->rolled_back = true;
			d->failed_step = a.tag.step;
			snprintf(d->failure, sizeof(d->failure), "%s", a.tag.reason);
			berth_emitf(d->env->events, BERTH_EV_WARNING, d->env->plan, d->step, "rollout %s: %s; rolling back to %s",
				    d->g->name, a.tag.reason, a.tag.from);
		}
		progress(d, &l, a.why);
		rc = write_tag(d, &a.tag, err);
		if (rc == 0)
			announce(d, &l.v, &a.tag, a.failed_now);
		return rc;
	case RO_CREATE:
		progress(d, &l, a.why);
		return create_revision(d, a.rev, err);
	case RO_WEIGHT:
		progress(d, &l, a.why);
		return set_weight(d, a.rev, a.weight, err);
	case RO_UNROUTE: {
		progress(d, &l, a.why);
		char *path = endpoint_path(d, a.rev);
		rc = azure_delete(d->env->arm, path, ARM_API_TRAFFIC_MANAGER, false, err);
		free(path);
		return rc;
	}
	case RO_DELETE: {
		progress(d, &l, a.why);
		char *name = revision_name(d->g, a.rev);
		char *path = azure_resource_path(d->m, ACI_TYPE, name);
		rc = azure_delete(d->env->arm, path, ARM_API_CONTAINER_INSTANCE, true, err);
		free(path);
		free(name);
		return rc;
	}
	}
	return 0;
}

static int drive(const berth_env *env, const struct spec_model *m, const spec_container_group *g,
		 const plan_step *step, bool wait, bool until_rolled_back, berth_error *err)
{
	char *msg = NULL;
	driver d = {.env = env, .m = m, .g = g, .step = step, .until_rolled_back = until_rolled_back};
	d.desired = revision_of(m, g, &msg);
	if (!d.desired)
		return azure_error(env->arm, -1, NULL, msg, err);
	rollout_cfg_from_spec(m, g, &d.cfg);
	d.profile_path = azure_resource_path(m, TM_TYPE, g->rollout.traffic_manager);
	int rc = 0;
	bool done = false;
	/* Bounded: each round writes at most one thing or waits; a runaway loop is a bug, not a wait. */
	for (long rounds = 0; rc == 0 && !done; rounds++) {
		if (berth_cancel_fired(env->cancel)) {
			rc = berth_error_set(err, BERTH_ECANCELED, "rollout %s: cancelled (progress is kept on the profile)",
					     g->name);
			break;
		}
		if (rounds > 100000) {
			rc = berth_error_set(err, BERTH_EFAILED, "rollout %s: no progress after %ld rounds", g->name, rounds);
			break;
		}
		rc = round_once(&d, wait, &done, err);
	}
	json_decref(d.profile);
	free(d.profile_path);
	free(d.desired);
	return rc;
}

int aci_rollout_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, berth_error *err)
{
	const spec_container_group *g = rollout_group(m, plan_step_name(step));
	if (!g)
		return berth_error_set(err, BERTH_EFAILED, "rollout %s: the group has no rollout in the spec",
				       plan_step_name(step));
	return drive(env, m, g, step, env->opts && env->opts->rollout_wait, false, err);
}

/* ---- status and commands ---- */

char *aci_rollout_status(const struct spec_model *m, const aci_observed *o, double wall)
{
	json_t *out = json_array();
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!g->rollout.present)
			continue;
		char *err = NULL;
		char *desired = revision_of(m, g, &err);
		free(err);
		json_t *profile = json_object_get(o->profiles, g->rollout.traffic_manager);
		live l;
		build_live(m, g, o->groups, profile, desired ? desired : "", wall, &l);
		rollout_cfg cfg;
		rollout_cfg_from_spec(m, g, &cfg);
		rollout_action a;
		rollout_next(&cfg, &l.v, &a);
		const rollout_tag *t = l.v.has_tag && !strcmp(l.v.tag.group, g->name) ? &l.v.tag : NULL;
		json_t *weights = json_object(), *monitor = json_object(), *revs = json_array();
		for (size_t k = 0; k < l.n; k++) {
			const rollout_revision *r = &l.revs[k];
			json_array_append_new(revs, json_pack("{s:s, s:b, s:b, s:i, s:b, s:i, s:s?}", "revision", r->rev, "group",
							      r->group, "running", r->running, "restarts", r->restarts,
							      "endpoint", r->endpoint, "weight", r->endpoint ? r->weight : 0,
							      "monitor", r->monitor));
			if (r->endpoint) {
				json_object_set_new(weights, r->rev, json_integer(r->weight));
				if (r->monitor)
					json_object_set_new(monitor, r->rev, json_string(r->monitor));
			}
		}
		json_t *steps = json_array();
		for (int k = 0; k < cfg.n_steps; k++)
			json_array_append_new(steps, json_integer(cfg.weight[k]));
		json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s}", "kind", "rollout", "group",
				       g->name, "profile", g->rollout.traffic_manager, "phase",
				       rollout_phase_name(t ? t->phase : ROLLOUT_NONE), "stable", rollout_stable(&l.v),
				       "weights", weights, "monitor", monitor, "revisions", revs, "steps", steps, "next",
				       a.op == RO_NOTHING ? "nothing: the spec's revision serves" : a.why);
		json_object_set_new(st, "desired", desired ? json_string(desired) : json_null());
		if (t) {
			json_object_set_new(st, "revision", json_string(t->rev));
			json_object_set_new(st, "from", json_string(t->from));
			json_object_set_new(st, "step", json_integer(t->step + 1));
			if (t->step >= 0 && t->step < cfg.n_steps)
				json_object_set_new(st, "step_weight", json_integer(cfg.weight[t->step]));
			json_object_set_new(st, "since", json_integer(t->since));
			json_object_set_new(st, "in_step_s", json_integer((json_int_t)(wall - (double)t->since)));
			if (t->phase == ROLLOUT_PROGRESSING && t->healthy >= 0 && t->step >= 0 && t->step < cfg.n_steps) {
				double left = (double)t->healthy + (t->promote ? 0 : cfg.pause[t->step]) - wall;
				json_object_set_new(st, "pause_left_s", json_integer(left > 0 ? (json_int_t)left : 0));
			}
			json_object_set_new(st, "healthy", json_boolean(t->healthy >= 0));
			json_object_set_new(st, "promote", json_boolean(t->promote));
			if (*t->reason)
				json_object_set_new(st, "reason", json_string(t->reason));
		}
		json_array_append_new(out, st);
		free(desired);
	}
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

int aci_rollout_command(const berth_env *env, const struct spec_model *m, const char *verb, const char *name,
			berth_error *err)
{
	bool promote = !strcmp(verb, "rollout-promote"), abort_ = !strcmp(verb, "rollout-abort");
	const spec_container_group *g = name ? rollout_group(m, name) : NULL;
	if ((!promote && !abort_) || !g)
		return berth_error_set(err, BERTH_ENOTFOUND, "%s: no container group with a rollout named %s", verb,
				       name ? name : "");
	char *msg = NULL;
	driver d = {.env = env, .m = m, .g = g};
	d.profile_path = azure_resource_path(m, TM_TYPE, g->rollout.traffic_manager);
	d.desired = revision_of(m, g, &msg);
	rollout_cfg_from_spec(m, g, &d.cfg);
	int rc = d.desired ? get_profile(env->arm, m, g->rollout.traffic_manager, &d.profile, err)
			   : azure_error(env->arm, -1, NULL, msg, err);
	rollout_tag t;
	if (rc == 0 && (!d.profile || !rollout_tag_parse(tag_of(d.profile, ROLLOUT_TAG), &t) || strcmp(t.group, g->name) ||
			t.phase != ROLLOUT_PROGRESSING))
		rc = berth_error_set(err, BERTH_EINVALID, "rollout %s: nothing in progress to %s", g->name,
				     promote ? "promote" : "abort");
	if (rc == 0) {
		if (promote) {
			t.promote = true;
		} else {
			t.phase = ROLLOUT_ROLLING_BACK;
			snprintf(t.reason, sizeof(t.reason), "aborted by an operator");
		}
		rc = write_tag(&d, &t, err);
		if (rc == 0)
			berth_emitf(env->events, BERTH_EV_INFO, NULL, NULL, "rollout %s: %s", g->name,
				    promote ? "promoted: the remaining pauses are skipped" : "aborted: rolling back");
	}
	json_decref(d.profile);
	free(d.profile_path);
	free(d.desired);
	if (rc == 0 && abort_)
		rc = drive(env, m, g, NULL, true, true, err);
	return rc;
}
