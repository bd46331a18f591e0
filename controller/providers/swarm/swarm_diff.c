/* Planning the swarm: a pure function of (spec, observed state) that adds ordered steps to a
 * plan. Secret and config contents are read (and hashed) here, never stored. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"
#include "core/secret.h"
#include "providers/swarm/swarm_step.h"
#include "core/util.h"

static swarm_step *new_step(swarm_kind kind, const char *engine_name, const char *logical)
{
	swarm_step *s = xcalloc(1, sizeof(*s));
	if (!s)
		abort();
	s->kind = kind;
	s->engine_name = xstrdup(engine_name);
	s->logical = xstrdup(logical ? logical : engine_name);
	return s;
}

void swarm_step_free(void *payload)
{
	swarm_step *s = payload;
	if (!s)
		return;
	free(s->engine_name);
	free(s->logical);
	free(s->id);
	json_decref(s->body);
	free(s);
}

static bool owned_by(const swarm_object *o, const char *owner)
{
	return o->owner && !strcmp(o->owner, owner);
}

static void unowned_problem(problems *pr, const swarm_object *o, const char *owner)
{
	if (o->owner)
		problem(pr, "%s '%s' exists and belongs to berth owner '%s', not '%s'; berth never takes over objects",
			swarm_kind_name(o->kind), o->name, o->owner, owner);
	else
		problem(pr, "%s '%s' exists and was not created by berth (no %s label); berth never adopts objects: "
			    "remove or rename it",
			swarm_kind_name(o->kind), o->name, SWARM_LABEL_OWNER);
}

/* ---- content-named objects: secrets and configs ---- */

typedef struct {
	char **engine_names; /* per desired object, in spec order */
	size_t *create_step; /* step id, or SIZE_MAX when the object exists */
} content_plan;

static const size_t NO_STEP = (size_t)-1;

static void plan_content_objects(const struct spec_model *m, const swarm_state *st, swarm_kind kind, plan *p,
				 problems *pr, content_plan *cp)
{
	size_t n = kind == SWARM_SECRET ? m->swarm.n_secrets : m->swarm.n_configs;
	cp->engine_names = xcalloc(n + 1, sizeof(char *));
	cp->create_step = xcalloc(n + 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		const char *name = kind == SWARM_SECRET ? m->swarm.secrets[i].name : m->swarm.configs[i].name;
		char engine[80];
		cp->create_step[i] = NO_STEP;
		if (kind == SWARM_SECRET) {
			secret_value *sv;
			char *err = NULL;
			if (secret_resolve(&m->swarm.secrets[i].value, &sv, &err) != 0) {
				problem(pr, "secret '%s': %s", name, err);
				free(err);
				cp->engine_names[i] = xstrdup(name);
				continue;
			}
			size_t len;
			const unsigned char *bytes = secret_bytes(sv, &len);
			swarm_content_name(name, (const char *)bytes, len, engine);
			secret_free(sv);
		} else {
			char *buf, *err = NULL;
			size_t len;
			if (swarm_config_content(&m->swarm.configs[i], &buf, &len, &err) != 0) {
				problem(pr, "%s", err);
				free(err);
				cp->engine_names[i] = xstrdup(name);
				continue;
			}
			swarm_content_name(name, buf, len, engine);
			free(buf);
		}
		cp->engine_names[i] = xstrdup(engine);
		const swarm_object *obs = swarm_find(st, kind, engine);
		if (obs && !owned_by(obs, m->name)) {
			unowned_problem(pr, obs, m->name);
			continue;
		}
		const swarm_object *same_name = swarm_find(st, kind, name);
		if (same_name && !owned_by(same_name, m->name)) {
			unowned_problem(pr, same_name, m->name);
			continue;
		}
		if (obs)
			continue;
		bool older = false;
		for (size_t k = 0; k < st->n; k++)
			older |= st->objects[k].kind == kind && owned_by(&st->objects[k], m->name) &&
				 !strcmp(st->objects[k].logical, name);
		swarm_step *s = new_step(kind, engine, name);
		s->index = i;
		size_t id = plan_add_step(p, older ? PLAN_REPLACE : PLAN_CREATE, swarm_kind_name(kind), name,
					  older ? "content changed: a new version replaces the old one" : NULL, s);
		if (older)
			plan_add_change(p, id, "data", NULL, NULL, kind == SWARM_SECRET);
		if (older && kind == SWARM_CONFIG)
			plan_add_change(p, id, "version", NULL, engine, false);
		cp->create_step[i] = id;
	}
}

static void content_plan_free(content_plan *cp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cp->engine_names[i]);
	free(cp->engine_names);
	free(cp->create_step);
}

/* ---- networks ---- */

static bool labels_match(json_t *observed, const spec_kv *kv, size_t n)
{
	size_t user = 0;
	const char *k;
	json_t *v;
	json_object_foreach(observed, k, v) {
		if (!strncmp(k, "berth.", 6))
			continue;
		user++;
		bool found = false;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(kv[i].key, k) && json_is_string(v) && !strcmp(kv[i].value, json_string_value(v)))
				found = true;
		if (!found)
			return false;
	}
	return user == n;
}

static size_t *plan_networks(const struct spec_model *m, const swarm_state *st, plan *p, problems *pr)
{
	const spec_swarm *sw = &m->swarm;
	size_t *steps = xcalloc(sw->n_networks + 1, sizeof(size_t));
	for (size_t i = 0; i < sw->n_networks; i++) {
		const spec_network *n = &sw->networks[i];
		steps[i] = NO_STEP;
		const swarm_object *obs = swarm_find(st, SWARM_NETWORK, n->name);
		if (obs && !owned_by(obs, m->name)) {
			unowned_problem(pr, obs, m->name);
			continue;
		}
		if (obs) {
			json_t *o = obs->spec;
			const char *driver = json_string_value(json_object_get(o, "Driver"));
			bool same = driver && !strcmp(driver, n->driver) &&
				    json_is_true(json_object_get(o, "Attachable")) == n->attachable &&
				    json_is_true(json_object_get(o, "Internal")) == n->internal &&
				    labels_match(json_object_get(o, "Labels"), n->labels, n->n_labels);
			if (!same)
				problem(pr, "network '%s': driver, attachable, internal or labels changed, and networks cannot be "
					    "changed in place; give the changed network a new name (berth then creates it, moves the "
					    "services and deletes the old one)",
					n->name);
			continue;
		}
		swarm_step *s = new_step(SWARM_NETWORK, n->name, n->name);
		s->index = i;
		size_t id = plan_add_step(p, PLAN_CREATE, "network", n->name, NULL, s);
		plan_add_change(p, id, "driver", NULL, n->driver, false);
		if (n->attachable)
			plan_add_change(p, id, "attachable", NULL, "true", false);
		if (n->internal)
			plan_add_change(p, id, "internal", NULL, "true", false);
		steps[i] = id;
	}
	return steps;
}

/* ---- services ---- */

static void describe(char *reason, size_t size, json_t *desired, json_t *observed, plan *p, size_t step)
{
	size_t len = 0, shown = 0, total = 0;
	reason[0] = '\0';
	/* Changed and added keys in desired order, then removed keys. */
	const char *k;
	json_t *v;
	json_object_foreach(desired, k, v) {
		json_t *o = json_object_get(observed, k);
		const char *nv = json_string_value(v), *ov = o ? json_string_value(o) : NULL;
		if (ov && !strcmp(ov, nv))
			continue;
		plan_add_change(p, step, k, ov, nv, false);
		total++;
		if (shown < 3 && len < size)
			len += (size_t)snprintf(reason + len, size - len, "%s%s %s", shown ? ", " : "", k, ov ? "changed" : "added"), shown++;
	}
	json_object_foreach(observed, k, v) {
		if (json_object_get(desired, k))
			continue;
		plan_add_change(p, step, k, json_string_value(v), NULL, false);
		total++;
		if (shown < 3 && len < size)
			len += (size_t)snprintf(reason + len, size - len, "%s%s removed", shown ? ", " : "", k), shown++;
	}
	if (total > shown && len < size)
		snprintf(reason + len, size - len, " and %zu more", total - shown);
}

static bool mode_changed(json_t *desired, json_t *observed)
{
	return !json_object_get(json_object_get(desired, "Mode"), "Global") !=
	       !json_object_get(json_object_get(observed, "Mode"), "Global");
}

static void depend_on_refs(plan *p, size_t step, const spec_service *s, const struct spec_model *m,
			   const size_t *net_steps, const content_plan *secrets, const content_plan *configs)
{
	for (size_t i = 0; i < s->n_networks; i++)
		for (size_t j = 0; j < m->swarm.n_networks; j++)
			if (!strcmp(s->networks[i].name, m->swarm.networks[j].name) && net_steps[j] != NO_STEP)
				plan_add_dep(p, step, net_steps[j]);
	for (size_t i = 0; i < s->n_secrets; i++)
		for (size_t j = 0; j < m->swarm.n_secrets; j++)
			if (!strcmp(s->secrets[i].source, m->swarm.secrets[j].name) && secrets->create_step[j] != NO_STEP)
				plan_add_dep(p, step, secrets->create_step[j]);
	for (size_t i = 0; i < s->n_configs; i++)
		for (size_t j = 0; j < m->swarm.n_configs; j++)
			if (!strcmp(s->configs[i].source, m->swarm.configs[j].name) && configs->create_step[j] != NO_STEP)
				plan_add_dep(p, step, configs->create_step[j]);
}

int swarm_plan(const struct spec_model *m, const swarm_state *st, const swarm_plan_options *opt, plan *p,
	       char **err)
{
	problems pr;
	problems_init(&pr);
	const spec_swarm *sw = &m->swarm;
	size_t first_step = plan_count(p);

	size_t *net_steps = plan_networks(m, st, p, &pr);

	content_plan secrets = {0}, configs = {0};
	plan_content_objects(m, st, SWARM_SECRET, p, &pr, &secrets);
	plan_content_objects(m, st, SWARM_CONFIG, p, &pr, &configs);

	size_t n_service_steps = 0;
	size_t *service_steps = xcalloc(sw->n_services + st->n + 1, sizeof(size_t));
	for (size_t i = 0; i < sw->n_services; i++) {
		const spec_service *s = &sw->services[i];
		const swarm_object *obs = swarm_find(st, SWARM_SERVICE, s->name);
		if (obs && !owned_by(obs, m->name)) {
			unowned_problem(&pr, obs, m->name);
			continue;
		}
		json_t *desired = swarm_service_spec(m, s, (const char *const *)secrets.engine_names,
						     (const char *const *)configs.engine_names);
		if (opt && opt->image_digests && opt->image_digests[i] && !strchr(s->image, '@')) {
			char *pinned = NULL;
			pinned = xasprintf("%s@%s", s->image, opt->image_digests[i]);
			json_object_set_new(json_object_get(json_object_get(desired, "TaskTemplate"), "ContainerSpec"), "Image",
					    json_string(pinned));
			free(pinned);
		}
		/* An autoscaled service's replicas are the autoscaler's decision (a new one starts at min). */
		autoscale_decision dec = {0};
		bool autoscaled = obs && s->deploy.autoscale.present;
		if (autoscaled) {
			swarm_autoscale_decide(s, st, obs, &dec);
			swarm_autoscale_apply(desired, obs, &dec, st->observed_ms);
			if (dec.direction == AUTOSCALE_HOLD)
				plan_add_note(p, "service %s: autoscale keeps %lld replica%s: %s", s->name,
					      (long long)dec.replicas, dec.replicas == 1 ? "" : "s", dec.reason);
			plan_recheck_after(p, (double)dec.wait_ns / 1e9); /* a held scale-in, when its cooldown ends */
		}
		swarm_step *step = new_step(SWARM_SERVICE, s->name, s->name);
		step->index = i;
		step->body = desired;
		size_t id;
		if (!obs) {
			id = plan_add_step(p, PLAN_CREATE, "service", s->name, NULL, step);
			/* Show what the spec sets, not the engine defaults every service has. */
			json_t *view = swarm_service_view(desired, st);
			json_t *bare = json_pack("{s:{s:{}}}", "TaskTemplate", "ContainerSpec");
			json_t *defaults = swarm_service_view(bare, st);
			const char *k;
			json_t *v;
			json_object_foreach(view, k, v) {
				json_t *dv = json_object_get(defaults, k);
				if (dv && json_equal(dv, v) && strcmp(k, "replicas") && strcmp(k, "image"))
					continue;
				plan_add_change(p, id, k, NULL, json_string_value(v), false);
			}
			json_decref(bare);
			json_decref(defaults);
			json_decref(view);
		} else {
			step->id = xstrdup(obs->id);
			step->version = obs->version;
			json_t *want = swarm_service_view(desired, st), *have = swarm_service_view(obs->spec, st);
			/* Without a digest in the spec, whatever the engine pinned is not a difference. */
			if (!json_object_get(want, "image.digest"))
				json_object_del(have, "image.digest");
			if (json_equal(want, have)) {
				json_decref(want);
				json_decref(have);
				/* The spec is right, but the service may not have converged on it: berth was
				 * killed after submitting it, the engine paused or rolled back the update, or
				 * the tasks crash (now, or since some time after an apply): apply waits for it
				 * again, as after an update, and fails if it does not converge. */
				bool resubmit = false;
				char *why = swarm_service_unconverged(st, obs, &resubmit);
				if (!why) {
					swarm_step_free(step);
					continue;
				}
				step->settle = true;
				step->resubmit = resubmit;
				char *reason = xasprintf("not converged: %s", why);
				id = plan_add_step(p, PLAN_UPDATE, "service", s->name, reason, step);
				free(reason);
				free(why);
				depend_on_refs(p, id, s, m, net_steps, &secrets, &configs);
				service_steps[n_service_steps++] = id;
				continue;
			}
			char reason[512];
			bool replace = mode_changed(desired, obs->spec);
			id = plan_add_step(p, replace ? PLAN_REPLACE : PLAN_UPDATE, "service", s->name, NULL, step);
			describe(reason, sizeof(reason), want, have, p, id);
			if (replace)
				strcpy(reason, "mode changed between replicated and global, which swarm cannot update in place");
			else if (autoscaled && dec.direction != AUTOSCALE_HOLD) {
				/* The decision explains itself: inputs, rule, result. */
				char *why = !strcmp(reason, "replicas changed")
						    ? xasprintf("autoscale %s: %s", autoscale_direction_name(dec.direction), dec.reason)
						    : xasprintf("%s; autoscale %s: %s", reason, autoscale_direction_name(dec.direction),
								dec.reason);
				snprintf(reason, sizeof(reason), "%s", why);
				free(why);
			}
			/* The reason is set after the changes are known. */
			plan_set_reason(p, id, reason);
			json_decref(want);
			json_decref(have);
		}
		depend_on_refs(p, id, s, m, net_steps, &secrets, &configs);
		service_steps[n_service_steps++] = id;
	}

	/* Deletes: owned objects the spec no longer has, and old versions of secrets and configs. */
	size_t owned = 0, deletes = 0;
	size_t *delete_steps = xcalloc(st->n + 1, sizeof(size_t));
	size_t n_delete_steps = 0;
	for (size_t i = 0; i < st->n; i++) {
		const swarm_object *o = &st->objects[i];
		if (!owned_by(o, m->name))
			continue;
		owned++;
		bool wanted = false, old_version = false;
		if (o->kind == SWARM_SERVICE) {
			for (size_t j = 0; j < sw->n_services && !wanted; j++)
				wanted = !strcmp(sw->services[j].name, o->name);
		} else if (o->kind == SWARM_NETWORK) {
			for (size_t j = 0; j < sw->n_networks && !wanted; j++)
				wanted = !strcmp(sw->networks[j].name, o->name);
		} else {
			const content_plan *cp = o->kind == SWARM_SECRET ? &secrets : &configs;
			size_t n = o->kind == SWARM_SECRET ? sw->n_secrets : sw->n_configs;
			for (size_t j = 0; j < n && !wanted; j++) {
				const char *logical = o->kind == SWARM_SECRET ? sw->secrets[j].name : sw->configs[j].name;
				wanted = !strcmp(cp->engine_names[j], o->name);
				old_version |= !strcmp(logical, o->logical);
			}
		}
		if (wanted)
			continue;
		swarm_step *step = new_step(o->kind, o->name, o->logical);
		step->id = xstrdup(o->id);
		step->version = o->version;
		const char *reason = old_version ? "an older version, no longer used" : "not in the spec";
		size_t id = plan_add_step(p, PLAN_DELETE, swarm_kind_name(o->kind), o->name, reason, step);
		if (o->kind == SWARM_SERVICE)
			service_steps[n_service_steps++] = id;
		else
			delete_steps[n_delete_steps++] = id;
		if (!old_version)
			deletes++;
	}
	/* Networks, secrets and configs go only after no service uses them. */
	for (size_t d = 0; d < n_delete_steps; d++)
		for (size_t s = 0; s < n_service_steps; s++)
			plan_add_dep(p, delete_steps[d], service_steps[s]);

	size_t min = opt && opt->mass_delete_min ? opt->mass_delete_min : 5;
	double fraction = opt && opt->mass_delete_fraction > 0 ? opt->mass_delete_fraction : 0.25;
	if (!(opt && opt->allow_mass_delete) && deletes > min && (double)deletes > fraction * (double)owned)
		problem(&pr, "the plan would delete %zu of the %zu swarm objects berth owns as '%s' (more than %zu and more "
			    "than %.0f%%); refusing without --allow-mass-delete",
			deletes, owned, m->name, min, fraction * 100);

	content_plan_free(&secrets, sw->n_secrets);
	content_plan_free(&configs, sw->n_configs);
	free(net_steps);
	free(service_steps);
	free(delete_steps);
	(void)first_step;
	char *text = problems_finish(&pr);
	if (text) {
		*err = text;
		return -1;
	}
	return 0;
}
