/* The Traffic Manager provider: weighted profiles and their external endpoints. Observed with
 * one list call (profiles include their endpoints); profiles and endpoints are planned as
 * separate steps (an endpoint is "<profile>/<endpoint>"), applied with synchronous calls:
 * a profile is created with PUT (without endpoints) and updated with PATCH (a PUT would drop its
 * endpoints); an endpoint is created or updated with PUT and removed with DELETE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "providers/azure/azure.h"
#include "providers/azure/azure_step.h"

char *azure_tm_profile_path(const struct spec_model *m, const char *name)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/trafficmanagerprofiles%s%s",
			 m->azure.subscription, m->azure.resource_group, name ? "/" : "", name ? name : "");
}

int tm_observe(arm *a, const struct spec_model *m, json_t **out, char **err)
{
	char *path = azure_tm_profile_path(m, NULL);
	int rc = arm_list(a, path, ARM_API_TRAFFIC_MANAGER, out, err);
	free(path);
	if (rc != 0)
		return rc;
	/* Monitor statuses change by themselves: not part of the observation berth compares. */
	size_t i, k;
	json_t *p, *e;
	json_array_foreach(*out, i, p) {
		json_t *props = json_object_get(p, "properties");
		json_object_del(json_object_get(props, "monitorConfig"), "profileMonitorStatus");
		json_array_foreach(json_object_get(props, "endpoints"), k, e)
			json_object_del(json_object_get(e, "properties"), "endpointMonitorStatus");
	}
	return 0;
}

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
		char *lower = strdup(rn);
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
		return strdup(e->target);
	for (size_t i = 0; i < m->azure.n_container_groups; i++) {
		const spec_container_group *g = &m->azure.container_groups[i];
		if (!strcmp(g->name, e->container_group) && g->dns_label)
			return xasprintf("%s.%s.azurecontainer.io", g->dns_label, m->azure.location);
	}
	return NULL;
}

static json_t *endpoint_view(json_t *ep)
{
	json_t *view = json_object();
	json_t *props = json_object_get(ep, "properties");
	const char *t = json_string_value(json_object_get(props, "target"));
	if (t) {
		char *lower = strdup(t);
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
	char *pp = azure_tm_profile_path(m, profile);
	char *path = xasprintf("%s/%s/%s", pp, type, name);
	free(pp);
	return path;
}

static bool eq_ci(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

static void plan_endpoints(const struct spec_model *m, const spec_traffic_manager *tm, json_t *obs_profile, plan *p,
			   problems *pr)
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
		azure_step *s = azure_new_step(AZURE_TM_ENDPOINT, endpoint_path(m, tm->name, "externalEndpoints", e->name), body);
		s->refs = json_array();
		if (e->container_group)
			json_array_append_new(s->refs, json_string(e->container_group));
		json_t *have = obs ? endpoint_view(obs) : NULL;
		if (have && json_equal(have, want)) {
			azure_step_free(s);
		} else {
			size_t id = plan_add_step(p, have ? PLAN_UPDATE : PLAN_CREATE, AZURE_KIND_TM_ENDPOINT, name, NULL, s);
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
		const char *en = json_string_value(json_object_get(it, "name"));
		bool wanted = false;
		for (size_t k = 0; en && k < tm->n_endpoints && !wanted; k++)
			wanted = eq_ci(tm->endpoints[k].name, en);
		if (!en || wanted)
			continue;
		json_t *v = endpoint_view(it);
		const char *type = json_string_value(json_object_get(v, "type"));
		azure_step *s = azure_new_step(AZURE_TM_ENDPOINT, endpoint_path(m, tm->name, type, en), NULL);
		s->refs = json_array();
		if (json_object_get(v, "target"))
			json_array_append(s->refs, json_object_get(v, "target"));
		char *name = xasprintf("%s/%s", tm->name, en);
		plan_add_step(p, PLAN_DELETE, AZURE_KIND_TM_ENDPOINT, name, "not in the spec", s);
		free(name);
		json_decref(v);
	}
}

void tm_plan(const struct spec_model *m, json_t *observed, plan *p, problems *pr)
{
	const spec_azure *az = &m->azure;
	for (size_t i = 0; i < az->n_traffic_managers; i++) {
		const spec_traffic_manager *tm = &az->traffic_managers[i];
		json_t *obs = azure_find_named(observed, tm->name);
		const char *owner = obs ? json_string_value(json_object_get(json_object_get(obs, "tags"), AZURE_TAG_OWNER)) : NULL;
		if (obs && (!owner || strcmp(owner, m->name))) {
			problem(pr, "Traffic Manager profile '%s' exists in resource group '%s' and %s; berth never adopts objects",
				      tm->name, az->resource_group,
				      owner ? "belongs to another berth owner" : "was not created by berth (no berth-owner tag)");
			continue;
		}
		json_t *body = profile_body(m, tm);
		json_t *want = profile_view(body);
		json_t *have = obs ? profile_view(obs) : NULL;
		azure_step *s = azure_new_step(AZURE_TM_PROFILE, azure_tm_profile_path(m, tm->name), body);
		if (!obs) {
			size_t id = plan_add_step(p, PLAN_CREATE, AZURE_KIND_TM_PROFILE, tm->name, NULL, s);
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
				size_t id = plan_add_step(p, PLAN_UPDATE, AZURE_KIND_TM_PROFILE, tm->name, NULL, s);
				azure_diff_views(p, id, have, want, true);
			}
		}
		json_decref(want);
		json_decref(have);
		plan_endpoints(m, tm, obs, p, pr);
	}
	/* Owned profiles the spec no longer has are deleted, with their endpoints. */
	size_t i;
	json_t *it;
	json_array_foreach(observed, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *owner = json_string_value(json_object_get(json_object_get(it, "tags"), AZURE_TAG_OWNER));
		if (!name || !owner || strcmp(owner, m->name))
			continue;
		bool wanted = false;
		for (size_t k = 0; k < az->n_traffic_managers && !wanted; k++)
			wanted = eq_ci(az->traffic_managers[k].name, name);
		if (wanted)
			continue;
		azure_step *s = azure_new_step(AZURE_TM_PROFILE, azure_tm_profile_path(m, name), NULL);
		s->refs = json_array();
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(json_object_get(it, "properties"), "endpoints"), k, e) {
			json_t *t = json_object_get(json_object_get(e, "properties"), "target");
			if (json_is_string(t))
				json_array_append(s->refs, t);
		}
		plan_add_step(p, PLAN_DELETE, AZURE_KIND_TM_PROFILE, name, "not in the spec", s);
	}
}

int tm_apply(arm *a, const plan_step *step, azure_step *s, char **err)
{
	arm_response r;
	int rc;
	if (step->action == PLAN_DELETE) {
		rc = arm_request(a, "DELETE", s->path, ARM_API_TRAFFIC_MANAGER, NULL, &r, err);
		if (rc != 0 && r.status == 404) { /* already gone */
			free(*err);
			*err = NULL;
			rc = 0;
		}
	} else {
		const char *method = s->kind == AZURE_TM_PROFILE && step->action == PLAN_UPDATE ? "PATCH" : "PUT";
		rc = arm_request(a, method, s->path, ARM_API_TRAFFIC_MANAGER, s->body, &r, err);
	}
	arm_response_free(&r);
	return rc;
}
