/* autoscale/cluster: the decision as cases. A node is written as {hostname, instance, ready,
 * removable, draining, tasks, cpu_known, cpu %, idle for (s; -1 none), CPUs, GiB, CPUs used,
 * GiB used, the tasks it runs}; pending tasks as {service, pending for (s), CPUs, GiB, max per
 * node, fits a new node}. Times are relative to now. */
#include "testutil.h"
#include "autoscale/cluster.h"

#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define S 1000000000LL
#define GB (1024LL * 1024 * 1024)
#define NOW (1800000000LL * S)
#define MAXN 6

typedef struct {
	const char *svc;
	int64_t age_s;
	double cpus, gib;
	int64_t max_per_node;
	bool fits;
	bool pinned; /* a node's own task whose constraints allow only that node */
} task_case;

typedef struct {
	const char *host, *inst;
	bool ready, removable, draining;
	bool cpu_known;
	double cpu;
	int64_t idle_s; /* -1: no label */
	double cpus, gib, used_cpus, used_gib;
	task_case own[MAXN];
} node_case;

typedef struct {
	const char *what;
	int64_t current, min, max;
	int64_t last_s; /* seconds ago; -1: none */
	node_case nodes[MAXN];
	task_case pending[MAXN];
	double new_cpus, new_gib;
	int64_t want;
	autoscale_direction dir;
	const char *victim; /* hostname, or NULL */
	const char *reason;
	int64_t want_wait_s;
} tcase;

#define IDLE_NODE(h, i, tasks_idle_s) {h, i, true, true, false, true, 2, tasks_idle_s, 2, 4, 0, 0}
#define BUSY_NODE(h, i) {h, i, true, true, false, true, 85, -1, 2, 4, 1.5, 1, {{"web", 0, 1.5, 1, 0, true}}}

static const tcase cases[] = {
	{"a scale-in berth started is finished first", 3, 1, 5, 30,
	 {{"w1", "1", true, true, true, true, 0, -1, 2, 4}, BUSY_NODE("w2", "2"), BUSY_NODE("w3", "3")},
	 {{"web", 600, 1, 1, 0, true}}, 2, 4, 2, AUTOSCALE_DOWN, NULL, "continues the scale-in of 1 node berth drained: 3 -> 2"},
	{"a scale-in berth started stops at min (raised since)", 3, 2, 5, 30,
	 {{"w1", "1", true, true, true, true, 0, -1, 2, 4}, {"w2", "2", true, true, true, true, 0, -1, 2, 4},
	  BUSY_NODE("w3", "3")},
	 {{NULL}}, 2, 4, 2, AUTOSCALE_DOWN, NULL, "continues the scale-in of 2 nodes berth drained, down to min 2: 3 -> 2"},
	{"at min, a drained node is not a scale-in", 2, 2, 5, -1,
	 {{"w1", "1", true, true, true, true, 0, -1, 2, 4}, BUSY_NODE("w2", "2")}, {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL,
	 "at min 2"},
	{"below min", 1, 2, 5, -1, {BUSY_NODE("w1", "1")}, {{NULL}}, 2, 4, 2, AUTOSCALE_UP, NULL, "below min 2: 1 -> 2"},
	{"above max: down to it", 5, 1, 3, -1, {{NULL}}, {{NULL}}, 2, 4, 3, AUTOSCALE_DOWN, NULL, "above max 3: 5 -> 3"},
	{"two big pending tasks need two new nodes", 1, 1, 5, -1, {BUSY_NODE("w1", "1")},
	 {{"web", 70, 1.5, 1, 0, true}, {"web", 65, 1.5, 1, 0, true}}, 2, 4, 3, AUTOSCALE_UP, NULL,
	 "2 tasks pending for lack of resources for 1m00s or more (the first since 2027-01-15T07:58:50Z); 2 new nodes of 2.00 CPUs, 4.0 GiB take "
	 "them: 1 -> 3"},
	{"small pending tasks share a new node", 1, 1, 5, -1, {BUSY_NODE("w1", "1")},
	 {{"a", 70, 0.5, 1, 0, true}, {"b", 70, 0.5, 1, 0, true}, {"c", 70, 0.5, 1, 0, true}}, 2, 4, 2, AUTOSCALE_UP, NULL,
	 "1 new node of 2.00 CPUs"},
	{"max replicas per node: one new node each", 1, 1, 5, -1, {BUSY_NODE("w1", "1")},
	 {{"a", 70, 0.1, 0.1, 1, true}, {"a", 70, 0.1, 0.1, 1, true}, {"a", 70, 0.1, 0.1, 1, true}}, 2, 4, 4, AUTOSCALE_UP,
	 NULL, "3 new nodes"},
	{"growth capped at max", 1, 1, 2, -1, {BUSY_NODE("w1", "1")},
	 {{"web", 70, 1.5, 1, 0, true}, {"web", 65, 1.5, 1, 0, true}}, 2, 4, 2, AUTOSCALE_UP, NULL, "capped at max 2: 1 -> 2"},
	{"at max: pending tasks wait", 2, 1, 2, -1, {BUSY_NODE("w1", "1"), BUSY_NODE("w2", "2")},
	 {{"web", 70, 1.5, 1, 0, true}}, 2, 4, 2, AUTOSCALE_HOLD, NULL, "at max 2, stays"},
	{"pending, not long enough yet", 1, 1, 5, -1, {BUSY_NODE("w1", "1")}, {{"web", 20, 1.5, 1, 0, true}}, 2, 4, 1,
	 AUTOSCALE_HOLD, NULL, "1 task pending for lack of resources for less than 1m00s: scale-out in 40s", 40},
	{"pending counts from the last change (the new nodes get their chance)", 2, 1, 5, 10,
	 {BUSY_NODE("w1", "1"), BUSY_NODE("w2", "2")}, {{"web", 300, 1.5, 1, 0, true}}, 2, 4, 2, AUTOSCALE_HOLD, NULL,
	 "scale-out in 50s", 50},
	{"a task bigger than a new node is not the cluster's to fix", 1, 1, 5, -1, {BUSY_NODE("w1", "1")},
	 {{"huge", 300, 8, 1, 0, true}}, 2, 4, 1, AUTOSCALE_HOLD, NULL,
	 "1 pending task reserves more than a new node has (2.00 CPUs, 4.0 GiB); at min 1"},
	{"a task whose constraints a new node does not meet is ignored", 2, 1, 5, -1,
	 {BUSY_NODE("w1", "1"), IDLE_NODE("w2", "2", 700)}, {{"db", 300, 0.1, 0.1, 0, false}}, 2, 4, 1, AUTOSCALE_DOWN,
	 "w2", "node w2 (instance 2, 0 tasks) idle: cpu 2% below 20% since 2027-01-15T07:48:20Z (at least 10m00s): 2 -> 1"},
	{"unknown node size: one more", 0, 0, 5, -1, {{NULL}}, {{"web", 70, 1, 1, 0, true}}, 0, 0, 1, AUTOSCALE_UP, NULL,
	 "no node of the set to size a new one by: one more: 0 -> 1"},
	{"pending tasks keep a scale-in back", 2, 1, 5, -1, {BUSY_NODE("w1", "1"), IDLE_NODE("w2", "2", 700)},
	 {{"web", 20, 1.5, 1, 0, true}}, 2, 4, 2, AUTOSCALE_HOLD, NULL, "scale-out in 40s", 40},
	{"idle, not long enough yet", 2, 1, 5, -1, {BUSY_NODE("w1", "1"), IDLE_NODE("w2", "2", 300)}, {{NULL}}, 2, 4, 2,
	 AUTOSCALE_HOLD, NULL, "1 idle node (cpu below 20%), the first for 10m00s in 5m00s", 300},
	{"idle for the first time: the clock starts", 2, 1, 5, -1, {BUSY_NODE("w1", "1"), IDLE_NODE("w2", "2", -1)},
	 {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL, "in 10m00s", 600},
	{"idle, but the cooldown holds", 2, 1, 5, 120, {BUSY_NODE("w1", "1"), IDLE_NODE("w2", "2", 700)}, {{NULL}}, 2, 4, 2,
	 AUTOSCALE_HOLD, NULL, "node w2 is idle, scale-in held by the cooldown for 8m00s more", 480},
	{"idle, but its tasks would not fit elsewhere", 2, 1, 5, -1,
	 {BUSY_NODE("w1", "1"), {"w2", "2", true, true, false, true, 5, 700, 2, 4, 1.5, 1, {{"web", 0, 1.5, 1, 0, true}}}},
	 {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL, "1 idle node, but its tasks would not fit on the other nodes"},
	{"max per node keeps a task from moving onto a node of its service", 2, 1, 5, -1,
	 {{"w1", "1", true, true, false, true, 50, -1, 4, 8, 0.1, 0.1, {{"one", 0, 0.1, 0.1, 1, true}}},
	  {"w2", "2", true, true, false, true, 1, 700, 4, 8, 0.1, 0.1, {{"one", 0, 0.1, 0.1, 1, true}}}},
	 {{NULL}}, 4, 8, 2, AUTOSCALE_HOLD, NULL, "would not fit"},
	{"a task its constraints keep on the idle node keeps the node", 2, 1, 5, -1,
	 {{"w1", "1", true, true, false, true, 30, -1, 4, 8, 1, 1, {{"a", 0, 1, 1, 0, true}}},
	  {"w2", "2", true, true, false, true, 1, 700, 4, 8, 0.1, 0.1, {{"pin", 0, 0.1, 0.1, 0, true, true}}}},
	 {{NULL}}, 4, 8, 2, AUTOSCALE_HOLD, NULL, "1 idle node, but its tasks would not fit on the other nodes"},
	{"idle tasks that fit elsewhere move", 2, 1, 5, -1,
	 {{"w1", "1", true, true, false, true, 30, -1, 4, 8, 1, 1, {{"a", 0, 1, 1, 0, true}}},
	  {"w2", "2", true, true, false, true, 5, 700, 4, 8, 1, 1, {{"a", 0, 1, 1, 0, true}}}},
	 {{NULL}}, 4, 8, 1, AUTOSCALE_DOWN, "w2", "(instance 2, 1 task) idle: cpu 5% below 20% since 2027-01-15T07:48:20Z (at least 10m00s), "
					     "its tasks fit on the other nodes: 2 -> 1"},
	{"the idle node with fewest tasks goes, then the highest instance", 3, 1, 5, -1,
	 {IDLE_NODE("w1", "1", 900), IDLE_NODE("w7", "7", 700), IDLE_NODE("w3", "3", 900)}, {{NULL}}, 2, 4, 2,
	 AUTOSCALE_DOWN, "w7", NULL},
	{"a manager or a protected instance never goes", 2, 1, 5, -1,
	 {{"m1", "1", true, false, false, true, 0, 900, 2, 4}, BUSY_NODE("w2", "2")}, {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD,
	 NULL, "no node idle: the least busy, w2, uses 85% of its CPUs (scale-in below 20%)"},
	{"unknown CPU is not idle", 2, 1, 5, -1, {{"w1", "1", true, true, false, false, 0, 900, 2, 4}, BUSY_NODE("w2", "2")},
	 {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL, "no node idle"},
	{"at 20% a node is not below 20%", 2, 1, 5, -1,
	 {{"w1", "1", true, true, false, true, 20, 900, 2, 4}, BUSY_NODE("w2", "2")}, {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL,
	 "the least busy, w1, uses 20%"},
	{"at min nothing goes", 1, 1, 5, -1, {IDLE_NODE("w1", "1", 900)}, {{NULL}}, 2, 4, 1, AUTOSCALE_HOLD, NULL,
	 "at min 1"},
	{"a node that is not ready is not chosen", 2, 1, 5, -1,
	 {{"w1", "1", false, true, false, true, 0, 900, 2, 4}, BUSY_NODE("w2", "2")}, {{NULL}}, 2, 4, 2, AUTOSCALE_HOLD, NULL,
	 "no node idle"},
};

typedef struct {
	cluster_node nodes[MAXN];
	cluster_task own[MAXN][MAXN];
	bool allowed[MAXN][MAXN][MAXN]; /* node, task, where to */
	cluster_task pending[MAXN];
	cluster_input in;
} built;

static cluster_task task_of(const task_case *t)
{
	return (cluster_task){.service = t->svc,
			      .since_ns = NOW - t->age_s * S,
			      .nano_cpus = (int64_t)(t->cpus * 1e9),
			      .memory = (int64_t)(t->gib * GB),
			      .max_per_node = t->max_per_node,
			      .fits_new_node = t->fits};
}

static void build(const tcase *c, built *b)
{
	memset(b, 0, sizeof(*b));
	size_t nn = 0, np = 0;
	for (size_t i = 0; i < MAXN && c->nodes[i].host; i++, nn++) {
		const node_case *n = &c->nodes[i];
		size_t k = 0;
		for (; k < MAXN && n->own[k].svc; k++) {
			b->own[i][k] = task_of(&n->own[k]);
			if (n->own[k].pinned) {
				b->allowed[i][k][i] = true;
				b->own[i][k].allowed = b->allowed[i][k];
			}
		}
		b->nodes[i] = (cluster_node){.hostname = n->host,
					     .instance = n->inst,
					     .ready = n->ready,
					     .removable = n->removable,
					     .draining_ours = n->draining,
					     .tasks = (int)k,
					     .cpu_known = n->cpu_known,
					     .cpu_percent = n->cpu,
					     .idle_since_ns = n->idle_s < 0 ? -1 : NOW - n->idle_s * S,
					     .nano_cpus = (int64_t)(n->cpus * 1e9),
					     .memory = (int64_t)(n->gib * GB),
					     .used_cpus = (int64_t)(n->used_cpus * 1e9),
					     .used_memory = (int64_t)(n->used_gib * GB),
					     .own = b->own[i],
					     .n_own = k};
	}
	for (size_t i = 0; i < MAXN && c->pending[i].svc; i++)
		b->pending[np++] = task_of(&c->pending[i]);
	b->in = (cluster_input){.current = c->current,
				.min = c->min,
				.max = c->max,
				.now_ns = NOW,
				.last_at_ns = c->last_s < 0 ? -1 : NOW - c->last_s * S,
				.cooldown_ns = 600 * S,
				.pending_for_ns = 60 * S,
				.idle_for_ns = 600 * S,
				.cpu_below = 20,
				.nodes = b->nodes,
				.n_nodes = nn,
				.pending = b->pending,
				.n_pending = np,
				.new_cpus = (int64_t)(c->new_cpus * 1e9),
				.new_memory = (int64_t)(c->new_gib * GB)};
}

static void test_cases(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tcase *c = &cases[i];
		built b;
		build(c, &b);
		cluster_decision d;
		cluster_decide(&b.in, &d);
		const char *victim = d.victim >= 0 ? b.nodes[d.victim].hostname : NULL;
		bool ok = d.capacity == c->want && d.direction == c->dir && (!c->reason || strstr(d.reason, c->reason)) &&
			  (!c->victim == !victim) && (!victim || !strcmp(victim, c->victim)) &&
			  (!c->want_wait_s || d.wait_ns / S == c->want_wait_s);
		if (!ok) {
			print_error("case '%s': got capacity %lld %s victim %s wait %llds reason '%s'\n", c->what,
				    (long long)d.capacity, autoscale_direction_name(d.direction), victim ? victim : "-",
				    (long long)(d.wait_ns / S), d.reason);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_node_idle(void **state)
{
	(void)state;
	cluster_input in = {.cpu_below = 20};
	cluster_node n = {.ready = true, .cpu_known = true, .cpu_percent = 19.9};
	assert_true(cluster_node_idle(&in, &n));
	n.cpu_percent = 20;
	assert_false(cluster_node_idle(&in, &n));
	n.cpu_percent = 0;
	n.cpu_known = false;
	assert_false(cluster_node_idle(&in, &n));
	n.cpu_known = true;
	n.draining_ours = true;
	assert_false(cluster_node_idle(&in, &n));
}

/* A long explanation is cut, never overrun (the reason buffer is fixed). */
static void test_reason_is_bounded(void **state)
{
	(void)state;
	built b;
	tcase c = {"bounded", 1, 1, 1000, -1, {BUSY_NODE("a-very-long-hostname-for-a-node-000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "1")},
		   {{"web", 70, 1.5, 1, 0, true}}, 2, 4};
	build(&c, &b);
	b.in.cpu_below = 1;
	cluster_decision d;
	cluster_decide(&b.in, &d);
	assert_true(strlen(d.reason) < sizeof(d.reason));
	assert_int_equal(d.capacity, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_node_idle),
		cmocka_unit_test(test_reason_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
