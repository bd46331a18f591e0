/* The scale-in choice of a scale set that backs the swarm (providers/vmss/vmss_nodes.c): which
 * instances go, in which order, and which never do; and the instance-to-node mapping text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "providers/vmss/vmss_autoscale.h"
#include "providers/vmss/vmss_nodes.h"

static json_t *vm(const char *iid, const char *cn, bool protect)
{
	json_t *v = json_pack("{s:s, s:{s:{s:s}}}", "instanceId", iid, "properties", "osProfile", "computerName", cn);
	if (protect)
		json_object_set_new(json_object_get(v, "properties"), "protectionPolicy",
				    json_pack("{s:b}", "protectFromScaleIn", 1));
	return v;
}

static json_t *node(const char *id, const char *host, const char *state, bool manager, const char *draining)
{
	json_t *n = json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s, s:{}}}", "ID", id, "Description", "Hostname", host,
			      "Status", "State", state, "Spec", "Role", manager ? "manager" : "worker", "Availability",
			      draining ? "drain" : "active", "Labels");
	if (manager)
		json_object_set_new(n, "ManagerStatus", json_pack("{s:s}", "Reachability", "reachable"));
	if (draining)
		json_object_set_new(json_object_get(json_object_get(n, "Spec"), "Labels"), VMSS_LABEL_DRAINING,
				    json_string(draining));
	return n;
}

/* n tasks that should run on node id. */
static void tasks_on(json_t *tasks, const char *id, int n)
{
	for (int i = 0; i < n; i++)
		json_array_append_new(tasks, json_pack("{s:s, s:s, s:s}", "NodeID", id, "DesiredState", "running", "ServiceID", "s"));
	/* a shut-down task does not count */
	json_array_append_new(tasks, json_pack("{s:s, s:s}", "NodeID", id, "DesiredState", "shutdown"));
}

typedef struct {
	json_t *vms, *nodes, *tasks;
} world;

/* Four workers with 3, 1, 2 and 1 tasks; the computer names are w0..w3. */
static world four(void)
{
	world w = {json_array(), json_array(), json_array()};
	const int load[] = {3, 1, 2, 1};
	for (int i = 0; i < 4; i++) {
		char iid[8], cn[8], id[8];
		snprintf(iid, sizeof(iid), "%d", i);
		snprintf(cn, sizeof(cn), "w%d", i);
		snprintf(id, sizeof(id), "n%d", i);
		json_array_append_new(w.vms, vm(iid, cn, false));
		json_array_append_new(w.nodes, node(id, cn, "ready", false, NULL));
		tasks_on(w.tasks, id, load[i]);
	}
	return w;
}

static void world_free(world *w)
{
	json_decref(w->vms);
	json_decref(w->nodes);
	json_decref(w->tasks);
}

static char *chosen_ids(json_t *chosen)
{
	static char buf[256];
	buf[0] = 0;
	size_t i;
	json_t *c;
	json_array_foreach(chosen, i, c) {
		strcat(buf, i ? " " : "");
		strcat(buf, json_string_value(json_object_get(c, "instance")));
		strcat(buf, ":");
		strcat(buf, json_string_value(json_object_get(c, "reason")));
	}
	return buf;
}

static void test_fewest_tasks_first_ties_to_the_highest_id(void **state)
{
	(void)state;
	world w = four();
	json_t *chosen = NULL;
	char *why = NULL;
	assert_int_equal(vmss_choose(w.vms, w.nodes, w.tasks, "me", 2, &chosen, &why), 0);
	assert_string_equal(chosen_ids(chosen), "3:fewest tasks 1:fewest tasks");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(chosen, 0), "tasks")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(chosen, 0), "node")), "n3");
	json_decref(chosen);
	world_free(&w);
}

static void test_managers_and_protected_instances_never_go(void **state)
{
	(void)state;
	world w = four();
	json_array_set_new(w.nodes, 3, node("n3", "w3", "ready", true, NULL));
	json_array_set_new(w.vms, 1, vm("1", "w1", true));
	json_t *chosen = NULL;
	char *why = NULL;
	assert_int_equal(vmss_choose(w.vms, w.nodes, w.tasks, "me", 2, &chosen, &why), 0);
	assert_string_equal(chosen_ids(chosen), "2:fewest tasks 0:fewest tasks");
	json_decref(chosen);
	assert_int_equal(vmss_choose(w.vms, w.nodes, w.tasks, "me", 3, &chosen, &why), -1);
	assert_null(chosen);
	assert_string_equal(why, "3 instances must go but only 2 can (instance 1: protected from scale-in; instance 3: its "
				 "node is a manager)");
	free(why);
	world_free(&w);
}

/* A resumed scale-in continues with the nodes it drained, whatever their load now; an instance
 * without a node runs nothing and goes before any loaded one. */
static void test_drained_by_us_then_nodeless_then_least_loaded(void **state)
{
	(void)state;
	world w = four();
	json_array_set_new(w.nodes, 0, node("n0", "w0", "ready", false, "me"));
	json_array_set_new(w.nodes, 2, node("n2", "w2", "ready", false, "someone-else"));
	json_array_remove(w.nodes, 1); /* w1 has no node */
	json_t *chosen = NULL;
	char *why = NULL;
	assert_int_equal(vmss_choose(w.vms, w.nodes, w.tasks, "me", 3, &chosen, &why), 0);
	assert_string_equal(chosen_ids(chosen),
			    "0:already drained by berth (resumed) 1:no swarm node 3:fewest tasks");
	assert_true(json_is_null(json_object_get(json_array_get(chosen, 1), "node")) ||
		    !json_object_get(json_array_get(chosen, 1), "node"));
	json_decref(chosen);
	world_free(&w);
}

/* A computer name with a down node and a ready one (a VM re-joined under the same name): the
 * ready one is the instance's node. */
static void test_a_ready_node_wins_over_a_down_one_of_the_same_name(void **state)
{
	(void)state;
	json_t *nodes = json_array();
	json_array_append_new(nodes, node("old", "w0", "down", false, NULL));
	json_array_append_new(nodes, node("new", "w0", "ready", false, NULL));
	json_array_append_new(nodes, node("x", "w1", "down", false, NULL));
	assert_string_equal(json_string_value(json_object_get(vmss_node_for(nodes, "w0"), "ID")), "new");
	assert_string_equal(json_string_value(json_object_get(vmss_node_for(nodes, "w1"), "ID")), "x");
	assert_null(vmss_node_for(nodes, "w2"));
	assert_null(vmss_node_for(nodes, NULL));
	json_decref(nodes);
}

static void test_mapping_text(void **state)
{
	(void)state;
	world w = four();
	json_array_remove(w.nodes, 1);
	char *t = vmss_mapping_text(w.vms, w.nodes, w.tasks);
	assert_string_equal(t, "0=w0 (node w0, ready, 3 tasks), 1=w1 (no swarm node), 2=w2 (node w2, ready, 2 tasks), "
			       "3=w3 (node w3, ready, 1 task)");
	free(t);
	world_free(&w);
}

/* Which pending tasks a new node would take: the scheduler's explanation says resources (or the
 * max per node), and the task's constraints hold on a node of the set's role, with the platform
 * and labels of the set's nodes (berth's own labels are not a new node's). */
static void test_pending_tasks_a_new_node_would_take(void **state)
{
	(void)state;
	assert_true(vmss_pending_for_resources("no suitable node (insufficient resources on 3 nodes)"));
	assert_true(vmss_pending_for_resources("no suitable node (max replicas per node limit exceed)"));
	assert_false(vmss_pending_for_resources("no suitable node (scheduling constraints not satisfied on 3 nodes)"));
	assert_false(vmss_pending_for_resources(NULL));
	json_t *tmpl = json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:{s:s, s:s}}}", "Description", "Hostname", "w1", "Platform",
				 "OS", "linux", "Architecture", "x86_64", "Spec", "Labels", "zone", "a", "berth.idle-since", "1");
	struct {
		const char *constraints; /* JSON array */
		spec_node_role role;
		bool tmpl, fits;
	} cases[] = {
		{"[]", SPEC_NODE_WORKER, true, true},
		{"[\"node.role==worker\"]", SPEC_NODE_WORKER, true, true},
		{"[\"node.role == manager\"]", SPEC_NODE_WORKER, true, false},
		{"[\"node.role!=manager\", \"node.platform.os==linux\"]", SPEC_NODE_WORKER, true, true},
		{"[\"node.platform.arch==aarch64\"]", SPEC_NODE_WORKER, true, false},
		{"[\"node.labels.zone==a\"]", SPEC_NODE_WORKER, true, true},
		{"[\"node.labels.zone==b\"]", SPEC_NODE_WORKER, true, false},
		{"[\"node.labels.berth.idle-since==1\"]", SPEC_NODE_WORKER, true, false},
		{"[\"node.hostname==w1\"]", SPEC_NODE_WORKER, true, false},
		{"[\"node.hostname!=w1\"]", SPEC_NODE_WORKER, true, true},
		{"[\"node.labels.zone==b\"]", SPEC_NODE_WORKER, false, true}, /* no node to tell by: it may */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c = json_loads(cases[i].constraints, 0, NULL);
		bool got = vmss_constraints_fit_new(c, cases[i].role, cases[i].tmpl ? tmpl : NULL);
		if (got != cases[i].fits)
			print_error("case %zu %s: got %d\n", i, cases[i].constraints, got);
		assert_int_equal(got, cases[i].fits);
		json_decref(c);
	}
	json_decref(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fewest_tasks_first_ties_to_the_highest_id),
		cmocka_unit_test(test_managers_and_protected_instances_never_go),
		cmocka_unit_test(test_drained_by_us_then_nodeless_then_least_loaded),
		cmocka_unit_test(test_a_ready_node_wins_over_a_down_one_of_the_same_name),
		cmocka_unit_test(test_mapping_text),
		cmocka_unit_test(test_pending_tasks_a_new_node_would_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
