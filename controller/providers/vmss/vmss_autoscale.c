/* Cluster autoscaling inputs from the observed scale set, nodes and tasks (see vmss_autoscale.h). */
#include "providers/vmss/vmss_autoscale.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "providers/common/engine_stats.h"
#include "providers/vmss/vmss_nodes.h"
#include "spec/xalloc.h"

#define MS_NS 1000000LL
#define TAG_MAX 256 /* Azure: a tag value has at most 256 characters */

static json_t *at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return b ? json_object_get(v, b) : v;
}

static const char *str(json_t *o, const char *a, const char *b)
{
	return json_string_value(at(o, a, b));
}

static bool is_running(json_t *t)
{
	const char *desired = str(t, "DesiredState", NULL), *state = str(t, "Status", "State");
	return desired && !strcmp(desired, "running") && state && !strcmp(state, "running");
}

static bool on_node(json_t *t, const char *node_id)
{
	const char *nid = str(t, "NodeID", NULL);
	const char *desired = str(t, "DesiredState", NULL);
	return nid && node_id && !strcmp(nid, node_id) && desired && !strcmp(desired, "running");
}

/* ---- load, at observe time ---- */

typedef struct {
	const char *node_id;
	long read; /* -1: none (no engine, or no container yet) */
} pending_read;

json_t *vmss_observe_load(docker *d, const struct spec_model *m, json_t *vms, json_t *nodes, json_t *tasks,
			  unsigned long *requests)
{
	json_t *load = json_object();
	engine_stats *es = NULL;
	pending_read *reads = NULL;
	size_t n_reads = 0, cap = 0;
	for (size_t s = 0; s < m->azure.n_scale_sets; s++) {
		const spec_scale_set *ss = &m->azure.scale_sets[s];
		if (!ss->autoscale.present)
			continue;
		size_t i;
		json_t *vm;
		json_array_foreach(json_object_get(vms, ss->name), i, vm) {
			json_t *node = vmss_node_for(nodes, vmss_vm_computer_name(vm));
			const char *id = str(node, "ID", NULL);
			if (!id || json_object_get(load, id))
				continue;
			json_object_set_new(load, id, json_pack("{s:f, s:b}", "cpus", 0.0, "known", true));
			size_t k;
			json_t *t;
			json_array_foreach(tasks, k, t) {
				if (!is_running(t) || !on_node(t, id))
					continue;
				if (!es)
					es = engine_stats_open(d, &m->swarm);
				if (n_reads == cap) {
					cap = cap ? 2 * cap : 16;
					reads = xrealloc(reads, cap * sizeof(*reads));
				}
				const char *cid = str(at(t, "Status", "ContainerStatus"), "ContainerID", NULL);
				reads[n_reads++] = (pending_read){id, engine_stats_add(es, id, cid)};
			}
		}
	}
	if (es) {
		engine_stats_run(es);
		for (size_t k = 0; k < n_reads; k++) {
			json_t *l = json_object_get(load, reads[k].node_id);
			double cpus = 0, mem = 0;
			bool has_mem = false;
			json_t *answer = engine_stats_answer(es, reads[k].read);
			/* No answer, or a first reading without a CPU figure: the node's load is not known. */
			if (!answer || !engine_stats_usage(answer, &cpus, &mem, &has_mem))
				json_object_set_new(l, "known", json_false());
			else
				json_object_set_new(l, "cpus", json_real(json_real_value(json_object_get(l, "cpus")) + cpus));
		}
		*requests += engine_stats_requests(es);
		engine_stats_free(es);
	}
	free(reads);
	return load;
}

/* ---- constraints ---- */

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* The value a node has for a constraint key: an existing node's own (is_new false), or a new
 * node of a set of this role, like the template node (tmpl: its platform and labels, not berth's
 * labels; a new node has no id or hostname of today). *known false when it cannot be told (then
 * the constraint is taken to hold). NULL with *known: the key has no value there. */
static const char *node_value(const char *key, json_t *node, bool is_new, spec_node_role role, bool *known)
{
	*known = true;
	if (!strcmp(key, "node.role"))
		return is_new ? (role == SPEC_NODE_MANAGER ? "manager" : "worker") : str(node, "Spec", "Role");
	if (!strcmp(key, "node.id"))
		return is_new ? NULL : str(node, "ID", NULL);
	if (!strcmp(key, "node.hostname"))
		return is_new ? NULL : str(node, "Description", "Hostname");
	*known = node != NULL;
	if (!node)
		return NULL;
	if (!strcmp(key, "node.platform.os"))
		return str(at(node, "Description", "Platform"), "OS", NULL);
	if (!strcmp(key, "node.platform.arch"))
		return str(at(node, "Description", "Platform"), "Architecture", NULL);
	if (!strncmp(key, "node.labels.", 12)) {
		if (is_new && !strncmp(key + 12, "berth.", 6))
			return NULL; /* the labels the set's nodes get when they join: not berth's own */
		return str(at(node, "Spec", "Labels"), key + 12, NULL);
	}
	if (!strncmp(key, "engine.labels.", 14))
		return str(at(at(node, "Description", "Engine"), "Labels", NULL), key + 14, NULL);
	*known = false;
	return NULL;
}

static bool constraints_hold(json_t *constraints, json_t *node, bool is_new, spec_node_role role)
{
	size_t i;
	json_t *c;
	json_array_foreach(constraints, i, c) {
		const char *text = json_string_value(c);
		if (!text)
			continue;
		char *copy = xstrdup(text);
		char *op = strstr(copy, "==");
		bool eq = op != NULL;
		if (!op)
			op = strstr(copy, "!=");
		if (!op) {
			free(copy);
			continue; /* the engine refuses it anyway */
		}
		*op = 0;
		const char *key = trim(copy), *want = trim(op + 2);
		bool known;
		const char *have = node_value(key, node, is_new, role, &known);
		bool holds = !known || ((have && !strcasecmp(have, want)) == eq);
		free(copy);
		if (!holds)
			return false;
	}
	return true;
}

bool vmss_constraints_fit_new(json_t *constraints, spec_node_role role, json_t *tmpl)
{
	return constraints_hold(constraints, tmpl, true, role);
}

bool vmss_pending_for_resources(const char *err)
{
	return err && (strstr(err, "insufficient resources") || strstr(err, "max replicas per node"));
}

/* ---- the input ---- */

/* Engine figures, kept where sums of them cannot overflow: none is negative or near 2^63 on any
 * real node (2^50 nano CPUs is a million cores). */
#define FIGURE_MAX (1LL << 50)
static int64_t figure(json_t *v)
{
	json_int_t n = json_integer_value(v);
	return n < 0 ? 0 : n > FIGURE_MAX ? FIGURE_MAX : n;
}

/* Seconds since the epoch as wall ns; -1 when absent or beyond what ns can count (2262). */
#define SECONDS_MAX 9000000000LL
static int64_t seconds_ns(long long s)
{
	return s > 0 && s < SECONDS_MAX ? s * 1000000000LL : -1;
}

static int64_t reservation(json_t *t, const char *key)
{
	return figure(at(at(at(t, "Spec", "Resources"), "Reservations", NULL), key, NULL));
}

static int64_t created_ns(json_t *t)
{
	long long ms = berth_rfc3339_ms(str(t, "CreatedAt", NULL));
	return ms > 0 && ms / 1000 < SECONDS_MAX ? ms * MS_NS : 0;
}

static cluster_task task_of(json_t *t)
{
	return (cluster_task){.service = str(t, "ServiceID", NULL),
			      .since_ns = created_ns(t),
			      .nano_cpus = reservation(t, "NanoCPUs"),
			      .memory = reservation(t, "MemoryBytes"),
			      .max_per_node = figure(at(at(t, "Spec", "Placement"), "MaxReplicas", NULL))};
}

static bool is_manager(json_t *node)
{
	const char *role = str(node, "Spec", "Role");
	return json_object_get(node, "ManagerStatus") || (role && !strcmp(role, "manager"));
}

static bool node_ready(json_t *node)
{
	const char *st = str(node, "Status", "State"), *av = str(node, "Spec", "Availability");
	return st && !strcmp(st, "ready") && av && !strcmp(av, "active");
}

static int64_t label_since_ns(json_t *node)
{
	const char *v = str(at(node, "Spec", "Labels"), CLUSTER_LABEL_IDLE_SINCE, NULL);
	char *end;
	long long s = v ? strtoll(v, &end, 10) : -1;
	return v && end != v && !*end ? seconds_ns(s) : -1;
}

/* When the capacity last changed, from the tag: only if the set has the capacity recorded. A
 * scale-in is recorded before its drain, so a set still larger than its tag says is one whose
 * scale-in was cut short before it drained anything: no cooldown holds it back. */
static int64_t tag_at_ns(json_t *obs)
{
	const char *v = str(at(obs, "tags", NULL), CLUSTER_TAG, NULL);
	long long cap, s;
	if (!v || sscanf(v, "%lld %lld", &cap, &s) != 2)
		return -1;
	return cap == json_integer_value(at(obs, "sku", "capacity")) ? seconds_ns(s) : -1;
}

void vmss_autoscale_eval(const spec_scale_set *ss, const char *owner, json_t *obs, json_t *vms, json_t *nodes,
			 json_t *tasks, json_t *load, long long now_ms, vmss_scaling *out)
{
	memset(out, 0, sizeof(*out));
	const spec_cluster_autoscale *a = &ss->autoscale;
	size_t n_vms = json_array_size(vms), n_tasks = json_array_size(tasks);
	out->nodes = xcalloc(n_vms + 1, sizeof(*out->nodes));
	out->node_of = xcalloc(n_vms + 1, sizeof(*out->node_of));
	/* each task is on one node at most (ids are unique here), and pending or not: twice at most */
	out->tasks = xcalloc(2 * n_tasks + 1, sizeof(*out->tasks));
	json_t **own_json = xcalloc(n_tasks + 1, sizeof(*own_json)); /* out->tasks[i]'s task */
	size_t nn = 0, nt = 0;
	json_t *tmpl = NULL;
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm) {
		json_t *node = vmss_node_for(nodes, vmss_vm_computer_name(vm));
		const char *id = str(node, "ID", NULL);
		bool seen = false;
		for (size_t j = 0; j < nn && id; j++)
			seen |= !strcmp(str(out->node_of[j], "ID", NULL), id);
		if (!id || seen) /* two instances of one computer name: the node counts once */
			continue;
		if (!tmpl && node_ready(node))
			tmpl = node;
		cluster_node *n = &out->nodes[nn];
		out->node_of[nn++] = node;
		const char *drained = vmss_node_draining(node);
		json_t *l = json_object_get(load, id);
		bool protect = json_is_true(at(at(vm, "properties", "protectionPolicy"), "protectFromScaleIn", NULL));
		*n = (cluster_node){.hostname = str(node, "Description", "Hostname"),
				    .instance = str(vm, "instanceId", NULL),
				    .ready = node_ready(node),
				    .removable = !is_manager(node) && !protect,
				    .draining_ours = drained && owner && !strcmp(drained, owner),
				    .cpu_known = json_is_true(json_object_get(l, "known")),
				    .idle_since_ns = label_since_ns(node),
				    .nano_cpus = figure(at(at(node, "Description", "Resources"), "NanoCPUs", NULL)),
				    .memory = figure(at(at(node, "Description", "Resources"), "MemoryBytes", NULL)),
				    .own = &out->tasks[nt]};
		if (n->cpu_known && n->nano_cpus > 0)
			n->cpu_percent = json_real_value(json_object_get(l, "cpus")) / ((double)n->nano_cpus / 1e9) * 100.0;
		size_t k;
		json_t *t;
		json_array_foreach(tasks, k, t) {
			if (!on_node(t, id))
				continue;
			own_json[nt] = t;
			out->tasks[nt] = task_of(t);
			n->used_cpus += out->tasks[nt].nano_cpus;
			n->used_memory += out->tasks[nt].memory;
			nt++;
			n->n_own++;
		}
		n->tasks = (int)n->n_own;
	}
	/* Where each node's own tasks could go: their constraints on each node of the set. */
	out->allowed = xcalloc(nt * nn + 1, sizeof(*out->allowed));
	size_t own = 0;
	for (size_t j = 0; j < nn; j++) {
		cluster_node *n = &out->nodes[j];
		for (size_t q = 0; q < n->n_own; q++, own++) {
			bool *row = &out->allowed[own * nn];
			json_t *constraints = at(at(own_json[own], "Spec", "Placement"), "Constraints", NULL);
			for (size_t x = 0; x < nn; x++)
				row[x] = constraints_hold(constraints, out->node_of[x], false, ss->swarm.role);
			out->tasks[own].allowed = row;
		}
	}
	free(own_json);
	cluster_task *pending = &out->tasks[nt];
	size_t np = 0;
	size_t k;
	json_t *t;
	json_array_foreach(tasks, k, t) {
		const char *state = str(t, "Status", "State"), *desired = str(t, "DesiredState", NULL);
		if (!state || strcmp(state, "pending") || !desired || strcmp(desired, "running") ||
		    !vmss_pending_for_resources(str(t, "Status", "Err")))
			continue;
		pending[np] = task_of(t);
		pending[np].fits_new_node =
			vmss_constraints_fit_new(at(at(t, "Spec", "Placement"), "Constraints", NULL), ss->swarm.role, tmpl);
		np++;
	}
	out->in = (cluster_input){
		.current = json_integer_value(at(obs, "sku", "capacity")),
		.min = a->min,
		.max = a->max,
		.now_ns = now_ms * MS_NS,
		.last_at_ns = tag_at_ns(obs),
		.cooldown_ns = a->cooldown_ns,
		.pending_for_ns = a->pending_for_ns,
		.idle_for_ns = a->idle_for_ns,
		.cpu_below = a->cpu_below,
		.nodes = out->nodes,
		.n_nodes = nn,
		.pending = pending,
		.n_pending = np,
		.new_cpus = tmpl ? figure(at(at(tmpl, "Description", "Resources"), "NanoCPUs", NULL)) : 0,
		.new_memory = tmpl ? figure(at(at(tmpl, "Description", "Resources"), "MemoryBytes", NULL)) : 0,
	};
	for (size_t j = 0; j < nn; j++)
		out->resumed |= out->nodes[j].draining_ours;
	cluster_decide(&out->in, &out->d);
}

void vmss_scaling_free(vmss_scaling *s)
{
	free(s->allowed);
	free(s->nodes);
	free(s->node_of);
	free(s->tasks);
	memset(s, 0, sizeof(*s));
}

json_t *vmss_autoscale_tags(json_t *obs, const cluster_decision *d, long long now_ms)
{
	json_t *tags = json_deep_copy(json_object_get(obs, "tags"));
	if (!json_is_object(tags)) {
		json_decref(tags);
		tags = json_object();
	}
	char v[96];
	snprintf(v, sizeof(v), "%lld %lld %s", (long long)d->capacity, now_ms / 1000, autoscale_direction_name(d->direction));
	json_object_set_new(tags, CLUSTER_TAG, json_string(v));
	json_object_set_new(tags, CLUSTER_TAG_REASON, json_stringn(d->reason, strnlen(d->reason, TAG_MAX)));
	return tags;
}
