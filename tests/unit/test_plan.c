/* The plan DAG and its executor: order, bounded parallelism, failure isolation. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "testutil.h"
#include "core/plan.h"

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

static int record_apply(void *ctx, const plan_step *s, char **err)
{
	recorder *r = ctx;
	pthread_mutex_lock(&r->mu);
	for (size_t d = 0; d < s->n_deps; d++)
		if (!r->done[s->deps[d]])
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
	if (s->id == r->fail_id) {
		*err = strdup("boom");
		rc = -1;
	} else {
		r->done[s->id] = true;
	}
	r->finished_order[r->nfinished++] = s->id;
	pthread_mutex_unlock(&r->mu);
	return rc;
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
	plan *p = plan_new(NULL);
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
	assert_int_equal(plan_execute(p, 8, record_apply, &r, &sum), 0);
	assert_false(r.order_violation);
	assert_int_equal(sum.done, 4);
	assert_int_equal(r.nfinished, 4);
	assert_int_equal(r.finished_order[3], old);
	assert_int_equal(plan_step_at(p, svc)->status, STEP_DONE);
	plan_free(p);
}

static void test_parallelism_is_bounded_and_used(void **state)
{
	(void)state;
	plan *p = plan_new(NULL);
	for (int i = 0; i < 6; i++)
		plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	recorder r;
	recorder_init(&r);
	r.wait_for_started = 6; /* steps hold until all have started, or the bound stops them */
	plan_summary sum;
	assert_int_equal(plan_execute(p, 3, record_apply, &r, &sum), 0);
	assert_int_equal(r.max_running, 3);
	assert_int_equal(sum.done, 6);
	plan_free(p);
}

static void test_failure_skips_dependents_only(void **state)
{
	(void)state;
	plan *p = plan_new(NULL);
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
	assert_int_not_equal(plan_execute(p, 2, record_apply, &r, &sum), 0);
	assert_int_equal(sum.done, 1);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.skipped, 2);
	assert_int_equal(plan_step_at(p, a)->status, STEP_FAILED);
	assert_string_equal(plan_step_at(p, a)->error, "boom");
	assert_int_equal(plan_step_at(p, b)->status, STEP_SKIPPED);
	assert_string_equal(plan_step_at(p, b)->error, "skipped: create network a did not succeed");
	assert_int_equal(plan_step_at(p, c)->status, STEP_SKIPPED);
	assert_int_equal(plan_step_at(p, d)->status, STEP_DONE);
	plan_free(p);
}

static void test_cycle_runs_nothing(void **state)
{
	(void)state;
	plan *p = plan_new(NULL);
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
	assert_int_not_equal(plan_execute(p, 4, record_apply, &r, &sum), 0);
	assert_int_equal(r.started, 0);
	assert_int_equal(sum.skipped, 2);
	plan_free(p);
}

static void test_topo_order_is_stable(void **state)
{
	(void)state;
	plan *p = plan_new(NULL);
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
	plan *p = plan_new(NULL);
	size_t s = plan_add_step(p, PLAN_REPLACE, "secret", "db", "content changed", NULL);
	plan_add_change(p, s, "data", "old-secret", "new-secret", true);
	plan_add_change(p, s, "labels.team", "a", "b", false);
	const plan_step *st = plan_step_at(p, s);
	assert_int_equal(st->n_changes, 2);
	assert_null(st->changes[0].old_value);
	assert_null(st->changes[0].new_value);
	assert_true(st->changes[0].sensitive);
	assert_string_equal(st->changes[1].new_value, "b");
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
	plan *p = plan_new(NULL);
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

	plan *empty = plan_new(NULL);
	text = render(empty, false);
	assert_string_equal(text, "No changes. The live state matches the spec.\n");
	free(text);
	plan_free(empty);
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
	};
	return cmocka_run_group_tests_name("plan executor", tests, NULL, NULL);
}
