/* The swarm side of a scale set that backs the swarm: mapping, the scale-in choice, drain, node
 * removal and the join wait (see vmss_nodes.h). */
#include "providers/vmss/vmss_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spec/xalloc.h"
#include "transport/docker.h"

#define POLL_S 0.5

static const char *str_at(json_t *o, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	return json_string_value(v);
}

const char *vmss_vm_computer_name(json_t *vm)
{
	return str_at(vm, "properties", "osProfile", "computerName");
}

static bool node_down(json_t *node)
{
	const char *st = str_at(node, "Status", "State", NULL);
	return st && strcmp(st, "ready") != 0;
}

json_t *vmss_node_for(json_t *nodes, const char *cn)
{
	json_t *found = NULL;
	size_t i;
	json_t *n;
	if (!cn)
		return NULL;
	json_array_foreach(nodes, i, n) {
		const char *h = str_at(n, "Description", "Hostname", NULL);
		if (!h || strcmp(h, cn))
			continue;
		if (!found || (node_down(found) && !node_down(n)))
			found = n;
	}
	return found;
}

int vmss_node_tasks(json_t *tasks, const char *node_id)
{
	int count = 0;
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const char *nid = str_at(t, "NodeID", NULL, NULL);
		const char *desired = str_at(t, "DesiredState", NULL, NULL);
		if (nid && node_id && !strcmp(nid, node_id) && desired && !strcmp(desired, "running"))
			count++;
	}
	return count;
}

const char *vmss_node_draining(json_t *node)
{
	return str_at(node, "Spec", "Labels", VMSS_LABEL_DRAINING);
}

static bool is_manager(json_t *node)
{
	const char *role = str_at(node, "Spec", "Role", NULL);
	return json_object_get(node, "ManagerStatus") || (role && !strcmp(role, "manager"));
}

static bool is_protected(json_t *vm)
{
	return json_is_true(json_object_get(json_object_get(json_object_get(vm, "properties"), "protectionPolicy"),
					    "protectFromScaleIn"));
}

char *vmss_mapping_text(json_t *vms, json_t *nodes, json_t *tasks)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		abort();
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm) {
		const char *cn = vmss_vm_computer_name(vm);
		json_t *n = vmss_node_for(nodes, cn);
		fprintf(f, "%s%s=%s", i ? ", " : "", str_at(vm, "instanceId", NULL, NULL), cn ? cn : "?");
		if (!n) {
			fprintf(f, " (no swarm node)");
			continue;
		}
		int k = vmss_node_tasks(tasks, str_at(n, "ID", NULL, NULL));
		fprintf(f, " (node %s, %s, %d task%s)", str_at(n, "Description", "Hostname", NULL),
			str_at(n, "Status", "State", NULL) ? str_at(n, "Status", "State", NULL) : "unknown", k,
			k == 1 ? "" : "s");
	}
	fclose(f);
	return out;
}

typedef struct {
	json_t *vm, *node;
	int tasks;
	int rank; /* 0 drained by us, 1 no node, 2 a node */
	long long iid;
} candidate;

static int by_rank(const void *a, const void *b)
{
	const candidate *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->tasks != y->tasks)
		return x->tasks - y->tasks;
	return x->iid < y->iid ? 1 : x->iid > y->iid ? -1 : 0;
}

int vmss_choose(json_t *vms, json_t *nodes, json_t *tasks, const char *owner, size_t k, json_t **chosen, char **why)
{
	size_t n = json_array_size(vms), nc = 0;
	candidate *c = xcalloc(n ? n : 1, sizeof(*c));
	char *skipped = NULL;
	size_t slen = 0;
	FILE *sf = open_memstream(&skipped, &slen);
	if (!sf)
		abort();
	int n_skipped = 0;
	size_t i;
	json_t *vm;
	json_array_foreach(vms, i, vm) {
		const char *iid = str_at(vm, "instanceId", NULL, NULL);
		json_t *node = vmss_node_for(nodes, vmss_vm_computer_name(vm));
		const char *drained = node ? vmss_node_draining(node) : NULL;
		bool ours = drained && owner && !strcmp(drained, owner);
		const char *skip = NULL;
		if (node && is_manager(node))
			skip = "its node is a manager";
		else if (is_protected(vm) && !ours)
			skip = "protected from scale-in";
		if (skip) {
			fprintf(sf, "%sinstance %s: %s", n_skipped++ ? "; " : "", iid ? iid : "?", skip);
			continue;
		}
		c[nc].vm = vm;
		c[nc].node = node;
		c[nc].tasks = node ? vmss_node_tasks(tasks, str_at(node, "ID", NULL, NULL)) : 0;
		c[nc].rank = ours ? 0 : node ? 2 : 1;
		c[nc].iid = iid ? strtoll(iid, NULL, 10) : 0;
		nc++;
	}
	fclose(sf);
	int rc = 0;
	if (nc < k) {
		*why = xasprintf("%zu instance%s must go but only %zu can%s%s", k, k == 1 ? "" : "s", nc,
				 n_skipped ? " (" : "", n_skipped ? skipped : "");
		if (n_skipped) {
			char *w = xasprintf("%s)", *why);
			free(*why);
			*why = w;
		}
		*chosen = NULL;
		rc = -1;
	} else {
		qsort(c, nc, sizeof(*c), by_rank);
		*chosen = json_array();
		for (size_t j = 0; j < k; j++) {
			const char *reason = c[j].rank == 0   ? "already drained by berth (resumed)"
					     : c[j].rank == 1 ? "no swarm node"
							      : "fewest tasks";
			json_t *node = c[j].node;
			json_array_append_new(*chosen,
					      json_pack("{s:s, s:s?, s:s?, s:s?, s:i, s:s}", "instance",
							str_at(c[j].vm, "instanceId", NULL, NULL), "computer",
							vmss_vm_computer_name(c[j].vm), "node",
							node ? str_at(node, "ID", NULL, NULL) : NULL, "hostname",
							node ? str_at(node, "Description", "Hostname", NULL) : NULL,
							"tasks", c[j].tasks, "reason", reason));
		}
	}
	free(skipped);
	free(c);
	return rc;
}

/* ---- Engine API ---- */

static int call(const berth_env *env, const char *method, const char *path, json_t *body, json_t **out,
		berth_error *err)
{
	long status = 0;
	json_t *resp = NULL;
	char *msg = NULL;
	int rc = docker_request(env->docker, method, path, body, &status, &resp, &msg);
	if (rc != 0) {
		berth_error_take(err, rc, msg);
		json_decref(resp);
		return rc;
	}
	free(msg);
	if (out)
		*out = resp;
	else
		json_decref(resp);
	return 0;
}

static int running_tasks(const berth_env *env, json_t **tasks, berth_error *err)
{
	char *filters = docker_filters("desired-state", "running");
	char *path = xasprintf("/tasks?filters=%s", filters);
	free(filters);
	int rc = call(env, "GET", path, NULL, tasks, err);
	free(path);
	return rc;
}

/* Sets a label (value NULL: removes it) and, unless NULL, the availability of one node, unless
 * it has them already: read-modify-write with the node's version, as the Engine API wants. */
static int update_node(const berth_env *env, const char *id, const char *key, const char *value,
		       const char *availability, berth_error *err)
{
	char *path = xasprintf("/nodes/%s", id);
	json_t *node = NULL;
	int rc = call(env, "GET", path, NULL, &node, err);
	free(path);
	if (rc != 0)
		return rc;
	json_t *spec = json_deep_copy(json_object_get(node, "Spec"));
	const char *avail = json_string_value(json_object_get(spec, "Availability"));
	const char *label = str_at(spec, "Labels", key, NULL);
	bool label_ok = value ? label && !strcmp(label, value) : !label;
	if (label_ok && (!availability || (avail && !strcmp(avail, availability)))) {
		json_decref(spec);
		json_decref(node);
		return 0;
	}
	json_int_t version = json_integer_value(json_object_get(json_object_get(node, "Version"), "Index"));
	json_t *labels = json_object_get(spec, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(spec, "Labels", labels);
	}
	if (value)
		json_object_set_new(labels, key, json_string(value));
	else
		json_object_del(labels, key);
	if (availability)
		json_object_set_new(spec, "Availability", json_string(availability));
	path = xasprintf("/nodes/%s/update?version=%lld", id, (long long)version);
	rc = call(env, "POST", path, spec, NULL, err);
	free(path);
	json_decref(spec);
	json_decref(node);
	return rc;
}

int vmss_undrain(const berth_env *env, const char *node_id, berth_error *err)
{
	return update_node(env, node_id, VMSS_LABEL_DRAINING, NULL, "active", err);
}

int vmss_set_node_label(const berth_env *env, const char *node_id, const char *key, const char *value,
			berth_error *err)
{
	return update_node(env, node_id, key, value, NULL, err);
}

static bool in_chosen(json_t *chosen, const char *node_id)
{
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		const char *id = json_string_value(json_object_get(c, "node"));
		if (id && node_id && !strcmp(id, node_id))
			return true;
	}
	return false;
}

/* Running tasks of a service (state running, desired running) on nodes outside the chosen set. */
static long long running_elsewhere(json_t *tasks, const char *service, json_t *chosen)
{
	long long n = 0;
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const char *sid = str_at(t, "ServiceID", NULL, NULL);
		const char *st = str_at(t, "Status", "State", NULL);
		if (sid && !strcmp(sid, service) && st && !strcmp(st, "running") &&
		    !in_chosen(chosen, str_at(t, "NodeID", NULL, NULL)))
			n++;
	}
	return n;
}

/* What still keeps the drain from being done, or NULL when nothing does (malloc'd). services:
 * the replicated services that had tasks on the drained nodes, id -> wanted replicas. */
static char *drain_pending(json_t *tasks, json_t *chosen, json_t *services)
{
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		const char *id = json_string_value(json_object_get(c, "node"));
		int left = id ? vmss_node_tasks(tasks, id) : 0;
		if (left)
			return xasprintf("node %s still has %d task%s", json_string_value(json_object_get(c, "hostname")),
					 left, left == 1 ? "" : "s");
	}
	const char *sid;
	json_t *want;
	json_object_foreach(services, sid, want) {
		long long have = running_elsewhere(tasks, sid, chosen);
		if (have < json_integer_value(json_object_get(want, "replicas")))
			return xasprintf("service %s runs %lld/%lld tasks elsewhere",
					 json_string_value(json_object_get(want, "name")), have,
					 (long long)json_integer_value(json_object_get(want, "replicas")));
	}
	return NULL;
}

/* The replicated services with a task on the chosen nodes now: id -> {name, replicas}. */
static int services_on(const berth_env *env, json_t *tasks, json_t *chosen, json_t **out, berth_error *err)
{
	*out = json_object();
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const char *sid = str_at(t, "ServiceID", NULL, NULL);
		if (!sid || json_object_get(*out, sid) || !in_chosen(chosen, str_at(t, "NodeID", NULL, NULL)))
			continue;
		char *path = xasprintf("/services/%s", sid);
		json_t *svc = NULL;
		berth_error e = {0};
		int rc = call(env, "GET", path, NULL, &svc, &e);
		free(path);
		if (rc == BERTH_ENOTFOUND) {
			berth_error_clear(&e);
			continue;
		}
		if (rc != 0) {
			berth_error_move(err, &e);
			return rc;
		}
		json_t *rep = json_object_get(json_object_get(json_object_get(svc, "Spec"), "Mode"), "Replicated");
		if (rep)
			json_object_set_new(*out, sid,
					    json_pack("{s:s?, s:I}", "name", str_at(svc, "Spec", "Name", NULL), "replicas",
						      json_integer_value(json_object_get(rep, "Replicas"))));
		json_decref(svc);
	}
	return 0;
}

int vmss_drain(const berth_env *env, json_t *chosen, const char *owner, double timeout_s, berth_error *err)
{
	json_t *tasks = NULL, *services = NULL;
	int rc = running_tasks(env, &tasks, err);
	if (rc == 0)
		rc = services_on(env, tasks, chosen, &services, err);
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		const char *id = json_string_value(json_object_get(c, "node"));
		if (rc == 0 && id)
			rc = update_node(env, id, VMSS_LABEL_DRAINING, owner, "drain", err);
	}
	double deadline = berth_now(env->clock) + timeout_s;
	while (rc == 0) {
		json_decref(tasks);
		tasks = NULL;
		rc = running_tasks(env, &tasks, err);
		if (rc != 0)
			break;
		char *pending = drain_pending(tasks, chosen, services);
		if (!pending)
			break;
		if (berth_now(env->clock) >= deadline) {
			rc = berth_error_set(err, BERTH_ETIMEOUT,
					     "drain did not finish within %.0fs: %s; the nodes stay drained", timeout_s,
					     pending);
			free(pending);
			break;
		}
		free(pending);
		if (!berth_sleep(env->clock, POLL_S, env->cancel))
			rc = berth_error_set(err, BERTH_ECANCELED, "cancelled while draining");
	}
	json_decref(tasks);
	json_decref(services);
	return rc;
}

int vmss_remove_nodes(const berth_env *env, json_t *chosen, double timeout_s, berth_error *err)
{
	double deadline = berth_now(env->clock) + timeout_s;
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		const char *id = json_string_value(json_object_get(c, "node"));
		if (!id)
			continue;
		char *path = xasprintf("/nodes/%s", id);
		for (;;) {
			json_t *node = NULL;
			berth_error e = {0};
			int rc = call(env, "GET", path, NULL, &node, &e);
			if (rc == BERTH_ENOTFOUND) {
				berth_error_clear(&e);
				break;
			}
			if (rc != 0) {
				free(path);
				berth_error_move(err, &e);
				return rc;
			}
			bool down = node_down(node);
			json_decref(node);
			if (down) {
				rc = call(env, "DELETE", path, NULL, NULL, &e);
				if (rc != 0 && rc != BERTH_ENOTFOUND) {
					free(path);
					berth_error_move(err, &e);
					return rc;
				}
				berth_error_clear(&e);
				break;
			}
			if (berth_now(env->clock) >= deadline) {
				free(path);
				return berth_error_set(err, BERTH_ETIMEOUT,
						       "node %s is still up %.0fs after its instance was deleted",
						       json_string_value(json_object_get(c, "hostname")), timeout_s);
			}
			if (!berth_sleep(env->clock, POLL_S, env->cancel)) {
				free(path);
				return berth_error_set(err, BERTH_ECANCELED, "cancelled while waiting for node %s to go down",
						       json_string_value(json_object_get(c, "hostname")));
			}
		}
		free(path);
	}
	return 0;
}

int vmss_wait_joined(const berth_env *env, json_t *computer_names, double timeout_s, berth_error *err)
{
	double deadline = berth_now(env->clock) + timeout_s;
	for (;;) {
		json_t *nodes = NULL;
		int rc = call(env, "GET", "/nodes", NULL, &nodes, err);
		if (rc != 0)
			return rc;
		const char *missing = NULL;
		size_t i;
		json_t *cn;
		json_array_foreach(computer_names, i, cn) {
			json_t *n = vmss_node_for(nodes, json_string_value(cn));
			if (!n || node_down(n)) {
				missing = json_string_value(cn);
				break;
			}
		}
		char *m = missing ? xstrdup(missing) : NULL;
		json_decref(nodes);
		if (!m)
			return 0;
		if (berth_now(env->clock) >= deadline) {
			rc = berth_error_set(err, BERTH_ETIMEOUT, "instance %s has no Ready swarm node after %.0fs", m,
					     timeout_s);
			free(m);
			return rc;
		}
		free(m);
		if (!berth_sleep(env->clock, POLL_S, env->cancel))
			return berth_error_set(err, BERTH_ECANCELED, "cancelled while waiting for new nodes to join");
	}
}
