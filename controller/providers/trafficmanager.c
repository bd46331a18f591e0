/* The Traffic Manager provider: weighted profiles and their external endpoints. Observed with
 * one list call (profiles include their endpoints); profiles and endpoints are planned as
 * separate steps (an endpoint is "<profile>/<endpoint>"), applied with synchronous calls:
 * a profile is created with PUT (without endpoints) and updated with PATCH (a PUT would drop its
 * endpoints); an endpoint is created or updated with PUT and removed with DELETE.
 *
 * An endpoint that points at a container group of the spec needs "container_group <name>" (it is
 * added after the group exists); every endpoint needs its profile; deleting an endpoint or a
 * profile needs the FQDNs it points at, so a container group behind it is deleted only after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/common/azure_common.h"
#include "rollout/rollout.h"
#include "spec/spec.h"
#include "transport/arm.h"

#define TM_TYPE "Microsoft.Network/trafficmanagerprofiles"
#define TM_KIND_PROFILE "traffic manager profile"
#define TM_KIND_ENDPOINT "endpoint"
enum { TM_PROFILE, TM_ENDPOINT };

static const char *monitor_protocol(spec_monitor_protocol p)
{
	return p == SPEC_MONITOR_HTTPS ? "HTTPS" : p == SPEC_MONITOR_TCP ? "TCP" : "HTTP";
}

static json_t *profile_body(const struct spec_model *m, const spec_traffic_manager *tm)
{
	json_t *mc = json_pack("{s:s, s:I}", "protocol", monitor_protocol(tm->monitor_protocol), "port",
			       (json_int_t)tm->monitor_port);
	if (tm->monitor_path && tm->monitor_protocol != SPEC_MONITOR_TCP)
		json_object_set_new(mc, "path", json_string(tm->monitor_path));
	if (tm->monitor_interval > 0)
		json_object_set_new(mc, "intervalInSeconds", json_integer(tm->monitor_interval));
	if (tm->monitor_timeout > 0)
		json_object_set_new(mc, "timeoutInSeconds", json_integer(tm->monitor_timeout));
	if (tm->monitor_tolerated_failures >= 0)
		json_object_set_new(mc, "toleratedNumberOfFailures", json_integer(tm->monitor_tolerated_failures));
	return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:{s:s, s:I}, s:o}}", "location", "global", "tags",
			 AZURE_TAG_OWNER, m->name, "properties", "profileStatus", "Enabled", "trafficRoutingMethod",
			 "Weighted", "dnsConfig", "relativeName", tm->dns_name, "ttl", (json_int_t)tm->ttl,
			 "monitorConfig", mc);
}

static void put_int(json_t *view, const char *key, json_t *v)
{
	if (!json_is_integer(v))
		return;
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	json_object_set_new(view, key, json_string(buf));
}

static void put_str(json_t *view, const char *key, json_t *v)
{
	if (json_is_string(v))
		json_object_set_new(view, key, json_string(json_string_value(v)));
}

static json_t *profile_view(json_t *profile)
{
	json_t *view = json_object();
	json_t *props = json_object_get(profile, "properties");
	json_t *dns = json_object_get(props, "dnsConfig"), *mc = json_object_get(props, "monitorConfig");
	put_str(view, "routing", json_object_get(props, "trafficRoutingMethod"));
	put_str(view, "status", json_object_get(props, "profileStatus"));
	const char *rn = json_string_value(json_object_get(dns, "relativeName"));
	if (rn) {
		char *lower = xstrdup(rn);
		for (char *c = lower; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		json_object_set_new(view, "dns_name", json_string(lower));
		free(lower);
	}
	put_int(view, "ttl", json_object_get(dns, "ttl"));
	const char *proto = json_string_value(json_object_get(mc, "protocol"));
	put_str(view, "monitor.protocol", json_object_get(mc, "protocol"));
	put_int(view, "monitor.port", json_object_get(mc, "port"));
	if (!proto || strcmp(proto, "TCP"))
		put_str(view, "monitor.path", json_object_get(mc, "path"));
	put_int(view, "monitor.interval", json_object_get(mc, "intervalInSeconds"));
	put_int(view, "monitor.timeout", json_object_get(mc, "timeoutInSeconds"));
	put_int(view, "monitor.tolerated_failures", json_object_get(mc, "toleratedNumberOfFailures"));
	return view;
}

/* The target an endpoint of the spec points at: a container group's FQDN, or the given name. */
static char *endpoint_target(const struct spec_model *m, const spec_tm_endpoint *e)
{
	if (e->target)
		return xstrdup(e->target);
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!strcmp(g->name, e->container_group))
			return spec_aci_fqdn(m, g);
	}
	return NULL;
}

static json_t *endpoint_view(json_t *ep)
{
	json_t *view = json_object();
	json_t *props = json_object_get(ep, "properties");
	const char *t = json_string_value(json_object_get(props, "target"));
	if (t) {
		char *lower = xstrdup(t);
		for (char *c = lower; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		json_object_set_new(view, "target", json_string(lower));
		free(lower);
	}
	json_t *w = json_object_get(props, "weight");
	put_int(view, "weight", json_is_integer(w) ? w : NULL);
	if (!json_is_integer(w))
		json_object_set_new(view, "weight", json_string("1"));
	const char *st = json_string_value(json_object_get(props, "endpointStatus"));
	json_object_set_new(view, "enabled", json_string(!st || !strcmp(st, "Enabled") ? "true" : "false"));
	const char *type = json_string_value(json_object_get(ep, "type"));
	const char *slash = type ? strrchr(type, '/') : NULL;
	json_object_set_new(view, "type", json_string(slash ? slash + 1 : "externalEndpoints"));
	return view;
}

static char *endpoint_path(const struct spec_model *m, const char *profile, const char *type, const char *name)
{
	char *pp = azure_resource_path(m, TM_TYPE, profile);
	char *path = xasprintf("%s/%s/%s", pp, type, name);
	free(pp);
	return path;
}

static bool eq_ci(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

/* The rolled-out group whose revisions this endpoint of profile tm routes to (berth's rollout
 * manages it, not this provider), or NULL. */
static const spec_container_group *rollout_endpoint(const struct spec_model *m, const spec_traffic_manager *tm,
						  const char *endpoint)
{
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (g->rollout.present && g->rollout.traffic_manager && eq_ci(g->rollout.traffic_manager, tm->name) &&
		    rollout_endpoint_revision(g->name, endpoint))
			return g;
	}
	return NULL;
}

/* The rolled-out group profile tm fronts, if any (one per profile: spec validation). */
static const spec_container_group *fronted_rollout(const struct spec_model *m, const spec_traffic_manager *tm)
{
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (g->rollout.present && g->rollout.traffic_manager && eq_ci(g->rollout.traffic_manager, tm->name))
			return g;
	}
	return NULL;
}

static void plan_endpoints(const struct spec_model *m, const spec_traffic_manager *tm, json_t *obs_profile, plan *p,
			   problems *pr, bool complete)
{
	json_t *observed = json_object_get(json_object_get(obs_profile, "properties"), "endpoints");
	for (size_t i = 0; i < tm->n_endpoints; i++) {
		const spec_tm_endpoint *e = &tm->endpoints[i];
		char *target = endpoint_target(m, e);
		if (!target) {
			problem(pr, "endpoint '%s' of Traffic Manager profile '%s': container group '%s' has no dns_label",
				      e->name, tm->name, e->container_group);
			continue;
		}
		json_t *body = json_pack("{s:s, s:s, s:{s:s, s:I, s:s}}", "name", e->name, "type",
					 "Microsoft.Network/trafficManagerProfiles/externalEndpoints", "properties", "target",
					 target, "weight", (json_int_t)e->weight, "endpointStatus",
					 e->enabled ? "Enabled" : "Disabled");
		free(target);
		json_t *want = endpoint_view(body);
		json_object_del(body, "name");
		json_object_del(body, "type");
		json_t *obs = azure_find_named(observed, e->name);
		char *name = xasprintf("%s/%s", tm->name, e->name);
		azure_step *s = azure_step_new(TM_ENDPOINT, endpoint_path(m, tm->name, "externalEndpoints", e->name), body, name);
		json_t *have = obs ? endpoint_view(obs) : NULL;
		if (have && json_equal(have, want)) {
			azure_step_free(s);
		} else {
			size_t id = plan_add_step(p, have ? PLAN_UPDATE : PLAN_CREATE, TM_KIND_ENDPOINT, name, NULL, s);
			plan_add_ref(p, id, PLAN_NEEDS, "tm_profile %s", tm->name);
			if (e->container_group)
				plan_add_ref(p, id, PLAN_NEEDS, "container_group %s", e->container_group);
			/* Until it runs, the endpoint still sends traffic to its old target: whatever
			 * removes that target waits for it. */
			const char *was = have ? json_string_value(json_object_get(have, "target")) : NULL;
			if (was)
				plan_add_ref(p, id, PLAN_NEEDS, "fqdn %s", was);
			json_object_del(want, "type");
			if (have)
				json_object_del(have, "type");
			azure_diff_views(p, id, have, want, false);
		}
		json_decref(have);
		json_decref(want);
		free(name);
	}
	size_t i;
	json_t *it;
	json_array_foreach(observed, i, it) {
		if (!complete)
			break;
		const char *en = json_string_value(json_object_get(it, "name"));
		bool wanted = false;
		for (size_t k = 0; en && k < tm->n_endpoints && !wanted; k++)
			wanted = eq_ci(tm->endpoints[k].name, en);
		if (!en || wanted || rollout_endpoint(m, tm, en))
			continue;
		json_t *v = endpoint_view(it);
		const char *type = json_string_value(json_object_get(v, "type"));
		char *name = xasprintf("%s/%s", tm->name, en);
		azure_step *s = azure_step_new(TM_ENDPOINT, endpoint_path(m, tm->name, type, en), NULL, name);
		size_t id = plan_add_step(p, PLAN_DELETE, TM_KIND_ENDPOINT, name, "not in the spec", s);
		const char *target = json_string_value(json_object_get(v, "target"));
		if (target)
			plan_add_ref(p, id, PLAN_NEEDS, "fqdn %s", target);
		/* Traffic leaves a hand-written endpoint only once the rollout's revision serves. */
		const spec_container_group *ro = fronted_rollout(m, tm);
		if (ro)
			plan_add_ref(p, id, PLAN_NEEDS, "rollout %s", ro->name);
		free(name);
		json_decref(v);
	}
}

static void tm_plan(const struct spec_model *m, json_t *observed, plan *p, problems *pr, bool complete)
{
	const spec_azure *az = &m->azure;
	for (size_t i = 0; i < az->n_traffic_managers; i++) {
		const spec_traffic_manager *tm = &az->traffic_managers[i];
		json_t *obs = azure_find_named(observed, tm->name);
		const char *owner = obs ? azure_owner_of(obs) : NULL;
		if (obs && (!owner || strcmp(owner, m->name))) {
			problem(pr, "Traffic Manager profile '%s' exists in resource group '%s' and %s; berth never adopts objects",
				      tm->name, az->resource_group,
				      owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner tag)");
			continue;
		}
		json_t *body = profile_body(m, tm);
		/* A PATCH replaces the tags: the rollout's progress must survive it. */
		json_t *progress = json_object_get(json_object_get(obs, "tags"), ROLLOUT_TAG);
		if (json_is_string(progress))
			json_object_set(json_object_get(body, "tags"), ROLLOUT_TAG, progress);
		json_t *want = profile_view(body);
		json_t *have = obs ? profile_view(obs) : NULL;
		azure_step *s = azure_step_new(TM_PROFILE, azure_resource_path(m, TM_TYPE, tm->name), body, tm->name);
		if (!obs) {
			size_t id = plan_add_step(p, PLAN_CREATE, TM_KIND_PROFILE, tm->name, NULL, s);
			plan_add_ref(p, id, PLAN_GIVES, "tm_profile %s", tm->name);
			azure_diff_views(p, id, NULL, want, false);
		} else {
			/* Only what the spec sets is compared: Azure fills in the rest. */
			bool same = true;
			const char *k;
			json_t *v;
			json_object_foreach(want, k, v)
				same = same && json_equal(v, json_object_get(have, k));
			if (same) {
				azure_step_free(s);
			} else {
				size_t id = plan_add_step(p, PLAN_UPDATE, TM_KIND_PROFILE, tm->name, NULL, s);
				plan_add_ref(p, id, PLAN_GIVES, "tm_profile %s", tm->name);
				azure_diff_views(p, id, have, want, true);
			}
		}
		json_decref(want);
		json_decref(have);
		plan_endpoints(m, tm, obs, p, pr, complete);
	}
	if (!complete)
		return;
	/* Owned profiles the spec no longer has are deleted, with their endpoints. */
	size_t i;
	json_t *it;
	json_array_foreach(observed, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *owner = azure_owner_of(it);
		if (!name || !owner || strcmp(owner, m->name))
			continue;
		bool wanted = false;
		for (size_t k = 0; k < az->n_traffic_managers && !wanted; k++)
			wanted = eq_ci(az->traffic_managers[k].name, name);
		if (wanted)
			continue;
		azure_step *s = azure_step_new(TM_PROFILE, azure_resource_path(m, TM_TYPE, name), NULL, name);
		size_t id = plan_add_step(p, PLAN_DELETE, TM_KIND_PROFILE, name, "not in the spec", s);
		plan_add_ref(p, id, PLAN_REMOVES, "tm_profile %s", name);
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(json_object_get(it, "properties"), "endpoints"), k, e) {
			const char *t = json_string_value(json_object_get(json_object_get(e, "properties"), "target"));
			if (t)
				plan_add_ref(p, id, PLAN_NEEDS, "fqdn %s", t);
		}
	}
}

static int tm_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
		    berth_error *err)
{
	(void)m;
	azure_step *s = payload;
	if (plan_step_action(step) == PLAN_DELETE)
		return azure_delete(env->arm, s->path, ARM_API_TRAFFIC_MANAGER, false, err);
	const char *method = s->kind == TM_PROFILE && plan_step_action(step) == PLAN_UPDATE ? "PATCH" : "PUT";
	arm_response r;
	char *msg = NULL;
	int rc = arm_request(env->arm, method, s->path, ARM_API_TRAFFIC_MANAGER, s->body, &r, &msg);
	rc = azure_error(env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	return rc;
}

static bool tm_wants(const struct spec_model *m)
{
	return azure_section_active(m);
}

static unsigned tm_needs(const struct spec_model *m)
{
	(void)m;
	return BERTH_NEEDS_ARM;
}

/* Observed profiles keep their monitor statuses: health gates read them. */
static int tm_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
		      berth_error *err)
{
	char *path = azure_resource_path(m, TM_TYPE, NULL), *msg = NULL;
	json_t *items = NULL;
	int rc = arm_list(env->arm, path, ARM_API_TRAFFIC_MANAGER, &items, &msg);
	free(path);
	if (rc != 0)
		return azure_error(env->arm, rc, NULL, msg, err);
	*observed = items;
	*complete = true;
	return 0;
}

/* Monitor statuses change by themselves: not part of the fingerprint. */
static char *tm_fingerprint(const void *observed)
{
	json_t *copy = json_deep_copy((json_t *)observed);
	size_t i, k;
	json_t *p, *e;
	json_array_foreach(copy, i, p) {
		json_t *props = json_object_get(p, "properties");
		json_object_del(json_object_get(props, "monitorConfig"), "profileMonitorStatus");
		json_array_foreach(json_object_get(props, "endpoints"), k, e)
			json_object_del(json_object_get(e, "properties"), "endpointMonitorStatus");
	}
	char *fp = azure_json_fingerprint(copy);
	json_decref(copy);
	return fp;
}

static int tm_diff(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts,
		   plan *p, berth_error *err)
{
	(void)opts;
	problems pr;
	problems_init(&pr);
	tm_plan(m, (json_t *)observed, p, &pr, complete);
	return problems_to_error(&pr, err);
}

static void tm_observed_free(void *observed)
{
	json_decref(observed);
}

/* The status page's part: each profile of the spec with its monitor status and every endpoint
 * it has live (the rollouts' too), with weight and monitor status. */
static char *tm_status(const struct spec_model *m, const void *observed, double wall_now)
{
	(void)wall_now;
	json_t *out = json_array();
	for (size_t i = 0; i < m->azure.n_traffic_managers; i++) {
		const spec_traffic_manager *tm = &m->azure.traffic_managers[i];
		json_t *obs = azure_find_named((json_t *)observed, tm->name);
		json_t *props = json_object_get(obs, "properties");
		json_t *st = json_pack("{s:s, s:s, s:b}", "kind", "traffic_manager", "name", tm->name, "exists", obs != NULL);
		json_t *v = json_object_get(json_object_get(props, "dnsConfig"), "fqdn");
		if (json_is_string(v))
			json_object_set(st, "fqdn", v);
		v = json_object_get(json_object_get(props, "monitorConfig"), "profileMonitorStatus");
		if (json_is_string(v))
			json_object_set(st, "monitor", v);
		json_t *eps = json_array();
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(props, "endpoints"), k, e) {
			json_t *ep = json_object_get(e, "properties");
			json_t *one = json_object();
			put_str(one, "name", json_object_get(e, "name"));
			put_str(one, "target", json_object_get(ep, "target"));
			put_str(one, "status", json_object_get(ep, "endpointStatus"));
			put_str(one, "monitor", json_object_get(ep, "endpointMonitorStatus"));
			json_t *w = json_object_get(ep, "weight");
			json_object_set_new(one, "weight", json_integer(json_is_integer(w) ? json_integer_value(w) : 0));
			json_array_append_new(eps, one);
		}
		json_object_set_new(st, "endpoints", eps);
		json_array_append_new(out, st);
	}
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

const berth_provider berth_provider_trafficmanager = {
	.version = BERTH_PROVIDER_VERSION,
	.name = "trafficmanager",
	.wants = tm_wants,
	.needs = tm_needs,
	.observe = tm_observe,
	.fingerprint = tm_fingerprint,
	.diff = tm_diff,
	.apply = tm_apply,
	.observed_free = tm_observed_free,
	.free_payload = azure_step_free,
	.status = tm_status,
};
