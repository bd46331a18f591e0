/* The scale-set capacity provider: berth sizes scale sets, it never creates them. A scale set of
 * the spec must exist and carry berth-owner=<spec name>; observe lists the resource group's scale
 * sets and each wanted one's instances (instance id against computer name, which the swarm sees as
 * the node name); diff sets sku.capacity; apply PATCHes it and follows the operation.
 *
 * Capacity is what swarm services run on: a step that grows it gives "capacity swarm", one that
 * shrinks it removes "capacity swarm" (core/order puts growth before services, shrinking after).
 *
 * A scale set with a swarm block (its instances are the swarm's nodes, vmss_nodes.h) is observed
 * with the swarm's nodes and running tasks too. Scale-in is then two steps tied by references,
 * not calls: "drain" (removes "capacity swarm", so it runs after the service steps; gives
 * "drained SET/ID" per chosen instance) sets the chosen nodes to drain and waits for their tasks
 * to move; "delete instances" (needs each "drained SET/ID") deletes exactly those instances and
 * removes their nodes once down. A node berth drained whose instance is gone (a scale-in killed
 * after the delete) gets a "swarm node" step that removes it; one drained for a scale-in no
 * longer wanted, a step that puts it back into service. Scale-out PATCHes the capacity and waits
 * in the same step for the new instances' nodes to be Ready, before the service steps.
 *
 * An autoscaled set (spec: scale_sets.NAME.autoscale, vmss_autoscale.h) gets its capacity from
 * cluster_decide() instead of the spec, through the same steps: a scale-out's PATCH carries the
 * decision in the set's tags, a scale-in records it in a step before its drain, and each node's
 * idle clock is a label that a "swarm node" step sets or clears. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/common/azure_common.h"
#include "providers/vmss/vmss_autoscale.h"
#include "providers/vmss/vmss_nodes.h"
#include "spec/spec.h"
#include "spec/xalloc.h"
#include "transport/arm.h"
#include "transport/docker.h"

#define VMSS_TYPE "Microsoft.Compute/virtualMachineScaleSets"
/* A time the step writes is the apply's, as Terraform shows a value only the apply knows. */
#define KNOWN_AFTER_APPLY "(known after apply)"

typedef struct {
	json_t *scale_sets; /* the resource group's scale sets (list items) */
	json_t *instances;  /* scale set name -> ["<instance id>=<computer name>", ...] */
	json_t *vms;        /* scale set name -> its VM list items (NULL: not listed) */
	json_t *nodes;      /* the swarm's nodes, when a scale set backs the swarm (else NULL) */
	json_t *tasks;      /* the swarm's tasks that should run (DesiredState running), likewise */
	json_t *load;       /* autoscaled sets' nodes: node id -> {cpus, known} (vmss_observe_load) */
	long long observed_ms; /* the wall clock when observed: the autoscalers' now */
	unsigned long stats_requests;
} vmss_observed;

/* azure_step kinds: the capacity PATCH (body: the PATCH), and the swarm steps of a scale set
 * that backs the swarm (body: the chosen instances, vmss_choose's shape). */
enum { STEP_CAPACITY, STEP_DRAIN, STEP_DELETE_INSTANCES, STEP_REMOVE_NODES, STEP_JOIN, STEP_RECORD, STEP_IDLE_MARK, STEP_UNDRAIN };

static bool any_swarm_set(const struct spec_model *m)
{
	for (size_t i = 0; i < m->azure.n_scale_sets; i++)
		if (m->azure.scale_sets[i].swarm.present)
			return true;
	return false;
}

static bool any_autoscaled(const struct spec_model *m)
{
	for (size_t i = 0; i < m->azure.n_scale_sets; i++)
		if (m->azure.scale_sets[i].autoscale.present)
			return true;
	return false;
}

static bool vmss_wants(const struct spec_model *m)
{
	return m->azure.present && m->azure.n_scale_sets > 0;
}

static unsigned vmss_needs(const struct spec_model *m)
{
	return BERTH_NEEDS_ARM | (any_swarm_set(m) ? BERTH_NEEDS_DOCKER : 0);
}

static void vmss_observed_free(void *o)
{
	vmss_observed *v = o;
	if (!v)
		return;
	json_decref(v->scale_sets);
	json_decref(v->instances);
	json_decref(v->vms);
	json_decref(v->nodes);
	json_decref(v->tasks);
	json_decref(v->load);
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
	json_object_set_new(out->vms, name, vms);
	json_object_set_new(out->instances, name, list);
	return 0;
}

static int docker_get(docker *d, const char *path, json_t **out, berth_error *err)
{
	long status = 0;
	char *msg = NULL;
	int rc = docker_request(d, "GET", path, NULL, &status, out, &msg);
	if (rc != 0) {
		json_decref(*out);
		*out = NULL;
		berth_error_take(err, rc, msg);
		berth_error_prefix(err, "scale sets backing the swarm: ");
		return rc;
	}
	free(msg);
	return 0;
}

static int observe_swarm(const berth_env *env, vmss_observed *o, berth_error *err)
{
	int rc = docker_get(env->docker, "/nodes", &o->nodes, err);
	if (rc != 0)
		return rc;
	char *filters = docker_filters("desired-state", "running");
	char *path = xasprintf("/tasks?filters=%s", filters);
	free(filters);
	rc = docker_get(env->docker, path, &o->tasks, err);
	free(path);
	return rc;
}

static int vmss_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
			berth_error *err)
{
	vmss_observed *o = xcalloc(1, sizeof(*o));
	o->instances = json_object();
	o->vms = json_object();
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
	if (any_swarm_set(m)) {
		rc = observe_swarm(env, o, err);
		if (rc != 0) {
			vmss_observed_free(o);
			return rc;
		}
		if (any_autoscaled(m))
			o->load = vmss_observe_load(env->docker, m, o->vms, o->nodes, o->tasks, &o->stats_requests);
	}
	o->observed_ms = (long long)(berth_wall(env->clock) * 1000.0);
	*observed = o;
	*complete = true;
	return 0;
}

static char *vmss_fingerprint(const void *observed)
{
	const vmss_observed *o = observed;
	json_t *all = json_pack("{s:O, s:O}", "scale_sets", o->scale_sets, "instances", o->instances);
	if (o->nodes) {
		/* which nodes there are and what berth set on them; not their tasks, which move by themselves */
		json_t *nodes = json_array();
		size_t i;
		json_t *n;
		json_array_foreach(o->nodes, i, n)
			json_array_append_new(nodes, json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(n, "ID"), "spec",
							       json_object_get(n, "Spec"), "hostname",
							       json_object_get(json_object_get(n, "Description"), "Hostname")));
		json_object_set_new(all, "nodes", nodes);
	}
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

/* The nodes berth drained for this owner whose instance is gone from every swarm scale set: a
 * scale-in that was killed after its delete. */
static json_t *orphan_drained(const struct spec_model *m, const vmss_observed *o)
{
	json_t *out = json_array();
	size_t i;
	json_t *n;
	json_array_foreach(o->nodes, i, n) {
		const char *d = vmss_node_draining(n);
		if (!d || strcmp(d, m->name))
			continue;
		const char *host = json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
		bool has_instance = false;
		for (size_t k = 0; k < m->azure.n_scale_sets && !has_instance; k++) {
			json_t *vms = json_object_get(o->vms, m->azure.scale_sets[k].name);
			size_t j;
			json_t *vm;
			json_array_foreach(vms, j, vm) {
				const char *cn = vmss_vm_computer_name(vm);
				if (cn && host && !strcmp(cn, host))
					has_instance = true;
			}
		}
		if (!has_instance)
			json_array_append_new(out, json_pack("{s:O?, s:s?, s:i, s:s}", "node", json_object_get(n, "ID"),
							     "hostname", host, "tasks", 0, "reason",
							     "drained by berth, its instance deleted"));
	}
	return out;
}

/* Notes: the instance-to-node mapping of each swarm scale set, the instances without a node and
 * the nodes of the set's role that no swarm scale set has an instance for. */
static void mapping_notes(const struct spec_model *m, const vmss_observed *o, plan *p)
{
	for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
		const spec_scale_set *ss = &m->azure.scale_sets[i];
		json_t *vms = json_object_get(o->vms, ss->name);
		if (!ss->swarm.present || !vms)
			continue;
		char *map = vmss_mapping_text(vms, o->nodes, o->tasks);
		plan_add_note(p, "scale set %s: instances and swarm nodes: %s", ss->name, json_array_size(vms) ? map : "none");
		free(map);
		size_t j;
		json_t *vm;
		json_array_foreach(vms, j, vm)
			if (!vmss_node_for(o->nodes, vmss_vm_computer_name(vm)))
				plan_add_note(p, "scale set %s: instance %s (%s) has no swarm node", ss->name,
					      json_string_value(json_object_get(vm, "instanceId")),
					      vmss_vm_computer_name(vm) ? vmss_vm_computer_name(vm) : "no computer name");
	}
	size_t j;
	json_t *n;
	json_array_foreach(o->nodes, j, n) {
		const char *host = json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
		const char *role = json_string_value(json_object_get(json_object_get(n, "Spec"), "Role"));
		bool role_backed = false, found = false;
		for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
			const spec_scale_set *ss = &m->azure.scale_sets[i];
			if (!ss->swarm.present)
				continue;
			if (role && !strcmp(role, ss->swarm.role == SPEC_NODE_MANAGER ? "manager" : "worker"))
				role_backed = true;
			size_t k;
			json_t *vm;
			json_array_foreach(json_object_get(o->vms, ss->name), k, vm) {
				const char *cn = vmss_vm_computer_name(vm);
				if (cn && host && !strcmp(cn, host))
					found = true;
			}
		}
		if (role_backed && !found)
			plan_add_note(p, "swarm node %s (%s) has no instance in a scale set that backs the swarm", host ? host : "?",
				      role);
	}
}

static char *chosen_text(json_t *c)
{
	const char *host = json_string_value(json_object_get(c, "hostname"));
	json_int_t tasks = json_integer_value(json_object_get(c, "tasks"));
	if (!host)
		return xasprintf("%s (no swarm node): %s", json_string_value(json_object_get(c, "computer")),
				 json_string_value(json_object_get(c, "reason")));
	return xasprintf("%s (node %s, %lld task%s): %s", json_string_value(json_object_get(c, "computer")), host,
			 (long long)tasks, tasks == 1 ? "" : "s", json_string_value(json_object_get(c, "reason")));
}

/* The VM list with only the instance whose computer name is host (a new array). */
static json_t *only_instance(json_t *vms, const char *host)
{
	json_t *out = json_array();
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm) {
		const char *cn = vmss_vm_computer_name(vm);
		if (cn && host && !strcmp(cn, host))
			json_array_append(out, vm);
	}
	return out;
}

/* The step that records an autoscale decision on the scale set (its tags), which the cooldown
 * counts from; returns its id. */
static size_t record_step(const struct spec_model *m, const spec_scale_set *ss, json_t *obs, const vmss_scaling *sc,
			  long long now_ms, plan *p)
{
	json_t *tags = vmss_autoscale_tags(obs, &sc->d, now_ms);
	const char *old = json_string_value(json_object_get(json_object_get(obs, "tags"), CLUSTER_TAG));
	size_t id = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, "record the autoscale decision",
				  azure_step_new(STEP_RECORD, azure_resource_path(m, VMSS_TYPE, ss->name),
						 json_pack("{s:O}", "tags", tags), ss->name));
	char *shown = xasprintf("%lld %s %s", (long long)sc->d.capacity, KNOWN_AFTER_APPLY,
				autoscale_direction_name(sc->d.direction));
	plan_add_change(p, id, "tag " CLUSTER_TAG, old, shown, false);
	free(shown);
	json_decref(tags);
	return id;
}

/* A scale-in of a set that backs the swarm: a drain step and a delete step, tied by references.
 * An autoscaler's decision (sc) is recorded first, and names the one node that goes. */
static json_t *swarm_scale_in(const struct spec_model *m, const vmss_observed *o, const spec_scale_set *ss, json_t *obs,
			      json_int_t have, int64_t want, const vmss_scaling *sc, plan *p, problems *pr)
{
	json_t *vms = json_object_get(o->vms, ss->name);
	json_t *only = sc && sc->d.victim >= 0 ? only_instance(vms, sc->nodes[sc->d.victim].hostname) : NULL;
	size_t k = (size_t)(have - want);
	json_t *chosen = NULL;
	char *why = NULL;
	if (vmss_choose(only ? only : vms, o->nodes, o->tasks, m->name, k, &chosen, &why) != 0) {
		problem(pr, "scale set '%s': cannot scale in from %lld to %lld: %s", ss->name, (long long)have,
			(long long)want, why);
		free(why);
		json_decref(only);
		return NULL;
	}
	json_decref(only);
	json_t *ids = json_array();
	char *path = azure_resource_path(m, VMSS_TYPE, ss->name);
	char *reason = sc ? xasprintf("drain nodes before deleting their instances; autoscale down: %s", sc->d.reason)
			  : xstrdup("drain nodes before deleting their instances");
	size_t drain = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, reason,
				     azure_step_new(STEP_DRAIN, xstrdup(path), json_incref(chosen), ss->name));
	free(reason);
	if (sc && !sc->resumed)
		plan_add_dep(p, drain, record_step(m, ss, obs, sc, o->observed_ms, p));
	plan_add_ref(p, drain, PLAN_REMOVES, "capacity swarm");
	char old_v[32], new_v[32];
	snprintf(old_v, sizeof(old_v), "%lld", (long long)have);
	snprintf(new_v, sizeof(new_v), "%lld", (long long)want);
	size_t del = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, "delete the drained instances",
				   azure_step_new(STEP_DELETE_INSTANCES, path, chosen, ss->name));
	plan_add_change(p, del, "capacity", old_v, new_v, false);
	plan_add_ref(p, del, PLAN_REMOVES, "capacity swarm");
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		const char *iid = json_string_value(json_object_get(c, "instance"));
		char *field = xasprintf("instance %s", iid);
		char *text = chosen_text(c);
		plan_add_change(p, drain, field, text, json_object_get(c, "node") ? "drained" : "(no node to drain)", false);
		plan_add_change(p, del, field, text, "(deleted)", false);
		free(text);
		free(field);
		plan_add_ref(p, drain, PLAN_GIVES, "drained %s/%s", ss->name, iid);
		plan_add_ref(p, del, PLAN_NEEDS, "drained %s/%s", ss->name, iid);
		if (json_object_get(c, "node"))
			json_array_append(ids, json_object_get(c, "node"));
	}
	return ids;
}

static bool in_ids(json_t *ids, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		if (id && !strcmp(json_string_value(v), id))
			return true;
	return false;
}

/* Nodes of the set berth drained for a scale-in that is no longer wanted (the capacity was put
 * back, min was raised, a timed-out drain was given up): back into service, before the services. */
static void undrain_steps(const struct spec_model *m, const vmss_observed *o, const spec_scale_set *ss, json_t *going,
			  plan *p)
{
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(o->vms, ss->name), i, vm) {
		json_t *node = vmss_node_for(o->nodes, vmss_vm_computer_name(vm));
		const char *d = node ? vmss_node_draining(node) : NULL;
		const char *id = json_string_value(json_object_get(node, "ID"));
		if (!d || strcmp(d, m->name) || !id || in_ids(going, id))
			continue;
		const char *host = vmss_vm_computer_name(vm);
		size_t step = plan_add_step(p, PLAN_UPDATE, "swarm node", host,
					    "drained for a scale-in that is no longer wanted: back into service",
					    azure_step_new(STEP_UNDRAIN, NULL, json_pack("{s:s}", "node", id), host));
		plan_add_change(p, step, "availability", "drain", "active", false);
		plan_add_ref(p, step, PLAN_GIVES, "capacity swarm");
	}
}

/* The idle clock of each node of an autoscaled set: berth.idle-since set when berth first sees
 * it idle (and a scale-in could follow), removed when it is busy again, stops taking tasks or
 * its load cannot be read. */
static void idle_marks(const vmss_scaling *sc, long long now_ms, plan *p)
{
	for (size_t i = 0; i < sc->in.n_nodes; i++) {
		const cluster_node *n = &sc->nodes[i];
		if (n->draining_ours || (long)i == sc->d.victim)
			continue;
		bool idle = cluster_node_idle(&sc->in, n), marked = n->idle_since_ns >= 0;
		char since[32], *why;
		snprintf(since, sizeof(since), "%lld", now_ms / 1000);
		/* No reading or time in what the plan shows: a saved plan is applied only if the plan
		 * made then is the same (the values are the apply's). */
		if (idle && !marked && n->removable && sc->in.current > sc->in.min)
			why = xasprintf("idle: its tasks use less than %.0f%% of its CPUs", sc->in.cpu_below);
		else if (marked && !idle && !n->ready)
			why = xstrdup("not taking tasks");
		else if (marked && !idle && !n->cpu_known) /* the clock cannot be trusted across a gap */
			why = xstrdup("its load could not be read");
		else if (marked && !idle)
			why = xasprintf("busy again: its tasks use %.0f%% of its CPUs or more", sc->in.cpu_below);
		else
			continue;
		const char *id = json_string_value(json_object_get(sc->node_of[i], "ID"));
		size_t step = plan_add_step(p, PLAN_UPDATE, "swarm node", n->hostname, why,
					    azure_step_new(STEP_IDLE_MARK, NULL,
							   json_pack("{s:s, s:s?}", "node", id, "since", idle ? since : NULL),
							   n->hostname));
		char *old = marked ? xasprintf("%lld", (long long)(n->idle_since_ns / 1000000000LL)) : NULL;
		plan_add_change(p, step, "label " CLUSTER_LABEL_IDLE_SINCE, old, idle ? KNOWN_AFTER_APPLY : NULL, false);
		free(old);
		free(why);
	}
}

/* A capacity change that is not a swarm scale-in: a PATCH of sku.capacity (with the autoscale
 * decision's tags), waiting for the new nodes when the set backs the swarm. */
static void capacity_step(const struct spec_model *m, const vmss_observed *o, const spec_scale_set *ss, json_t *obs,
			  bool swarm, json_int_t have, int64_t want, const vmss_scaling *sc, plan *p)
{
	char old_v[32], new_v[32];
	snprintf(old_v, sizeof(old_v), "%lld", (long long)have);
	snprintf(new_v, sizeof(new_v), "%lld", (long long)want);
	bool grow = want > have;
	json_t *body = json_pack("{s:{s:I}}", "sku", "capacity", (json_int_t)want);
	if (sc)
		json_object_set_new(body, "tags", vmss_autoscale_tags(obs, &sc->d, o->observed_ms));
	char *reason = sc ? xasprintf("capacity %s; autoscale %s: %s", grow ? "increased" : "decreased",
				      autoscale_direction_name(sc->d.direction), sc->d.reason)
			  : xstrdup(grow ? "capacity increased" : "capacity decreased");
	azure_step *s =
		azure_step_new(swarm ? STEP_JOIN : STEP_CAPACITY, azure_resource_path(m, VMSS_TYPE, ss->name), body, ss->name);
	size_t id = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, reason, s);
	free(reason);
	plan_add_change(p, id, "capacity", old_v, new_v, false);
	/* Which instances there are now; on a decrease the scale-in policy picks which go. */
	json_t *inst = json_object_get(o->instances, ss->name);
	if (json_array_size(inst)) {
		char *now = instance_list(inst);
		plan_add_change(p, id, "instances", now,
				grow ? (swarm ? "(kept; Azure adds the new ones, berth waits for their nodes)"
					      : "(kept; Azure adds the new ones)")
				     : "(Azure's scale-in policy picks which go)",
				false);
		free(now);
	}
	plan_add_ref(p, id, grow ? PLAN_GIVES : PLAN_REMOVES, "capacity swarm");
}

/* A scale-out whose wait was cut short: the nodes have still to be waited for. */
static void join_step(const struct spec_model *m, const vmss_observed *o, const spec_scale_set *ss, plan *p)
{
	size_t j;
	json_t *vm;
	bool unjoined = false;
	json_array_foreach(json_object_get(o->vms, ss->name), j, vm)
		if (!vmss_node_for(o->nodes, vmss_vm_computer_name(vm)))
			unjoined = true;
	if (!unjoined)
		return;
	size_t id = plan_add_step(p, PLAN_UPDATE, "scale set", ss->name, "wait for instances to join the swarm",
				  azure_step_new(STEP_JOIN, azure_resource_path(m, VMSS_TYPE, ss->name), NULL, ss->name));
	plan_add_ref(p, id, PLAN_GIVES, "capacity swarm");
}

/* One scale set of the spec, owned and observed as obs: its capacity, or its autoscaler's. */
static void diff_set(const struct spec_model *m, const vmss_observed *o, const spec_scale_set *ss, json_t *obs, plan *p,
		     problems *pr)
{
	bool swarm = ss->swarm.present && o->nodes && json_object_get(o->vms, ss->name);
	json_int_t have = json_integer_value(json_object_get(json_object_get(obs, "sku"), "capacity"));
	int64_t want = ss->capacity;
	vmss_scaling scaling, *sc = NULL;
	if (ss->autoscale.present && !swarm) {
		problem(pr, "scale set '%s': autoscale needs its instances and the swarm's nodes, which were not observed",
			ss->name);
		return;
	}
	if (ss->autoscale.present) {
		sc = &scaling;
		vmss_autoscale_eval(ss, m->name, obs, json_object_get(o->vms, ss->name), o->nodes, o->tasks, o->load,
				    o->observed_ms, sc);
		want = sc->d.capacity;
		if (sc->d.direction == AUTOSCALE_HOLD)
			plan_add_note(p, "scale set %s: autoscale keeps %lld instance%s: %s", ss->name, (long long)want,
				      want == 1 ? "" : "s", sc->d.reason);
		plan_recheck_after(p, (double)sc->d.wait_ns / 1e9);
		idle_marks(sc, o->observed_ms, p);
	}
	if (swarm && want < have) {
		json_t *going = swarm_scale_in(m, o, ss, obs, have, want, sc, p, pr);
		if (going) /* NULL: the scale-in is a plan error, nothing to undo beside it */
			undrain_steps(m, o, ss, going, p);
		json_decref(going);
	} else {
		if (swarm)
			undrain_steps(m, o, ss, NULL, p);
		if (have == want && swarm)
			join_step(m, o, ss, p);
		else if (have != want)
			capacity_step(m, o, ss, obs, swarm, have, want, sc, p);
	}
	if (sc)
		vmss_scaling_free(sc);
}

static int vmss_diff(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts,
		     plan *p, berth_error *err)
{
	(void)complete; /* berth never deletes scale sets */
	(void)opts;
	const vmss_observed *o = observed;
	problems pr;
	problems_init(&pr);
	if (o->nodes)
		mapping_notes(m, o, p);
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
		diff_set(m, o, ss, obs, p, &pr);
	}
	if (o->nodes) {
		json_t *orphans = orphan_drained(m, o);
		size_t i;
		json_t *c;
		json_array_foreach(orphans, i, c) {
			const char *host = json_string_value(json_object_get(c, "hostname"));
			size_t id = plan_add_step(p, PLAN_DELETE, "swarm node", host ? host : "?",
						  "drained by berth and its instance deleted",
						  azure_step_new(STEP_REMOVE_NODES, NULL, json_pack("[O]", c), host ? host : "?"));
			plan_add_ref(p, id, PLAN_REMOVES, "capacity swarm");
		}
		json_decref(orphans);
	}
	return problems_to_error(&pr, err);
}

static const spec_scale_set *scale_set_named(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; i < m->azure.n_scale_sets; i++)
		if (!strcmp(m->azure.scale_sets[i].name, name))
			return &m->azure.scale_sets[i];
	return NULL;
}

#define NS_TO_S(ns) ((double)(ns) / 1e9)

/* Waits for a Ready node for every instance of the scale set (after a growth, or resumed). */
static int wait_joined(const berth_env *env, const spec_scale_set *ss, const char *path, berth_error *err)
{
	char *vpath = xasprintf("%s/virtualMachines", path);
	json_t *vms = NULL;
	char *msg = NULL;
	int rc = arm_list(env->arm, vpath, ARM_API_COMPUTE, &vms, &msg);
	free(vpath);
	if (rc != 0)
		return azure_error(env->arm, rc, NULL, msg, err);
	json_t *names = json_array();
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm)
		if (vmss_vm_computer_name(vm))
			json_array_append_new(names, json_string(vmss_vm_computer_name(vm)));
	json_decref(vms);
	rc = vmss_wait_joined(env, names, NS_TO_S(ss->swarm.join_timeout_ns), err);
	json_decref(names);
	if (rc != 0)
		berth_error_prefix(err, "scale set %s: ", ss->name);
	return rc;
}

static int delete_instances(const berth_env *env, const spec_scale_set *ss, azure_step *s, berth_error *err)
{
	json_t *ids = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(s->body, i, c)
		json_array_append(ids, json_object_get(c, "instance"));
	json_t *body = json_pack("{s:o}", "instanceIds", ids);
	char *path = xasprintf("%s/delete", s->path);
	arm_response r;
	char *msg = NULL;
	int rc = arm_call(env->arm, "POST", path, ARM_API_COMPUTE, body, &r, &msg);
	rc = azure_error(env->arm, rc, &r, msg, err);
	arm_response_free(&r);
	free(path);
	json_decref(body);
	if (rc == 0)
		rc = vmss_remove_nodes(env, s->body, NS_TO_S(ss->swarm.drain_timeout_ns), err);
	if (rc != 0)
		berth_error_prefix(err, "scale set %s: ", ss->name);
	return rc;
}

static int vmss_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
		      berth_error *err)
{
	(void)step;
	azure_step *s = payload;
	const spec_scale_set *ss = scale_set_named(m, s->name);
	int rc;
	switch (s->kind) {
	case STEP_DRAIN:
		rc = vmss_drain(env, s->body, m->name, NS_TO_S(ss->swarm.drain_timeout_ns), err);
		if (rc != 0)
			berth_error_prefix(err, "scale set %s: ", ss->name);
		return rc;
	case STEP_DELETE_INSTANCES:
		return delete_instances(env, ss, s, err);
	case STEP_REMOVE_NODES:
		return vmss_remove_nodes(env, s->body, 600, err);
	case STEP_UNDRAIN:
		return vmss_undrain(env, json_string_value(json_object_get(s->body, "node")), err);
	case STEP_IDLE_MARK:
		return vmss_set_node_label(env, json_string_value(json_object_get(s->body, "node")), CLUSTER_LABEL_IDLE_SINCE,
					   json_string_value(json_object_get(s->body, "since")), err);
	default:
		break;
	}
	if (s->body) {
		arm_response r;
		char *msg = NULL;
		/* PATCH the capacity and follow the operation until the scale set has it. */
		rc = arm_call(env->arm, "PATCH", s->path, ARM_API_COMPUTE, s->body, &r, &msg);
		rc = azure_error(env->arm, rc, &r, msg, err);
		arm_response_free(&r);
		if (rc != 0)
			return rc;
	}
	if (s->kind == STEP_JOIN)
		return wait_joined(env, ss, s->path, err);
	return 0;
}

/* The status page's part: each scale set's capacity, wanted and live, and its instances as
 * "<instance id>=<computer name>" (the computer name is the swarm node's hostname). */
static char *vmss_status(const struct spec_model *m, const void *observed, double wall_now)
{
	(void)wall_now; /* the autoscalers' now is the observation's, as in the plan */
	const vmss_observed *o = observed;
	json_t *out = json_array();
	for (size_t i = 0; i < m->azure.n_scale_sets; i++) {
		const spec_scale_set *ss = &m->azure.scale_sets[i];
		json_t *obs = azure_find_named(o->scale_sets, ss->name);
		json_t *inst = json_object_get(o->instances, ss->name);
		json_int_t have = json_integer_value(json_object_get(json_object_get(obs, "sku"), "capacity"));
		json_int_t desired = ss->capacity;
		json_t *vms = json_object_get(o->vms, ss->name);
		if (ss->autoscale.present && obs && vms && o->nodes) {
			vmss_scaling sc;
			vmss_autoscale_eval(ss, m->name, obs, vms, o->nodes, o->tasks, o->load, o->observed_ms, &sc);
			desired = sc.d.capacity;
			json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "kind", "autoscale", "scale_set",
							     ss->name, "current", have, "capacity", desired, "direction",
							     autoscale_direction_name(sc.d.direction), "reason", sc.d.reason));
			vmss_scaling_free(&sc);
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:I, s:b, s:o}", "kind", "scale_set", "name", ss->name,
						     "desired", desired, "capacity", have, "exists", obs != NULL, "instances",
						     inst ? json_incref(inst) : json_array()));
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
	.free_payload = azure_step_free,
	.status = vmss_status,
};
