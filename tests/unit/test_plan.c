/* The plan DAG and its executor: order, bounded parallelism, failure isolation. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"
#include "core/plan.h"
#include "render/render.h"

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t finished_order[64];
	size_t nfinished;
	bool done[64];
	size_t running, max_running, started;
	size_t wait_for_started; /* each step waits (bounded) until this many have started */
	size_t fail_id;          /* a step that fails; (size_t)-1 for none */
	bool order_violation;
	const plan *p;
} recorder;

static int record_apply(void *ctx, const plan_step *s, void *payload, berth_error *err)
{
	(void)payload;
	recorder *r = ctx;
	size_t id = plan_step_id(s);
	pthread_mutex_lock(&r->mu);
	for (size_t d = 0; d < plan_step_n_deps(s); d++)
		if (!r->done[plan_step_dep(s, d)])
			r->order_violation = true;
	r->running++;
	r->started++;
	if (r->running > r->max_running)
		r->max_running = r->running;
	pthread_cond_broadcast(&r->cv);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	while (r->started < r->wait_for_started)
		if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT)
			break;
	r->running--;
	int rc = 0;
	if (id == r->fail_id) {
		rc = berth_error_set(err, BERTH_EFAILED, "boom");
	} else {
		r->done[id] = true;
	}
	r->finished_order[r->nfinished++] = id;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int run_plan(plan *p, int parallelism, recorder *r, plan_summary *sum)
{
	plan_exec_options o = {.parallelism = parallelism, .apply = record_apply, .ctx = r};
	return plan_execute(p, &o, sum);
}

/* The state of one step, from a snapshot (as any reader outside the executor sees it). */
static plan_step_status status_of(const plan *p, size_t id, char *error, size_t size)
{
	plan_snapshot *snap = plan_snapshot_take(p);
	plan_step_status st = snap->steps[id].status;
	if (error)
		snprintf(error, size, "%s", snap->steps[id].error ? snap->steps[id].error : "");
	plan_snapshot_free(snap);
	return st;
}

static void recorder_init(recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->fail_id = (size_t)-1;
}

static void test_dependencies_run_first(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t net = plan_add_step(p, PLAN_CREATE, "network", "front", "new", NULL);
	size_t sec = plan_add_step(p, PLAN_CREATE, "secret", "db", "new", NULL);
	size_t svc = plan_add_step(p, PLAN_CREATE, "service", "web", "new", NULL);
	size_t old = plan_add_step(p, PLAN_DELETE, "secret", "db-old", "no longer used", NULL);
	plan_add_dep(p, svc, net);
	plan_add_dep(p, svc, sec);
	plan_add_dep(p, old, svc);
	recorder r;
	recorder_init(&r);
	plan_summary sum;
	assert_int_equal(run_plan(p, 8, &r, &sum), 0);
	assert_false(r.order_violation);
	assert_int_equal(sum.done, 4);
	assert_int_equal(r.nfinished, 4);
	assert_int_equal(r.finished_order[3], old);
	assert_int_equal(status_of(p, svc, NULL, 0), STEP_DONE);
	plan_free(p);
}

static void test_parallelism_is_bounded_and_used(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 6; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	recorder r;
	recorder_init(&r);
	r.wait_for_started = 6; /* steps hold until all have started, or the bound stops them */
	plan_summary sum;
	assert_int_equal(run_plan(p, 3, &r, &sum), 0);
	assert_int_equal(r.max_running, 3);
	assert_int_equal(sum.done, 6);
	plan_free(p);
}

static void test_failure_skips_dependents_only(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t a = plan_add_step(p, PLAN_CREATE, "network", "a", NULL, NULL);
	size_t b = plan_add_step(p, PLAN_CREATE, "service", "b", NULL, NULL);
	size_t c = plan_add_step(p, PLAN_DELETE, "network", "c", NULL, NULL);
	size_t d = plan_add_step(p, PLAN_CREATE, "service", "d", NULL, NULL);
	plan_add_dep(p, b, a);
	plan_add_dep(p, c, b);
	recorder r;
	recorder_init(&r);
	r.fail_id = a;
	plan_summary sum;
	assert_int_not_equal(run_plan(p, 2, &r, &sum), 0);
	assert_int_equal(sum.done, 1);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.skipped, 2);
	char why[256];
	assert_int_equal(status_of(p, a, why, sizeof(why)), STEP_FAILED);
	assert_string_equal(why, "boom");
	assert_int_equal(status_of(p, b, why, sizeof(why)), STEP_SKIPPED);
	assert_string_equal(why, "skipped: create network a did not succeed");
	assert_int_equal(status_of(p, c, NULL, 0), STEP_SKIPPED);
	assert_int_equal(status_of(p, d, NULL, 0), STEP_DONE);
	plan_free(p);
}

static void test_cycle_runs_nothing(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t a = plan_add_step(p, PLAN_CREATE, "x", "a", NULL, NULL);
	size_t b = plan_add_step(p, PLAN_CREATE, "x", "b", NULL, NULL);
	plan_add_dep(p, a, b);
	plan_add_dep(p, b, a);
	size_t cyc = 99;
	assert_null(plan_topo_order(p, &cyc));
	assert_true(cyc == a || cyc == b);
	recorder r;
	recorder_init(&r);
	plan_summary sum;
	assert_int_not_equal(run_plan(p, 4, &r, &sum), 0);
	assert_int_equal(r.started, 0);
	assert_int_equal(sum.skipped, 2);
	plan_free(p);
}

static void test_topo_order_is_stable(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 4; i++)
		plan_add_step(p, PLAN_CREATE, "x", "s", NULL, NULL);
	plan_add_dep(p, 0, 3);
	size_t *o = plan_topo_order(p, NULL);
	assert_non_null(o);
	size_t want[] = {1, 2, 3, 0};
	assert_memory_equal(o, want, sizeof(want));
	free(o);
	plan_free(p);
}

static void test_sensitive_values_are_not_kept(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t s = plan_add_step(p, PLAN_REPLACE, "secret", "db", "content changed", NULL);
	plan_add_change(p, s, "data", "old-secret", "new-secret", true);
	plan_add_change(p, s, "labels.team", "a", "b", false);
	const plan_step *st = plan_step_at(p, s);
	assert_int_equal(plan_step_n_changes(st), 2);
	assert_null(plan_step_change(st, 0)->old_value);
	assert_null(plan_step_change(st, 0)->new_value);
	assert_true(plan_step_change(st, 0)->sensitive);
	assert_string_equal(plan_step_change(st, 1)->new_value, "b");
	plan_free(p);
}

static char *render(const plan *p, bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	plan_render_text(p, f, color);
	fclose(f);
	return buf;
}

static void test_render_text(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t svc = plan_add_step(p, PLAN_UPDATE, "service", "web", "image changed", NULL);
	plan_add_change(p, svc, "image", "nginx:1.26", "nginx:1.27", false);
	plan_add_change(p, svc, "ports", NULL, "8080:80/tcp", false);
	plan_add_change(p, svc, "env.DEBUG", "1", NULL, false);
	size_t net = plan_add_step(p, PLAN_CREATE, "network", "front", NULL, NULL);
	size_t sec = plan_add_step(p, PLAN_REPLACE, "secret", "db", "content changed", NULL);
	plan_add_change(p, sec, "data", "s3cret-old", "s3cret-new", true);
	size_t del = plan_add_step(p, PLAN_DELETE, "service", "old", "not in the spec", NULL);
	plan_add_dep(p, svc, net);
	plan_add_dep(p, svc, sec);
	plan_add_dep(p, del, svc);
	char *text = render(p, false);
	assert_string_equal(text,
			    "berth will perform the following actions:\n"
			    "\n  # network front will be created\n"
			    "  + network \"front\"\n"
			    "\n  # secret db will be replaced (content changed)\n"
			    "-/+ secret \"db\"\n"
			    "      ~ data: (sensitive value changed)\n"
			    "\n  # service web will be updated in place (image changed)\n"
			    "  ~ service \"web\"\n"
			    "      ~ image: \"nginx:1.26\" -> \"nginx:1.27\"\n"
			    "      + ports: \"8080:80/tcp\"\n"
			    "      - env.DEBUG: \"1\" -> null\n"
			    "\n  # service old will be destroyed (not in the spec)\n"
			    "  - service \"old\"\n"
			    "\nPlan: 1 to add, 1 to change, 1 to replace, 1 to destroy.\n");
	free(text);
	text = render(p, true);
	assert_non_null(strstr(text, "\033[32m  +\033[0m network"));
	assert_null(strstr(text, "s3cret"));
	free(text);
	plan_free(p);

	plan *empty = plan_new();
	text = render(empty, false);
	assert_string_equal(text, "No changes. The live state matches the spec.\n");
	free(text);
	plan_free(empty);
}

/* Cancelled while the first step runs: that step finishes, nothing else starts, the rest is
 * skipped as cancelled, and the run says so. */
typedef struct {
	berth_cancel *cancel;
	size_t started;
} cancel_rec;

static int cancel_on_first(void *ctx, const plan_step *s, void *payload, berth_error *err)
{
	(void)s, (void)payload, (void)err;
	cancel_rec *c = ctx;
	c->started++;
	berth_cancel_fire(c->cancel); /* as SIGINT would, mid-step */
	return 0;
}

static void test_cancel_stops_starting_steps(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 5; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	cancel_rec c = {.cancel = berth_cancel_new()};
	plan_exec_options o = {.parallelism = 1, .cancel = c.cancel, .apply = cancel_on_first, .ctx = &c};
	plan_summary sum;
	assert_int_equal(plan_execute(p, &o, &sum), BERTH_ECANCELED);
	assert_int_equal(c.started, 1);
	assert_true(sum.canceled);
	assert_int_equal(sum.done, 1);
	assert_int_equal(sum.skipped, 4);
	char why[64];
	assert_int_equal(status_of(p, 4, why, sizeof(why)), STEP_SKIPPED);
	assert_string_equal(why, "skipped: cancelled");
	berth_cancel_free(c.cancel);
	plan_free(p);
}

/* Drained while the first step runs (a controller stopping): that step finishes as done, nothing
 * else starts. */
static void test_drain_lets_the_running_step_finish(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 3; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	berth_cancel *drain = berth_cancel_new();
	cancel_rec c = {.cancel = drain};
	plan_exec_options o = {.parallelism = 1, .drain = drain, .apply = cancel_on_first, .ctx = &c};
	plan_summary sum;
	assert_int_equal(plan_execute(p, &o, &sum), BERTH_ECANCELED);
	assert_int_equal(c.started, 1);
	assert_int_equal(sum.done, 1);
	assert_int_equal(sum.skipped, 2);
	berth_cancel_free(drain);
	plan_free(p);
}

/* A plan executes once: a second run starts nothing. */
static void test_plan_runs_once(void **state)
{
	(void)state;
	plan *p = plan_new();
	plan_add_step(p, PLAN_CREATE, "network", "a", NULL, NULL);
	recorder r;
	recorder_init(&r);
	plan_summary sum;
	assert_int_equal(run_plan(p, 2, &r, &sum), 0);
	assert_int_equal(run_plan(p, 2, &r, &sum), BERTH_EPLAN);
	assert_int_equal(r.started, 1);
	plan_free(p);
}

/* Start and end of every step, and the skipped ones after the run, reach on_step. */
typedef struct {
	pthread_mutex_t mu;
	int started, done, failed, skipped;
} step_events;

static void count_events(void *ctx, const plan_step *s, plan_step_status st, const berth_error *err)
{
	(void)s;
	step_events *e = ctx;
	pthread_mutex_lock(&e->mu);
	e->started += st == STEP_RUNNING;
	e->done += st == STEP_DONE;
	e->failed += st == STEP_FAILED && err && err->code == BERTH_EFAILED;
	e->skipped += st == STEP_SKIPPED && err && err->message;
	pthread_mutex_unlock(&e->mu);
}

static int fail_named_b(void *ctx, const plan_step *s, void *payload, berth_error *err)
{
	(void)ctx, (void)payload;
	return strcmp(plan_step_name(s), "b") ? 0 : berth_error_set(err, BERTH_EFAILED, "b fails");
}

/* The before_step gate says no after the first step (a leader whose lease runs short): that step
 * finishes, nothing else starts, as with a drain; the gate is asked before each start. */
typedef struct {
	int asked, allow;
} gate_rec;

static bool gate(void *ctx)
{
	gate_rec *g = ctx;
	return g->asked++ < g->allow;
}

static void test_before_step_gate_stops_further_steps(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 3; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	recorder r = {.fail_id = (size_t)-1};
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	gate_rec g = {.allow = 1};
	plan_exec_options o = {.parallelism = 1, .before_step = gate, .before_step_ctx = &g, .apply = record_apply, .ctx = &r};
	plan_summary sum;
	assert_int_equal(plan_execute(p, &o, &sum), BERTH_ECANCELED);
	assert_int_equal(r.started, 1);
	assert_int_equal(g.asked, 2);
	assert_int_equal(sum.done, 1);
	assert_int_equal(sum.skipped, 2);
	char why[128];
	assert_int_equal(status_of(p, 2, why, sizeof(why)), STEP_SKIPPED);
	assert_string_equal(why, "skipped: cancelled");
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	plan_free(p);
}

static void test_step_events(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t a = plan_add_step(p, PLAN_CREATE, "x", "a", NULL, NULL);
	size_t b = plan_add_step(p, PLAN_CREATE, "x", "b", NULL, NULL);
	size_t c = plan_add_step(p, PLAN_CREATE, "x", "c", NULL, NULL);
	plan_add_dep(p, c, b);
	(void)a;
	step_events ev = {.mu = PTHREAD_MUTEX_INITIALIZER};
	plan_exec_options o = {.parallelism = 2, .apply = fail_named_b, .on_step = count_events, .ctx = &ev};
	plan_summary sum;
	assert_int_equal(plan_execute(p, &o, &sum), BERTH_EFAILED);
	assert_int_equal(ev.started, 2);
	assert_int_equal(ev.done, 1);
	assert_int_equal(ev.failed, 1);
	assert_int_equal(ev.skipped, 1);
	plan_free(p);
}

/* A reader on another thread takes snapshots while the executor runs: every snapshot is
 * consistent (a step is never seen going back from done) and the last one is all done. */
typedef struct {
	const plan *p;
	atomic_bool stop;
	bool went_back;
	size_t snapshots;
} reader;

static void *read_snapshots(void *arg)
{
	reader *rd = arg;
	plan_step_status last[64] = {0};
	while (!atomic_load(&rd->stop)) {
		plan_snapshot *s = plan_snapshot_take(rd->p);
		for (size_t i = 0; i < s->n; i++) {
			if (last[i] == STEP_DONE && s->steps[i].status != STEP_DONE)
				rd->went_back = true;
			last[i] = s->steps[i].status;
		}
		plan_snapshot_free(s);
		rd->snapshots++;
	}
	return NULL;
}

static int quick_apply(void *ctx, const plan_step *s, void *payload, berth_error *err)
{
	(void)ctx, (void)s, (void)payload, (void)err;
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL); /* long enough for the reader to see steps running */
	return 0;
}

static void test_snapshots_while_running(void **state)
{
	(void)state;
	plan *p = plan_new();
	for (int i = 0; i < 64; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	for (int i = 1; i < 64; i++)
		plan_add_dep(p, (size_t)i, (size_t)(i / 2));
	reader rd = {.p = p};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_snapshots, &rd), 0);
	plan_exec_options o = {.parallelism = 4, .apply = quick_apply};
	plan_summary sum;
	assert_int_equal(plan_execute(p, &o, &sum), 0);
	atomic_store(&rd.stop, true);
	pthread_join(t, NULL);
	assert_false(rd.went_back);
	assert_true(rd.snapshots > 0);
	plan_snapshot *s = plan_snapshot_take(p);
	assert_int_equal(s->summary.done, 64);
	plan_snapshot_free(s);
	plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dependencies_run_first),
		cmocka_unit_test(test_parallelism_is_bounded_and_used),
		cmocka_unit_test(test_failure_skips_dependents_only),
		cmocka_unit_test(test_cycle_runs_nothing),
		cmocka_unit_test(test_topo_order_is_stable),
		cmocka_unit_test(test_sensitive_values_are_not_kept),
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_cancel_stops_starting_steps),
		cmocka_unit_test(test_plan_runs_once),
		cmocka_unit_test(test_drain_lets_the_running_step_finish),
		cmocka_unit_test(test_before_step_gate_stops_further_steps),
		cmocka_unit_test(test_step_events),
		cmocka_unit_test(test_snapshots_while_running),
	};
	return cmocka_run_group_tests_name("plan executor", tests, NULL, NULL);
}
