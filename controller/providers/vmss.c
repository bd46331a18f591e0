/* The scale-set capacity provider: berth sizes scale sets, it never creates them. A scale set of
 * the spec must exist and carry berth-owner=<spec name>; observe lists the resource group's scale
 * sets and each wanted one's instances (instance id against computer name, which the swarm sees as
 * the node name); diff sets sku.capacity; apply PATCHes it and follows the operation.
 *
 * Capacity is what swarm services run on: a step that grows it gives "capacity swarm", one that
 * shrinks it removes "capacity swarm" (core/order puts growth before services, shrinking after). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/common/azure_common.h"
#include "spec/spec.h"
#include "transport/arm.h"

#define VMSS_TYPE "Microsoft.Compute/virtualMachineScaleSets"

typedef struct {
	json_t *scale_sets; /* the resource group's scale sets (list items) */
	json_t *instances;  /* scale set name -> ["<instance id>=<computer name>", ...] */
} vmss_observed;

static bool vmss_wants(const struct spec_model *m)
{
	return m->azure.present && m->azure.n_scale_sets > 0;
}

static unsigned vmss_needs(const struct spec_model *m)
{
	(void)m;
	return BERTH_NEEDS_ARM;
}

static void vmss_observed_free(void *o)
{
	vmss_observed *v = o;
	if (!v)
		return;
	json_decref(v->scale_sets);
	json_decref(v->instances);
	free(v);
}

static int observe_instances(arm *a, const struct spec_model *m, vmss_observed *out, const char *name, char **err)
{
	if (!azure_find_named(out->scale_sets, name))
		return 0;
	char *vmss = azure_resource_path(m, VMSS_TYPE, name);
	char *path = xasprintf("%s/virtualMachines", vmss);
	free(vmss);
	json_t *vms = NULL;
	int rc = arm_list(a, path, ARM_API_COMPUTE, &vms, err);
	free(path);
	if (rc != 0)
		return rc;
	json_t *list = json_array();
	size_t i;
	json_t *it;
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

static int vmss_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
			berth_error *err)
{
	vmss_observed *o = xcalloc(1, sizeof(*o));
	o->instances = json_object();
	char *msg = NULL;
	char *path = azure_resource_path(m, VMSS_TYPE, NULL);
	int rc = arm_list(env->arm, path, ARM_API_COMPUTE, &o->scale_sets, &msg);
	free(path);
	for (size_t i = 0; rc == 0 && i < m->azure.n_scale_sets; i++)
		rc = observe_instances(env->arm, m, o, m->azure.scale_sets[i].name, &msg);
	if (rc != 0) {
		vmss_observed_free(o);
		return azure_error(env->arm, rc, NULL, msg, err);
	}
	*observed = o;
	*complete = true;
	return 0;
}

static char *vmss_fingerprint(const void *observed)
{
	const vmss_observed *o = observed;
	json_t *all = json_pack("{s:O, s:O}", "scale_sets", o->scale_sets, "instances", o->instances);
	char *fp = azure_json_fingerprint(all);
	json_decref(all);
	return fp;
}

static char *instance_list(json_t *inst)
{
	char *now = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&now, &len);
	if (!f)
		abort();
	size_t k;
	json_t *e;
	json_array_foreach(inst, k, e)
		fprintf(f, "%s%s", k ? ", " : "", json_string_value(e));
	fclose(f);
	return now;
}

static int vmss_diff(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts,
		     plan *p, berth_error *err)
{
	(void)complete; /* berth never deletes scale sets */
	(void)opts;
	const vmss_observed *o = observed;
	problems pr;
	problems_init(&pr);
	for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
		const spec_scale_set *ss = &m->azure.scale_sets[i];
		json_t *obs = azure_find_named(o->scale_sets, ss->name);
		if (!obs) {
			problem(&pr, "scale set '%s' does not exist in resource group '%s'; berth sizes scale sets, it does not "
				     "create them",
				ss->name, m->azure.resource_group);
			continue;
		}
		const char *owner = azure_owner_of(obs);
		if (!owner || strcmp(owner, m->name)) {
			problem(&pr, "scale set '%s' is not tagged %s=%s%s%s%s; berth only sizes scale sets that carry its owner tag",
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
		bool grow = ss->capacity > have;
		azure_step *s = azure_step_new(0, azure_resource_path(m, VMSS_TYPE, ss->name),
					       json_pack("{s:{s:I}}", "sku", "capacity", (json_int_t)ss->capacity), ss->name);
		size_t id = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, grow ? "capacity increased" : "capacity decreased", s);
		plan_add_change(p, id, "capacity", old_v, new_v, false);
		/* Which instances there are now; on a decrease the scale-in policy picks which go. */
		json_t *inst = json_object_get(o->instances, ss->name);
		if (json_array_size(inst)) {
			char *now = instance_list(inst);
			plan_add_change(p, id, "instances", now,
					grow ? "(kept; Azure adds the new ones)" : "(Azure's scale-in policy picks which go)", false);
			free(now);
		}
		plan_add_ref(p, id, grow ? PLAN_GIVES : PLAN_REMOVES, "capacity swarm");
	}
	return problems_to_error(&pr, err);
}

static int vmss_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
		      berth_error *err)
{
	(void)m;
	(void)step;
	azure_step *s = payload;
	arm_response r;
	char *msg = NULL;
	/* PATCH the capacity and follow the operation until the scale set has it. */
	int rc = arm_call(env->arm, "PATCH", s->path, ARM_API_COMPUTE, s->body, &r, &msg);
	rc = azure_error(env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	return rc;
}

/* The status page's part: each scale set's capacity, wanted and live, and its instances as
 * "<instance id>=<computer name>" (the computer name is the swarm node's hostname). */
static char *vmss_status(const struct spec_model *m, const void *observed, double wall_now)
{
	(void)wall_now;
	const vmss_observed *o = observed;
	json_t *out = json_array();
	for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
		const spec_scale_set *ss = &m->azure.scale_sets[i];
		json_t *obs = azure_find_named(o->scale_sets, ss->name);
		json_t *inst = json_object_get(o->instances, ss->name);
		json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:I, s:b, s:o}", "kind", "scale_set", "name", ss->name,
						     "desired", (json_int_t)ss->capacity, "capacity",
						     json_integer_value(json_object_get(json_object_get(obs, "sku"), "capacity")),
						     "exists", obs != NULL, "instances", inst ? json_incref(inst) : json_array()));
	}
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}

const berth_provider berth_provider_vmss = {
	.version = BERTH_PROVIDER_VERSION,
	.name = "vmss",
	.wants = vmss_wants,
	.needs = vmss_needs,
	.observe = vmss_observe,
	.fingerprint = vmss_fingerprint,
	.diff = vmss_diff,
	.apply = vmss_apply,
	.observed_free = vmss_observed_free,
	.status = vmss_status,
	.free_payload = azure_step_free,
};
