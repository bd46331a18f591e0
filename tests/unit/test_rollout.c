/* rollout/: the decision, driven against a small model of the live state (revision groups,
 * endpoints with a monitor that comes Online some seconds after an endpoint is added, a tag),
 * time moved by the waits it asks for. Each test checks the writes it made, in order. */
#include "testutil.h"
#include "rollout/rollout.h"

#define MAX_REVS 8
#define MAX_LOG 64

typedef struct world {
	rollout_revision revs[MAX_REVS];
	size_t n;
	double added[MAX_REVS];  /* when each endpoint was added */
	int weights_set[MAX_REVS]; /* how many weights each endpoint was given */
	bool has_tag;
	rollout_tag tag;
	double now;
	/* faults */
	char bad_rev[8];
	int bad_at_weight; /* the revision turns Degraded once given its K-th weight (0: never) */
	bool never_online;
	int restarts_after_start; /* the new revision's containers restart this often */
	char log[MAX_LOG][48];
	size_t n_log;
	int tags_written;
} world;

static rollout_revision *rev_of(world *w, const char *rev)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->revs[i].rev, rev))
			return &w->revs[i];
	assert_true(w->n < MAX_REVS);
	rollout_revision *r = &w->revs[w->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->rev, sizeof(r->rev), "%s", rev);
	return r;
}

static void logf_(world *w, const char *fmt, const char *rev, int weight)
{
	assert_true(w->n_log < MAX_LOG);
	snprintf(w->log[w->n_log++], sizeof(w->log[0]), fmt, rev, weight);
}

static void serving(world *w, const char *rev)
{
	rollout_revision *r = rev_of(w, rev);
	r->group = r->running = r->endpoint = true;
	r->weight = 1000;
	r->monitor = "Online";
	w->added[r - w->revs] = -1000;
}

/* The monitor, as Traffic Manager shows it now. */
static void refresh(world *w)
{
	for (size_t i = 0; i < w->n; i++) {
		rollout_revision *r = &w->revs[i];
		if (!r->endpoint)
			continue;
		bool bad = !strcmp(r->rev, w->bad_rev) &&
			   ((w->bad_at_weight > 0 && w->weights_set[i] >= w->bad_at_weight));
		if (bad)
			r->monitor = "Degraded";
		else if (w->now - w->added[i] < 30 || (w->never_online && !strcmp(r->rev, w->bad_rev)))
			r->monitor = "CheckingEndpoint";
		else
			r->monitor = "Online";
	}
}

/* Runs the decision until it has nothing to do (or is blocked, or errs), at most max_iter
 * decisions; returns the last op, or -1 after max_iter (a test that stops a rollout midway). */
static int drive_some(world *w, const rollout_cfg *cfg, const char *desired, int max_iter)
{
	for (int i = 0; i < max_iter; i++) {
		refresh(w);
		rollout_view v = {.group = "web", .desired = desired, .revs = w->revs, .n_revs = w->n,
				  .has_tag = w->has_tag, .tag = w->tag, .now = w->now, .probe = 0};
		rollout_action a;
		rollout_next(cfg, &v, &a);
		rollout_revision *r;
		switch (a.op) {
		case RO_NOTHING:
		case RO_BLOCKED:
		case RO_ERROR:
			return a.op;
		case RO_WAIT:
			assert_true(a.wait_s > 0);
			w->now += a.wait_s;
			break;
		case RO_TAG:
			w->has_tag = true;
			w->tag = a.tag;
			w->tags_written++;
			break;
		case RO_CREATE:
			r = rev_of(w, a.rev);
			assert_false(r->group);
			r->group = true;
			r->running = true;
			r->restarts = !strcmp(a.rev, w->bad_rev) ? w->restarts_after_start : 0;
			logf_(w, "create %s", a.rev, 0);
			break;
		case RO_WEIGHT:
			r = rev_of(w, a.rev);
			assert_true(r->group); /* never route to a revision that has no group */
			if (!r->endpoint)
				w->added[r - w->revs] = w->now;
			r->endpoint = true;
			r->weight = a.weight;
			w->weights_set[r - w->revs]++;
			logf_(w, "%s=%d", a.rev, a.weight);
			break;
		case RO_UNROUTE:
			r = rev_of(w, a.rev);
			assert_true(r->endpoint);
			r->endpoint = false;
			r->weight = 0;
			w->weights_set[r - w->revs] = 0;
			logf_(w, "unroute %s", a.rev, 0);
			break;
		case RO_DELETE:
			r = rev_of(w, a.rev);
			assert_true(r->group);
			assert_false(r->endpoint); /* traffic first, then the group */
			r->group = r->running = false;
			logf_(w, "delete %s", a.rev, 0);
			break;
		}
	}
	return -1;
}

static rollout_op drive(world *w, const rollout_cfg *cfg, const char *desired, int max_iter)
{
	int op = drive_some(w, cfg, desired, max_iter);
	if (op < 0)
		fail_msg("no end after %d decisions (%zu writes, last %s)", max_iter, w->n_log,
			 w->n_log ? w->log[w->n_log - 1] : "-");
	return (rollout_op)op;
}

static void cfg3(rollout_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->n_steps = 3;
	c->weight[0] = 10;
	c->weight[1] = 50;
	c->weight[2] = 100;
	c->pause[0] = c->pause[1] = c->pause[2] = 120;
	c->monitor = "Online";
	c->probe_expect = 200;
	c->timeout = 900;
	c->poll = 30;
}

static void expect_log(const world *w, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n && i < w->n_log; i++)
		assert_string_equal(w->log[i], want[i]);
	assert_int_equal(w->n_log, n);
}

static bool present(world *w, const char *rev)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->revs[i].rev, rev))
			return w->revs[i].group || w->revs[i].endpoint;
	return false;
}

static void test_happy_path_weights(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	double start = w.now;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 200), RO_NOTHING);
	static const char *const want[] = {"create bbbbbbb", "bbbbbbb=100",  "aaaaaaa=900",    "bbbbbbb=500",
					   "aaaaaaa=500",    "bbbbbbb=1000", "unroute aaaaaaa", "delete aaaaaaa"};
	expect_log(&w, want, sizeof(want) / sizeof(*want));
	assert_int_equal(w.tag.phase, ROLLOUT_SUCCEEDED);
	assert_string_equal(w.tag.rev, "bbbbbbb");
	assert_false(present(&w, "aaaaaaa"));
	/* The monitor came Online (30 s after the endpoint was added), then two pauses were held. */
	assert_true(w.now - start >= 30 + 2 * 120);
	/* And it stays done. */
	size_t n = w.n_log;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 10), RO_NOTHING);
	assert_int_equal(w.n_log, n);
}

static void test_unhealthy_at_each_step_rolls_back(void **state)
{
	(void)state;
	for (int k = 1; k <= 3; k++) {
		rollout_cfg c;
		cfg3(&c);
		world w = {.now = 1000000};
		serving(&w, "aaaaaaa");
		snprintf(w.bad_rev, sizeof(w.bad_rev), "bbbbbbb");
		w.bad_at_weight = k;
		assert_int_equal(drive(&w, &c, "bbbbbbb", 200), RO_BLOCKED);
		assert_int_equal(w.tag.phase, ROLLOUT_FAILED);
		assert_int_equal(w.tag.step, k - 1);
		assert_non_null(strstr(w.tag.reason, "monitor Degraded"));
		assert_false(present(&w, "bbbbbbb")); /* no orphan */
		rollout_revision *a = rev_of(&w, "aaaaaaa");
		assert_true(a->group && a->endpoint);
		assert_int_equal(a->weight, 1000);
		/* The old revision is back at 1000 before the new endpoint goes, and before its group. */
		size_t back = 0, unroute = 0, del = 0;
		for (size_t i = 0; i < w.n_log; i++) {
			if (!strcmp(w.log[i], "aaaaaaa=1000"))
				back = i + 1;
			if (!strcmp(w.log[i], "unroute bbbbbbb"))
				unroute = i + 1;
			if (!strcmp(w.log[i], "delete bbbbbbb"))
				del = i + 1;
		}
		if (k < 3)
			assert_true(back && back < unroute);
		assert_true(unroute && unroute < del);
		/* 100% never went to it while A was removed. */
		for (size_t i = 0; i < w.n_log; i++)
			assert_string_not_equal(w.log[i], "unroute aaaaaaa");
	}
}

static void test_restarts_and_timeout_roll_back(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	snprintf(w.bad_rev, sizeof(w.bad_rev), "bbbbbbb");
	w.restarts_after_start = 2;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 200), RO_BLOCKED);
	assert_non_null(strstr(w.tag.reason, "2 container restarts"));
	assert_false(present(&w, "bbbbbbb"));

	world t = {.now = 1000000};
	serving(&t, "aaaaaaa");
	snprintf(t.bad_rev, sizeof(t.bad_rev), "bbbbbbb");
	t.never_online = true;
	double start = t.now;
	assert_int_equal(drive(&t, &c, "bbbbbbb", 200), RO_BLOCKED);
	assert_non_null(strstr(t.tag.reason, "not healthy within the timeout"));
	assert_int_equal(t.tag.step, 0);
	assert_true(t.now - start >= c.timeout);
	assert_false(present(&t, "bbbbbbb"));
}

static void test_failed_revision_not_retried_until_spec_changes(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	snprintf(w.bad_rev, sizeof(w.bad_rev), "bbbbbbb");
	w.bad_at_weight = 1;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 200), RO_BLOCKED);
	size_t n = w.n_log;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 10), RO_BLOCKED);
	assert_int_equal(w.n_log, n); /* nothing written */
	/* A new revision starts from the first step. */
	assert_int_equal(drive(&w, &c, "ccccccc", 200), RO_NOTHING);
	assert_string_equal(w.log[n], "create ccccccc");
	assert_string_equal(w.log[n + 1], "ccccccc=100");
	assert_int_equal(w.tag.phase, ROLLOUT_SUCCEEDED);
	assert_string_equal(w.tag.rev, "ccccccc");
}

static void test_change_mid_rollout_abandons_then_restarts(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	/* Drive until B carries 50%. */
	for (int i = 0; i < 100; i++) {
		rollout_revision *b = rev_of(&w, "bbbbbbb");
		if (b->weight == 500)
			break;
		drive_some(&w, &c, "bbbbbbb", 1);
	}
	assert_int_equal(rev_of(&w, "bbbbbbb")->weight, 500);
	size_t n = w.n_log;
	assert_int_equal(drive(&w, &c, "ccccccc", 300), RO_NOTHING);
	/* Traffic back to A first, B gone, then C from its first step. */
	assert_string_equal(w.log[n], "aaaaaaa=1000");
	assert_string_equal(w.log[n + 1], "unroute bbbbbbb");
	assert_string_equal(w.log[n + 2], "delete bbbbbbb");
	assert_string_equal(w.log[n + 3], "create ccccccc");
	assert_string_equal(w.log[n + 4], "ccccccc=100");
	assert_int_equal(w.tag.phase, ROLLOUT_SUCCEEDED);
	assert_false(present(&w, "aaaaaaa"));
	assert_false(present(&w, "bbbbbbb"));
}

static void test_promote_skips_pauses(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	c.pause[0] = c.pause[1] = 3600;
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	drive_some(&w, &c, "bbbbbbb", 8); /* started */
	assert_int_equal(w.tag.phase, ROLLOUT_PROGRESSING);
	w.tag.promote = true;
	double start = w.now;
	assert_int_equal(drive(&w, &c, "bbbbbbb", 200), RO_NOTHING);
	assert_int_equal(w.tag.phase, ROLLOUT_SUCCEEDED);
	assert_true(w.now - start < 3600); /* health still gates each step, pauses do not */
}

static void test_first_revision_and_orphans(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 5};
	assert_int_equal(drive(&w, &c, "aaaaaaa", 50), RO_NOTHING);
	static const char *const want[] = {"create aaaaaaa", "aaaaaaa=1000"};
	expect_log(&w, want, 2);
	assert_int_equal(w.tag.phase, ROLLOUT_SUCCEEDED);
	/* An orphan revision (a crash left it) is removed: its endpoint, then its group. */
	rollout_revision *o = rev_of(&w, "ooooooo");
	o->group = o->endpoint = true;
	o->weight = 1;
	assert_int_equal(drive(&w, &c, "aaaaaaa", 50), RO_NOTHING);
	assert_string_equal(w.log[2], "unroute ooooooo");
	assert_string_equal(w.log[3], "delete ooooooo");
}

static void test_abort_rolls_back(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	world w = {.now = 1000000};
	serving(&w, "aaaaaaa");
	drive_some(&w, &c, "bbbbbbb", 12);
	assert_int_equal(w.tag.phase, ROLLOUT_PROGRESSING);
	/* What `berth rollout abort` writes. */
	w.tag.phase = ROLLOUT_ROLLING_BACK;
	snprintf(w.tag.reason, sizeof(w.tag.reason), "aborted");
	assert_int_equal(drive(&w, &c, "bbbbbbb", 50), RO_BLOCKED);
	assert_string_equal(w.tag.reason, "aborted");
	assert_false(present(&w, "bbbbbbb"));
	assert_int_equal(rev_of(&w, "aaaaaaa")->weight, 1000);
}

static void test_tag_roundtrip(void **state)
{
	(void)state;
	rollout_tag t = {.phase = ROLLOUT_ROLLING_BACK, .step = 2, .since = 1764770000, .healthy = -1, .promote = true};
	snprintf(t.group, sizeof(t.group), "web");
	snprintf(t.rev, sizeof(t.rev), "8be04d1");
	snprintf(t.from, sizeof(t.from), "3f2a91c");
	snprintf(t.reason, sizeof(t.reason), "step 2/3 (50%%): monitor Degraded; x=y");
	char *s = rollout_tag_format(&t);
	assert_true(strlen(s) <= 256);
	rollout_tag back;
	assert_true(rollout_tag_parse(s, &back));
	assert_int_equal(back.phase, ROLLOUT_ROLLING_BACK);
	assert_string_equal(back.rev, "8be04d1");
	assert_string_equal(back.from, "3f2a91c");
	assert_int_equal(back.step, 2);
	assert_int_equal(back.since, 1764770000);
	assert_int_equal(back.healthy, -1);
	assert_true(back.promote);
	assert_null(strchr(back.reason, ';'));
	free(s);
	assert_false(rollout_tag_parse("not a tag", &back));
	assert_false(rollout_tag_parse("phase=bogus;rev=1", &back));
	assert_int_equal(back.phase, ROLLOUT_NONE);
}

static void test_describe(void **state)
{
	(void)state;
	rollout_cfg c;
	cfg3(&c);
	char *d = rollout_describe(&c, "3f2a91c", "8be04d1");
	assert_string_equal(d, "3f2a91c \u2192 8be04d1, 10% \u2192 50% \u2192 100%, pause 2m");
	free(d);
	c.pause[0] = 300;
	d = rollout_describe(&c, "3f2a91c", "8be04d1");
	assert_string_equal(d, "3f2a91c \u2192 8be04d1, 10% \u2192 50% \u2192 100%, pauses 5m, 2m");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_happy_path_weights),
		cmocka_unit_test(test_unhealthy_at_each_step_rolls_back),
		cmocka_unit_test(test_restarts_and_timeout_roll_back),
		cmocka_unit_test(test_failed_revision_not_retried_until_spec_changes),
		cmocka_unit_test(test_change_mid_rollout_abandons_then_restarts),
		cmocka_unit_test(test_promote_skips_pauses),
		cmocka_unit_test(test_first_revision_and_orphans),
		cmocka_unit_test(test_abort_rolls_back),
		cmocka_unit_test(test_tag_roundtrip),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
