/* The engine and berth_reconcile against the ARM simulator and the real Docker engine: transports
 * and the token kept across reconciles, cancellation landing within one poll on a fake clock
 * (ARM operations, the container-group start wait, swarm convergence, the executor), events, and
 * many reconciles in one process without a leak (the asan stage runs this file under LSan). */
#include <pthread.h>
#include <sys/stat.h>

#include "testutil.h"
#include "armsim.h"
#include "engine/berth.h"
#include "spec/xalloc.h"
#include "transport/docker.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

#define SUB "00000000-0000-0000-0000-0000000000ee"
#define RG "rg-engine"

static char tmpdir[] = "/tmp/berth-engine-test-XXXXXX";
/* The owner of everything this process plans: its own, so that two runs on one engine never
 * take each other's services for objects to delete. */
static char owner[32];

/* ---- a fake clock: waits take no time; the Nth wait fires the cancel ---- */

typedef struct {
	pthread_mutex_t mu;
	double now;
	int waits;              /* every wait so far */
	int waits_after_cancel; /* waits that started after the cancel had fired */
	int cancel_at;          /* the wait that fires the cancel; 0: never */
	berth_cancel *cancel;
} fake_clock;

static double fake_now(void *ctx)
{
	fake_clock *f = ctx;
	pthread_mutex_lock(&f->mu);
	double t = f->now;
	pthread_mutex_unlock(&f->mu);
	return t;
}

static void fake_wait(void *ctx, double seconds, berth_cancel *cancel)
{
	fake_clock *f = ctx;
	pthread_mutex_lock(&f->mu);
	if (berth_cancel_fired(cancel))
		f->waits_after_cancel++;
	f->waits++;
	f->now += seconds;
	if (f->cancel_at && f->waits == f->cancel_at)
		berth_cancel_fire(f->cancel); /* as SIGTERM would, while berth waits */
	pthread_mutex_unlock(&f->mu);
}

/* ---- events, counted ---- */

typedef struct {
	pthread_mutex_t mu;
	int plan_ready, started, done, failed, skipped, progress, info;
	char last_failure[1024];
} counts;

static void count(void *ctx, const berth_event *ev)
{
	counts *c = ctx;
	pthread_mutex_lock(&c->mu);
	switch (ev->kind) {
	case BERTH_EV_PLAN_READY: c->plan_ready++; break;
	case BERTH_EV_STEP_START: c->started++; break;
	case BERTH_EV_STEP_DONE: c->done++; break;
	case BERTH_EV_STEP_FAILED:
		c->failed++;
		snprintf(c->last_failure, sizeof(c->last_failure), "%s", ev->error && ev->error->message ? ev->error->message : "");
		break;
	case BERTH_EV_STEP_SKIPPED: c->skipped++; break;
	case BERTH_EV_STEP_PROGRESS: c->progress++; break;
	case BERTH_EV_INFO: c->info++; break;
	default: break;
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- the environment ---- */

static void azure_env(void)
{
	setenv("AZURE_TENANT_ID", "t1", 1);
	setenv("AZURE_CLIENT_ID", "berth-engine", 1);
	setenv("AZURE_CLIENT_SECRET", "s3cret-Engine", 1);
	setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", sim.url, 1);
	char authority[128];
	snprintf(authority, sizeof(authority), "%s/", sim.url);
	setenv("AZURE_AUTHORITY_HOST", authority, 1);
	setenv("AZURE_IMDS_ENDPOINT", "http://127.0.0.1:1", 1);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(owner, sizeof(owner), "engine-%d", (int)getpid());
	sim_start(tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sim_stop();
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
	return 0;
}

static void need_sim(void)
{
	if (!sim.port)
		fail_msg("ARM simulator missing: %s", sim.why[0] ? sim.why : "not started");
	sim_post("/_sim/reset", "{}");
	sim_post("/_sim/credentials", "{\"tenant\":\"t1\",\"client_id\":\"berth-engine\",\"client_secret\":\"s3cret-Engine\"}");
	sim_postf("/_sim/seed",
		  "{\"storage_accounts\":[{\"subscription\":\"%s\",\"resource_group\":\"%s\",\"name\":\"enginestore\","
		  "\"location\":\"westeurope\",\"keys\":[\"a2V5MQ==\"]}],"
		  "\"scale_sets\":[{\"subscription\":\"%s\",\"resource_group\":\"%s\",\"name\":\"workers\","
		  "\"location\":\"westeurope\",\"capacity\":2,\"tags\":{\"berth-owner\":\"%s\"}}]}",
		  SUB, RG, SUB, RG, owner);
	azure_env();
}

static spec *load(const char *yaml)
{
	char *diags = NULL;
	spec *s = load_text(yaml, &diags);
	if (!s)
		fail_msg("spec rejected:\n%s", diags);
	free(diags);
	return s;
}

#define AZURE_SECTION "azure:\n  subscription: " SUB "\n  resource_group: " RG                                   \
	"\n  location: westeurope\n"

static const char *azure_spec(int quota)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 AZURE_SECTION "  scale_sets:\n    workers: {capacity: 2}\n"
			    "  file_shares:\n    logs: {storage_account: enginestore, quota_gb: %d, protect: false}\n",
		 quota);
	return buf;
}

/* body (sections) under this process's header */
static spec *load_owned(const char *body)
{
	char *yaml = xasprintf("version: 1\nname: %s\n%s", owner, body);
	spec *s = load(yaml);
	free(yaml);
	return s;
}

/* ---- tests ---- */

/* 50 reconciles make one token request: the engine keeps the ARM client and its credential. */
static void test_fifty_reconciles_one_token(void **state)
{
	(void)state;
	need_sim();
	counts c = {.mu = PTHREAD_MUTEX_INITIALIZER};
	berth_engine_config cfg = {.events = {.fn = count, .ctx = &c}};
	berth_engine *e = berth_engine_new(&cfg);
	spec *s = load_owned(azure_spec(5));
	unsigned long arm_before = 0;
	for (int i = 0; i < 50; i++) {
		berth_reconcile_options o = {.mode = i == 0 ? BERTH_MODE_APPLY : BERTH_MODE_PLAN};
		berth_result r;
		berth_error err = {0};
		int rc = berth_reconcile(e, spec_model(s), &o, &r, &err);
		if (rc != 0)
			fail_msg("reconcile %d: %s", i, err.message);
		/* the first applies the share; every later one finds nothing to do */
		assert_int_equal(plan_count(r.plan), i == 0 ? 1 : 0);
		assert_non_null(r.fingerprint);
		berth_result_free(&r);
		if (i == 1) {
			berth_engine_stats st;
			berth_engine_get_stats(e, &st);
			arm_before = st.arm_requests;
		}
	}
	berth_engine_stats st;
	berth_engine_get_stats(e, &st);
	assert_int_equal(st.token_requests, 1);
	assert_int_equal(st.reconciles, 50);
	assert_true(st.arm_requests > arm_before); /* it did talk to ARM every time */
	assert_int_equal(c.info, 1);               /* "Azure credential: ..." once, when it opened */
	assert_int_equal(c.plan_ready, 50);
	spec_free(s);
	berth_engine_free(e);
}

/* The fingerprint is stable across reconciles of an unchanged world, and moves when it changes. */
static char *fingerprint_of(berth_engine *e, const char *yaml, berth_mode mode)
{
	spec *s = load_owned(yaml);
	berth_reconcile_options o = {.mode = mode};
	berth_result r;
	berth_error err = {0};
	if (berth_reconcile(e, spec_model(s), &o, &r, &err) != 0)
		fail_msg("reconcile: %s", err.message);
	char *fp = strdup(r.fingerprint);
	berth_result_free(&r);
	spec_free(s);
	return fp;
}

static void test_fingerprint_stable_until_the_world_moves(void **state)
{
	(void)state;
	need_sim();
	berth_engine *e = berth_engine_new(NULL);
	char *before = fingerprint_of(e, azure_spec(5), BERTH_MODE_APPLY); /* observed before the apply */
	char *after = fingerprint_of(e, azure_spec(5), BERTH_MODE_PLAN);
	char *again = fingerprint_of(e, azure_spec(5), BERTH_MODE_PLAN);
	free(fingerprint_of(e, azure_spec(7), BERTH_MODE_APPLY)); /* the world moves: a new quota */
	char *moved = fingerprint_of(e, azure_spec(5), BERTH_MODE_PLAN);
	assert_string_not_equal(before, after);
	assert_string_equal(after, again);
	assert_string_not_equal(again, moved);
	free(before);
	free(after);
	free(again);
	free(moved);
	berth_engine_free(e);
}

/* A problem in every provider's part is reported together, with BERTH_EPLAN, and nothing applies. */
static void test_plan_problems_are_one_error(void **state)
{
	(void)state;
	need_sim();
	berth_engine *e = berth_engine_new(NULL);
	spec *s = load_owned(AZURE_SECTION "  scale_sets:\n    nope: {capacity: 3}\n    workers2: {capacity: 1}\n");
	berth_reconcile_options o = {.mode = BERTH_MODE_APPLY};
	berth_result r;
	berth_error err = {0};
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), BERTH_EPLAN);
	assert_non_null(strstr(err.message, "scale set 'nope' does not exist"));
	assert_non_null(strstr(err.message, "scale set 'workers2' does not exist"));
	assert_null(r.plan);
	berth_error_clear(&err);
	berth_result_free(&r);
	spec_free(s);
	berth_engine_free(e);
}

static berth_engine *fake_engine(fake_clock *f, counts *c, int cancel_at)
{
	f->cancel = berth_cancel_new();
	f->cancel_at = cancel_at;
	static berth_clock clk;
	clk = (berth_clock){.now = fake_now, .wait = fake_wait, .ctx = f};
	berth_engine_config cfg = {.clock = &clk, .cancel = f->cancel, .events = {.fn = count, .ctx = c}};
	return berth_engine_new(&cfg);
}

/* Cancelled while ARM's operation runs (a scale-set PATCH that takes 50 polls): the PATCH step
 * ends at the next wake-up, no further poll is made, and the reconcile says ECANCELED. */
static void test_cancel_lands_within_one_poll_of_an_arm_operation(void **state)
{
	(void)state;
	need_sim();
	sim_post("/_sim/config", "{\"lro_polls\": 50, \"retry_after\": 5}");
	fake_clock f = {.mu = PTHREAD_MUTEX_INITIALIZER};
	counts c = {.mu = PTHREAD_MUTEX_INITIALIZER};
	berth_engine *e = fake_engine(&f, &c, 3);
	spec *s = load_owned(AZURE_SECTION "  scale_sets:\n    workers: {capacity: 4}\n");
	berth_reconcile_options o = {.mode = BERTH_MODE_APPLY};
	berth_result r;
	berth_error err = {0};
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), BERTH_ECANCELED);
	assert_true(r.applied);
	assert_true(r.summary.canceled);
	assert_int_equal(r.summary.failed, 1);
	assert_int_equal(f.waits, 3);
	assert_int_equal(f.waits_after_cancel, 0);
	assert_non_null(strstr(c.last_failure, "cancelled"));
	berth_error_clear(&err);
	berth_result_free(&r);
	spec_free(s);
	berth_engine_free(e);
	berth_cancel_free(f.cancel);
	sim_post("/_sim/config", "{\"lro_polls\": 2, \"retry_after\": 0}");
}

/* Cancelled while a container group provisioned but its containers are still starting: the
 * start wait ends within one poll. */
static void test_cancel_lands_within_one_poll_of_the_aci_wait(void **state)
{
	(void)state;
	need_sim();
	sim_post("/_sim/config", "{\"lro_polls\": 0}");
	sim_post("/_sim/faults", "{\"rules\":[{\"action\":\"slow_start\",\"reads\":100,\"method\":\"PUT\"}]}");
	fake_clock f = {.mu = PTHREAD_MUTEX_INITIALIZER};
	counts c = {.mu = PTHREAD_MUTEX_INITIALIZER};
	berth_engine *e = fake_engine(&f, &c, 4);
	spec *s = load_owned(AZURE_SECTION "  container_groups:\n    web:\n      containers:\n        app: {image: nginx:1.27, cpu: 1, "
				  "memory_gb: 1}\n");
	berth_reconcile_options o = {.mode = BERTH_MODE_APPLY};
	berth_result r;
	berth_error err = {0};
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), BERTH_ECANCELED);
	assert_int_equal(f.waits, 4); /* the wait polls every 2 s: 4 polls, then the cancel */
	assert_int_equal(f.waits_after_cancel, 0);
	assert_non_null(strstr(c.last_failure, "cancelled while waiting for its containers"));
	berth_error_clear(&err);
	berth_result_free(&r);
	spec_free(s);
	berth_engine_free(e);
	berth_cancel_free(f.cancel);
	sim_post("/_sim/config", "{\"lro_polls\": 2}");
}

/* Cancelled before anything: a reconcile fails at once, and after a reset works again. */
static void test_cancelled_engine_refuses_until_reset(void **state)
{
	(void)state;
	need_sim();
	berth_engine *e = berth_engine_new(NULL);
	spec *s = load_owned(azure_spec(5));
	berth_engine_cancel(e);
	berth_reconcile_options o = {.mode = BERTH_MODE_PLAN};
	berth_result r;
	berth_error err = {0};
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), BERTH_ECANCELED);
	berth_error_clear(&err);
	berth_result_free(&r);
	berth_engine_reset_cancel(e);
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), 0);
	berth_result_free(&r);
	spec_free(s);
	berth_engine_free(e);
}

/* A transfer in flight stops when the cancel fires: the simulator holds the answer 5 s, the
 * cancel fires after 100 ms from another thread, and the request fails as cancelled (had it
 * waited, it would have succeeded). */
typedef struct {
	berth_cancel *c;
} canceller;

static void *cancel_soon(void *arg)
{
	canceller *k = arg;
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	berth_cancel_fire(k->c);
	return NULL;
}

static void test_cancel_stops_a_transfer_in_flight(void **state)
{
	(void)state;
	need_sim();
	canceller k = {berth_cancel_new()};
	arm_config cfg = {.resource_manager = sim.url, .cancel = k.c, .max_retries = -1};
	char *msg = NULL;
	arm *a = arm_open(&cfg, &msg);
	if (!a)
		fail_msg("arm_open: %s", msg);
	sim_post("/_sim/faults", "{\"rules\":[{\"action\":\"delay\",\"ms\":5000,\"path_regex\":\"storageAccounts/enginestore/fileServices\"}]}");
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_soon, &k), 0);
	char path[256];
	snprintf(path, sizeof(path), "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/"
		 "enginestore/fileServices/default/shares", SUB, RG);
	json_t *items = NULL;
	assert_int_not_equal(arm_list(a, path, ARM_API_STORAGE, &items, &msg), 0);
	pthread_join(t, NULL);
	assert_true(arm_canceled(a));
	assert_non_null(strstr(msg, "cancelled"));
	assert_null(items);
	free(msg);
	arm_close(a);
	berth_cancel_free(k.c);
}

/* ---- with the real Docker engine ---- */

static bool have_engine(void)
{
	const char *host = getenv("BERTH_TEST_DOCKER_HOST");
	return host && *host;
}

static char *swarm_spec(const char *who, const char *name, const char *cmd, int replicas, const char *mode)
{
	return xasprintf("version: 1\nname: %s\nswarm:\n  services:\n    %s:\n      image: berth-demo/busybox:latest\n"
			      "      command: [\"sh\", \"-c\", \"%s\"]\n      environment: {MODE: %s}\n"
			      "      deploy: {replicas: %d}\n",
			      who, name, cmd, mode, replicas);
}

static void remove_service(const char *name)
{
	docker_config cfg;
	docker_config_init(&cfg, getenv("BERTH_TEST_DOCKER_HOST"), NULL, NULL, NULL);
	char *msg = NULL;
	docker *d = docker_open(&cfg, &msg);
	free(msg);
	if (!d)
		return;
	char path[256];
	snprintf(path, sizeof(path), "/services/%s", name);
	long status;
	json_t *resp = NULL;
	(void)docker_request(d, "DELETE", path, NULL, &status, &resp, &msg);
	free(msg);
	json_decref(resp);
	docker_close(d);
}

/* Cancelled while a service converges (its task is running but not yet stable): the wait ends
 * within one poll, the step reports the cancel, and the service is left for the next reconcile. */
static void test_cancel_lands_within_one_poll_of_swarm_convergence(void **state)
{
	(void)state;
	if (!have_engine())
		fail_msg("BERTH_TEST_DOCKER_HOST is not set: make check starts an engine");
	setenv("DOCKER_HOST", getenv("BERTH_TEST_DOCKER_HOST"), 1);
	char name[64];
	snprintf(name, sizeof(name), "engine-conv-%d", (int)getpid());
	remove_service(name);
	fake_clock f = {.mu = PTHREAD_MUTEX_INITIALIZER};
	counts c = {.mu = PTHREAD_MUTEX_INITIALIZER};
	/* Convergence polls every 0.25 s of clock time and wants 2 s of stability: cancelling at the
	 * 3rd wait is always before it could converge. */
	berth_engine *e = fake_engine(&f, &c, 3);
	char *yaml = swarm_spec(owner, name, "sleep 600", 1, "a");
	spec *s = load(yaml);
	berth_reconcile_options o = {.mode = BERTH_MODE_APPLY};
	berth_result r;
	berth_error err = {0};
	assert_int_equal(berth_reconcile(e, spec_model(s), &o, &r, &err), BERTH_ECANCELED);
	assert_int_equal(f.waits, 3);
	assert_int_equal(f.waits_after_cancel, 0);
	assert_non_null(strstr(c.last_failure, "cancelled while waiting for it to converge"));
	berth_error_clear(&err);
	berth_result_free(&r);
	spec_free(s);
	free(yaml);
	berth_engine_free(e);
	berth_cancel_free(f.cancel);
	remove_service(name);
}

/* 200 reconciles (plan and apply, the swarm and Azure in one spec) in one process: under the
 * asan stage LeakSanitizer must find nothing lost. Services have 0 replicas so that applies do
 * not wait for convergence. */
static void test_many_reconciles_lose_nothing(void **state)
{
	(void)state;
	if (!have_engine())
		fail_msg("BERTH_TEST_DOCKER_HOST is not set: make check starts an engine");
	need_sim();
	setenv("DOCKER_HOST", getenv("BERTH_TEST_DOCKER_HOST"), 1);
	char name[64];
	snprintf(name, sizeof(name), "engine-leak-%d", (int)getpid());
	remove_service(name);
	berth_engine *e = berth_engine_new(NULL);
	int applied = 0;
	for (int i = 0; i < 100; i++) {
		char *sw = swarm_spec(owner, name, "true", 0, i % 2 ? "odd" : "even");
		char *yaml = xasprintf("%s%s", sw, azure_spec(5 + i % 2));
		spec *s = load(yaml);
		for (int k = 0; k < 2; k++) {
			berth_reconcile_options o = {.mode = k ? BERTH_MODE_APPLY : BERTH_MODE_PLAN};
			berth_result r;
			berth_error err = {0};
			int rc = berth_reconcile(e, spec_model(s), &o, &r, &err);
			if (rc != 0)
				fail_msg("reconcile %d/%d: %s", i, k, err.message);
			applied += k && r.applied;
			berth_result_free(&r);
		}
		spec_free(s);
		free(yaml);
		free(sw);
	}
	assert_int_equal(applied, 100); /* every apply changed something: env and quota alternate */
	berth_engine_stats st;
	berth_engine_get_stats(e, &st);
	assert_int_equal(st.reconciles, 200);
	assert_int_equal(st.token_requests, 1);
	berth_engine_free(e);
	remove_service(name);
#ifdef HAVE_LSAN
	assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifty_reconciles_one_token),
		cmocka_unit_test(test_fingerprint_stable_until_the_world_moves),
		cmocka_unit_test(test_plan_problems_are_one_error),
		cmocka_unit_test(test_cancel_lands_within_one_poll_of_an_arm_operation),
		cmocka_unit_test(test_cancel_lands_within_one_poll_of_the_aci_wait),
		cmocka_unit_test(test_cancelled_engine_refuses_until_reset),
		cmocka_unit_test(test_cancel_stops_a_transfer_in_flight),
		cmocka_unit_test(test_cancel_lands_within_one_poll_of_swarm_convergence),
		cmocka_unit_test(test_many_reconciles_lose_nothing),
	};
	return cmocka_run_group_tests_name("engine", tests, group_setup, group_teardown);
}
