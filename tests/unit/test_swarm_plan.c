/* The swarm planner is a pure function of (spec, observed): these tests feed it specs and
 * observed states (fixtures are list responses recorded from a Debian 12 engine, API 1.41) and
 * check the plan, without a server. */
#include <time.h>

#include "testutil.h"
#include "core/plan.h"
#include "render/render.h"
#include "providers/swarm/swarm.h"
#include "providers/swarm/swarm_step.h"

static json_t *fixture(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/unit/fixtures/%s", name);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", path, e.text);
	return j;
}

static void state_from(swarm_state *st, json_t *services, json_t *networks, json_t *secrets, json_t *configs)
{
	json_t *lists[SWARM_KINDS] = {services, networks, secrets, configs};
	swarm_state_from_json(lists, st);
	for (int i = 0; i < SWARM_KINDS; i++)
		json_decref(lists[i]);
}

static void quickstart_state(swarm_state *st)
{
	state_from(st, fixture("quickstart-services.json"), fixture("quickstart-networks.json"),
		   fixture("quickstart-secrets.json"), fixture("quickstart-configs.json"));
}

static void empty_state(swarm_state *st)
{
	state_from(st, json_array(), json_array(), json_array(), json_array());
}

static spec *load_file(const char *path)
{
	spec_diags *d = spec_diags_new();
	spec *s = spec_load(path, NULL, d);
	if (!s)
		spec_diags_print(d, stderr);
	spec_diags_free(d);
	assert_non_null(s);
	return s;
}

static plan *make_plan(const spec *s, const swarm_state *st, const swarm_plan_options *o, char **err)
{
	plan *p = plan_new();
	plan_set_owner(p, 0, swarm_step_free);
	*err = NULL;
	int rc = swarm_plan(spec_model(s), st, o, p, err);
	if (rc != 0 && !*err)
		fail_msg("swarm_plan failed without a message");
	return p;
}

static char *render(const plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	plan_render_text(p, f, false);
	fclose(f);
	return buf;
}

static const plan_step *find_step(const plan *p, const char *kind, const char *name)
{
	for (size_t i = 0; i < plan_count(p); i++) {
		const plan_step *s = plan_step_at(p, i);
		if (!strcmp(plan_step_kind(s), kind) && !strcmp(plan_step_name(s), name))
			return s;
	}
	return NULL;
}

static bool depends_on(const plan_step *s, size_t id)
{
	for (size_t i = 0; i < plan_step_n_deps(s); i++)
		if (plan_step_dep(s, i) == id)
			return true;
	return false;
}

static void test_applied_state_plans_nothing(void **state)
{
	(void)state;
	/* The engine fills in Isolation, ForceUpdate, Runtime, EndpointSpec.Mode and turns the network
	 * name into an id: none of that may show as a change. */
	spec *s = load_file("examples/quickstart");
	swarm_state st;
	quickstart_state(&st);
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 0);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_create_from_empty_in_dependency_order(void **state)
{
	(void)state;
	spec *s = load_file("examples/quickstart");
	swarm_state st;
	empty_state(&st);
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 3);
	const plan_step *net = find_step(p, "network", "web"), *cfg = find_step(p, "config", "index-html"),
			*svc = find_step(p, "service", "hello");
	assert_non_null(net);
	assert_non_null(cfg);
	assert_non_null(svc);
	assert_int_equal(plan_step_action(svc), PLAN_CREATE);
	assert_true(depends_on(svc, plan_step_id(net)));
	assert_true(depends_on(svc, plan_step_id(cfg)));
	assert_int_equal(plan_step_n_deps(net), 0);
	char *text = render(p);
	assert_non_null(strstr(text, "+ image: \"berth-demo/busybox:latest\""));
	assert_non_null(strstr(text, "+ port.18080/tcp: \"18080:8080/tcp host\""));
	assert_non_null(strstr(text, "Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."));
	/* Engine defaults are not listed for a new service. */
	assert_null(strstr(text, "restart_policy.condition"));
	free(text);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static spec *load_yaml(const char *yaml)
{
	char *text;
	spec *s = load_text(yaml, &text);
	if (!s)
		fail_msg("%s", text);
	free(text);
	return s;
}

static const char *quickstart_changed =
	"version: 1\nname: quickstart\nswarm:\n  networks:\n    web: {attachable: true}\n"
	"  configs:\n    index-html:\n      content: |\n        <h1>hello from berth</h1>\n"
	"  services:\n    hello:\n      image: berth-demo/busybox:1.36\n"
	"      command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
	"      environment: {MODE: prod}\n"
	"      ports: [{target: 8080, published: 18080, mode: host}, \"9090:9090/udp\"]\n"
	"      configs: [{source: index-html, target: /www/index.html}]\n"
	"      networks: [web]\n"
	"      deploy: {replicas: 3, update_config: {parallelism: 1, order: start-first}}\n";

static void test_update_lists_field_changes(void **state)
{
	(void)state;
	spec *s = load_yaml(quickstart_changed);
	swarm_state st;
	quickstart_state(&st);
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 1);
	const plan_step *svc = find_step(p, "service", "hello");
	assert_int_equal(plan_step_action(svc), PLAN_UPDATE);
	assert_string_equal(plan_step_reason(svc), "image changed, env.MODE added, replicas changed and 1 more");
	char *text = render(p);
	assert_non_null(strstr(text, "~ image: \"berth-demo/busybox:latest\" -> \"berth-demo/busybox:1.36\""));
	assert_non_null(strstr(text, "+ env.MODE: \"prod\""));
	assert_non_null(strstr(text, "~ replicas: \"1\" -> \"3\""));
	assert_non_null(strstr(text, "+ port.9090/udp: \"9090:9090/udp ingress\""));
	free(text);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

/* The quickstart spec, whose service takes BERTH_T_GREETING from the deploying environment. */
static const char *quickstart_inherits =
	"version: 1\nname: quickstart\nswarm:\n  networks:\n    web: {attachable: true}\n"
	"  configs:\n    index-html:\n      content: |\n        <h1>hello from berth</h1>\n"
	"  services:\n    hello:\n      image: berth-demo/busybox:latest\n"
	"      command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
	"      environment: [BERTH_T_GREETING]\n"
	"      ports: [{target: 8080, published: 18080, mode: host}]\n"
	"      configs: [{source: index-html, target: /www/index.html}]\n"
	"      networks: [web]\n"
	"      deploy: {replicas: 1, update_config: {parallelism: 1, order: start-first}}\n";

static char *plan_text_for(const char *yaml, const swarm_state *st, size_t *count)
{
	spec *s = load_yaml(yaml);
	char *err;
	plan *p = make_plan(s, st, NULL, &err);
	assert_null(err);
	*count = plan_count(p);
	char *text = render(p);
	plan_free(p);
	spec_free(s);
	return text;
}

/* "- KEY" is resolved when the spec is loaded: the same environment gives the same plan, an unset
 * variable is simply not there (the deployed service, which has none, needs no change). */
static void test_inherited_environment_plans_stably(void **state)
{
	(void)state;
	swarm_state st;
	quickstart_state(&st);
	size_t n1, n2;
	unsetenv("BERTH_T_GREETING");
	char *unset_text = plan_text_for(quickstart_inherits, &st, &n1);
	assert_int_equal(n1, 0);
	free(unset_text);

	setenv("BERTH_T_GREETING", "hi there", 1);
	char *a = plan_text_for(quickstart_inherits, &st, &n1);
	char *b = plan_text_for(quickstart_inherits, &st, &n2);
	assert_int_equal(n1, 1);
	assert_int_equal(n2, 1);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "+ env.BERTH_T_GREETING: \"hi there\""));
	setenv("BERTH_T_GREETING", "bye", 1);
	char *c = plan_text_for(quickstart_inherits, &st, &n1);
	assert_non_null(strstr(c, "+ env.BERTH_T_GREETING: \"bye\""));
	unsetenv("BERTH_T_GREETING");
	free(a);
	free(b);
	free(c);
	swarm_state_free(&st);
}

/* A published range to one target becomes one published port per port of the range. */
static void test_published_range_to_one_target_plans_each_port(void **state)
{
	(void)state;
	swarm_state st;
	empty_state(&st);
	size_t n;
	char *text = plan_text_for("version: 1\nname: r\nswarm:\n  services:\n"
				   "    web: {image: nginx, ports: [\"8000-8002:80\"]}\n",
				   &st, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(text, "+ port.8000/tcp: \"8000:80/tcp ingress\""));
	assert_non_null(strstr(text, "+ port.8001/tcp: \"8001:80/tcp ingress\""));
	assert_non_null(strstr(text, "+ port.8002/tcp: \"8002:80/tcp ingress\""));
	free(text);
	swarm_state_free(&st);
}

/* The fixture's service without berth's label: someone else's object with the same name. */
static void test_unowned_same_name_is_a_plan_error(void **state)
{
	(void)state;
	spec *s = load_file("examples/quickstart");
	json_t *services = fixture("quickstart-services.json");
	json_object_del(json_object_get(json_object_get(json_array_get(services, 0), "Spec"), "Labels"), "berth.owner");
	swarm_state st;
	state_from(&st, services, fixture("quickstart-networks.json"), fixture("quickstart-secrets.json"),
		   fixture("quickstart-configs.json"));
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_non_null(err);
	assert_string_equal(err, "service 'hello' exists and was not created by berth (no berth.owner label); berth "
				 "never adopts objects: remove or rename it");
	free(err);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static json_t *owned_services(int n, const char *owner)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		char id[32], name[32];
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(name, sizeof(name), "svc%d", i);
		json_array_append_new(a, json_pack("{s:s, s:{s:I}, s:{s:s, s:{s:s}, s:{s:{s:s}}}}", "ID", id, "Version",
						   "Index", (json_int_t)10, "Spec", "Name", name, "Labels", "berth.owner",
						   owner, "TaskTemplate", "ContainerSpec", "Image", "busybox"));
	}
	return a;
}

static void test_mass_delete_is_refused(void **state)
{
	(void)state;
	spec *s = load_yaml("version: 1\nname: shop\nswarm:\n  services:\n    keep: {image: busybox}\n");
	swarm_state st;
	state_from(&st, owned_services(8, "shop"), json_array(), json_array(), json_array());
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_non_null(err);
	assert_string_equal(err, "the plan would delete 8 of the 8 swarm objects berth owns as 'shop' (more than 5 and "
				 "more than 25%); refusing without --allow-mass-delete");
	free(err);
	plan_free(p);
	swarm_plan_options allow = {.allow_mass_delete = true};
	p = make_plan(s, &st, &allow, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 9); /* 8 deletes and 1 create */
	assert_int_equal(plan_step_action(find_step(p, "service", "svc3")), PLAN_DELETE);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_other_owners_objects_are_never_touched(void **state)
{
	(void)state;
	spec *s = load_yaml("version: 1\nname: shop\nswarm:\n  services:\n    keep: {image: busybox}\n");
	swarm_state st;
	state_from(&st, owned_services(3, "someone-else"), json_array(), json_array(), json_array());
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 1);
	assert_int_equal(plan_step_action(plan_step_at(p, 0)), PLAN_CREATE);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_secret_rotation(void **state)
{
	(void)state;
	setenv("BERTH_TEST_DB_PASSWORD", "new-s3cret-value", 1);
	spec *s = load_yaml("version: 1\nname: shop\nswarm:\n  secrets:\n    db: {value: \"${env:BERTH_TEST_DB_PASSWORD}\"}\n"
			    "  services:\n    api: {image: busybox, secrets: [db]}\n");
	char old_name[80];
	swarm_content_name("db", "old-value", 9, old_name);
	json_t *secrets = json_pack("[{s:s, s:{s:I}, s:{s:s, s:{s:s, s:s}}}]", "ID", "sec-old", "Version", "Index",
				    (json_int_t)3, "Spec", "Name", old_name, "Labels", "berth.owner", "shop", "berth.name", "db");
	json_t *services = json_pack(
		"[{s:s, s:{s:I}, s:{s:s, s:{s:s}, s:{s:{s:s, s:[{s:{s:s, s:s, s:s, s:i}, s:s, s:s}]}}, s:{s:{s:i}}}}]", "ID",
		"svc-api", "Version", "Index", (json_int_t)7, "Spec", "Name", "api", "Labels", "berth.owner", "shop",
		"TaskTemplate", "ContainerSpec", "Image", "busybox", "Secrets", "File", "Name", "db", "UID", "0", "GID", "0",
		"Mode", 0444, "SecretID", "sec-old", "SecretName", old_name, "Mode", "Replicated", "Replicas", 1);
	swarm_state st;
	state_from(&st, services, json_array(), secrets, json_array());
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 3);
	const plan_step *create = find_step(p, "secret", "db"), *svc = find_step(p, "service", "api"),
			*del = find_step(p, "secret", old_name);
	assert_non_null(create);
	assert_non_null(svc);
	assert_non_null(del);
	assert_int_equal(plan_step_action(create), PLAN_REPLACE);
	assert_int_equal(plan_step_action(svc), PLAN_UPDATE);
	assert_int_equal(plan_step_action(del), PLAN_DELETE);
	assert_true(depends_on(svc, plan_step_id(create)));
	assert_true(depends_on(del, plan_step_id(svc)));
	char *text = render(p);
	assert_non_null(strstr(text, "~ data: (sensitive value changed)"));
	assert_null(strstr(text, "new-s3cret-value"));
	assert_null(strstr(text, "old-value"));
	free(text);
	json_t *meta = json_object();
	json_t *j = plan_to_json(p, meta);
	char *dump = json_dumps(j, 0);
	assert_null(strstr(dump, "new-s3cret-value"));
	assert_non_null(strstr(dump, "\"sensitive\": true"));
	free(dump);
	json_decref(j);
	json_decref(meta);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_fingerprint_ignores_list_order(void **state)
{
	(void)state;
	swarm_state a, b;
	json_t *services = owned_services(3, "x");
	json_t *reversed = json_array();
	for (size_t i = json_array_size(services); i-- > 0;)
		json_array_append(reversed, json_array_get(services, i));
	state_from(&a, services, json_array(), json_array(), json_array());
	state_from(&b, reversed, json_array(), json_array(), json_array());
	char *fa = swarm_fingerprint(&a), *fb = swarm_fingerprint(&b);
	assert_string_equal(fa, fb);
	free(fa);
	free(fb);
	swarm_state_free(&a);
	swarm_state_free(&b);
}

/* update_config and rollback_config given in part. The fixtures: what Engine 20.10 stores for a
 * service berth applied from this spec, and for the same service created with the partial
 * UpdateConfig as berth used to send it (the engine stores Parallelism 0 then: all at once). */
static const char *partial_update_yaml =
	"version: 1\nname: fixture\nswarm:\n  services:\n    fixture-partial:\n"
	"      image: berth-test/busybox:latest\n      command: [sleep, '3600']\n"
	"      deploy:\n        replicas: 0\n        update_config: {delay: 1s, order: start-first}\n"
	"        rollback_config: {monitor: 2s}\n";

static void test_partial_update_config_sends_parallelism_and_plans_nothing(void **state)
{
	(void)state;
	spec *s = load_yaml(partial_update_yaml);
	const struct spec_model *m = spec_model(s);
	json_t *desired = swarm_service_spec(m, &m->swarm.services[0], NULL, NULL);
	/* berth's default, sent: the engine would store 0 for a missing one. */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(desired, "UpdateConfig"), "Parallelism")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(desired, "RollbackConfig"), "Parallelism")), 1);
	json_decref(desired);

	swarm_state st;
	state_from(&st, fixture("partial-update-config-services.json"), json_array(), json_array(), json_array());
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 0);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_stored_zero_parallelism_is_a_change(void **state)
{
	(void)state;
	spec *s = load_yaml(partial_update_yaml);
	swarm_state st;
	state_from(&st, fixture("partial-update-config-stored-zero-services.json"), json_array(), json_array(),
		   json_array());
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 1);
	const plan_step *svc = find_step(p, "service", "fixture-partial");
	assert_non_null(svc);
	/* Only parallelism: every other field the engine filled in reads as the spec's default. */
	assert_int_equal(plan_step_n_changes(svc), 2);
	char *text = render(p);
	assert_non_null(strstr(text, "~ update_config.parallelism: \"0\" -> \"1\""));
	assert_non_null(strstr(text, "~ rollback_config.parallelism: \"0\" -> \"1\""));
	free(text);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

/* Without any update_config the engine's defaults apply, parallelism 1 among them; the view reads
 * a missing config as those defaults, and a present one's missing fields as the engine does. */
static void test_update_config_defaults_in_the_view(void **state)
{
	(void)state;
	json_t *none = json_pack("{s:{s:{}}}", "TaskTemplate", "ContainerSpec");
	json_t *empty = json_pack("{s:{s:{}}, s:{}}", "TaskTemplate", "ContainerSpec", "UpdateConfig");
	json_t *vn = swarm_service_view(none, NULL), *ve = swarm_service_view(empty, NULL);
	assert_string_equal(json_string_value(json_object_get(vn, "update_config.parallelism")), "1");
	assert_string_equal(json_string_value(json_object_get(ve, "update_config.parallelism")), "0");
	static const char *const same[] = {"delay", "failure_action", "monitor", "max_failure_ratio", "order"};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "update_config.%s", same[i]);
		assert_string_equal(json_string_value(json_object_get(vn, key)), json_string_value(json_object_get(ve, key)));
	}
	json_decref(vn);
	json_decref(ve);
	json_decref(none);
	json_decref(empty);
}

/* ---- convergence: services whose spec is the desired one, judged by UpdateStatus and tasks ----
 *
 * Each fixture converge-STATE.json holds what berth's observation lists for one owner (services,
 * tasks of its services, and the wall clock when they were read), recorded from Engine 20.10 by
 * fixtures/record-convergence.sh, with the spec that made it (converge-STATE.yaml). */

static spec *converge_fixture(const char *state, swarm_state *st, long long shift_ms)
{
	char name[128];
	snprintf(name, sizeof(name), "converge-%s.json", state);
	json_t *doc = fixture(name);
	state_from(st, json_incref(json_object_get(doc, "services")), json_array(), json_array(), json_array());
	swarm_state_set_tasks(st, json_object_get(doc, "tasks"),
			      json_integer_value(json_object_get(doc, "observed_ms")) + shift_ms);
	json_decref(doc);
	char path[256];
	snprintf(path, sizeof(path), "tests/unit/fixtures/converge-%s.yaml", state);
	return load_file(path);
}

/* The plan for a fixture as recorded: its one step's reason (NULL when there is none). */
static char *converge_reason(const char *state, long long shift_ms, bool *resubmit)
{
	swarm_state st;
	spec *s = converge_fixture(state, &st, shift_ms);
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	char *reason = NULL;
	if (plan_count(p)) {
		assert_int_equal(plan_count(p), 1);
		const plan_step *step = plan_step_at(p, 0);
		const swarm_step *ss = plan_step_payload(step);
		/* Nothing to change: apply only waits, as after an update. */
		assert_int_equal(plan_step_action(step), PLAN_UPDATE);
		assert_int_equal(plan_step_n_changes(step), 0);
		assert_true(ss->settle);
		*resubmit = ss->resubmit;
		reason = strdup(plan_step_reason(step));
	}
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
	return reason;
}

static void assert_converged(const char *state, long long shift_ms)
{
	bool resubmit = false;
	char *reason = converge_reason(state, shift_ms, &resubmit);
	if (reason)
		fail_msg("%s: expected no step, got \"%s\"", state, reason);
}

static void assert_unconverged(const char *state, long long shift_ms, const char *want, bool want_resubmit)
{
	bool resubmit = false;
	char *reason = converge_reason(state, shift_ms, &resubmit);
	if (!reason)
		fail_msg("%s: expected a step \"%s\", got none", state, want);
	if (strncmp(reason, want, strlen(want)))
		fail_msg("%s: expected a reason starting \"%s\", got \"%s\"", state, want, reason);
	assert_int_equal(resubmit, want_resubmit);
	free(reason);
}

/* Right after an apply that succeeded: converged, whatever apply waited for. */
static void test_converged_right_after_apply(void **state)
{
	(void)state;
	assert_converged("after-apply", 0);
	assert_converged("global-after-apply", 0);
}

/* When the newest running task of a fixture entered that state, by the engine's clock (ms). */
static long long newest_running_ms(const char *state)
{
	char name[128];
	snprintf(name, sizeof(name), "converge-%s.json", state);
	json_t *doc = fixture(name);
	long long newest = 0;
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(doc, "tasks"), i, t) {
		json_t *status = json_object_get(t, "Status");
		const char *ts = json_string_value(json_object_get(status, "Timestamp"));
		struct tm tm = {0};
		const char *rest = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
		if (!rest || strcmp(json_string_value(json_object_get(status, "State")), "running"))
			continue;
		int msec = 0;
		sscanf(rest, ".%3d", &msec); /* the engine writes 9 digits: the first 3 are ms */
		long long ms = (long long)timegm(&tm) * 1000 + msec;
		if (ms > newest)
			newest = ms;
	}
	long long observed = json_integer_value(json_object_get(doc, "observed_ms"));
	json_decref(doc);
	return newest - observed; /* as a shift of the observation */
}

/* The same tasks seen half a second after they started: a task that dies at once is briefly
 * running too, so they count only once they have run for SWARM_STABLE_MS, as in apply. */
static void test_tasks_just_started_are_not_yet_converged(void **state)
{
	(void)state;
	long long started = newest_running_ms("after-apply");
	assert_unconverged("after-apply", started + 500, "not converged: 0/2 tasks running", false);
	/* The other task started a little earlier: at most it counts, not the newest. */
	bool resubmit;
	char *edge = converge_reason("after-apply", started + SWARM_STABLE_MS - 1, &resubmit);
	assert_non_null(edge);
	assert_true(!strcmp(edge, "not converged: 0/2 tasks running") || !strcmp(edge, "not converged: 1/2 tasks running"));
	free(edge);
	assert_converged("after-apply", started + SWARM_STABLE_MS);
}

/* berth killed right after it submitted an update: the spec is the desired one, the rollout is not. */
static void test_update_in_progress_is_not_converged(void **state)
{
	(void)state;
	assert_unconverged("update-in-progress", 0, "not converged: update in progress", false);
}

static void test_paused_update_is_not_converged_and_resubmitted(void **state)
{
	(void)state;
	bool resubmit = false;
	char *reason = converge_reason("update-paused", 0, &resubmit);
	assert_non_null(reason);
	assert_non_null(strstr(reason, "not converged: update paused: update paused due to failure or early termination of task "));
	assert_non_null(strstr(reason, "; task error: task: non-zero exit (3)"));
	assert_true(resubmit);
	free(reason);
}

/* A paused update whose spec is not the desired one: a normal update, listing its changes. */
static void test_paused_update_to_another_spec_is_a_normal_update(void **state)
{
	(void)state;
	swarm_state st;
	spec *recorded = converge_fixture("update-paused", &st, 0);
	spec_free(recorded);
	spec *s = load_yaml("version: 1\nname: fixture\nswarm:\n  services:\n    fixture-s:\n"
			    "      image: berth-test/busybox:latest\n      command: [sleep, '3601']\n"
			    "      stop_grace_period: 1s\n"
			    "      deploy: {replicas: 2, restart_policy: {delay: 100ms}, update_config: {parallelism: 1, monitor: 2s}}\n");
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 1);
	const plan_step *step = plan_step_at(p, 0);
	assert_int_equal(plan_step_action(step), PLAN_UPDATE);
	assert_string_equal(plan_step_reason(step), "command changed");
	assert_false(((const swarm_step *)plan_step_payload(step))->settle);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

/* Created with a crashing command (berth killed after the create, or an apply that failed). */
static void test_crashing_tasks_are_not_converged(void **state)
{
	(void)state;
	/* One of the recorded tasks was running, 0.2 s old: it does not count. */
	assert_unconverged("create-crashing", 0, "not converged: 0/2 tasks running: task: non-zero exit (3)", false);
	assert_unconverged("global-crashing", 0, "not converged: 0/1 tasks running: task: non-zero exit (3)", false);
}

/* A paused rollout that stopped half way (the engine dropped the same spec submitted again right
 * after the pause, and cleared the status): tasks of the older spec still run, and only a new
 * submission starts the rollout again. */
static void test_stopped_rollout_is_not_converged_and_resubmitted(void **state)
{
	(void)state;
	assert_unconverged("update-stopped", 0, "not converged: 0/4 tasks running, 3 of an older spec: task: non-zero exit (3)",
			   true);
}

/* Converged at apply, crash-looping since: drift, shown as such. */
static void test_crash_loop_after_convergence_is_drift(void **state)
{
	(void)state;
	assert_unconverged("crash-loop-after-apply", 0, "not converged: 0/1 tasks running: task: non-zero exit (5)", false);
}

static void test_replicas_zero_is_converged(void **state)
{
	(void)state;
	assert_converged("replicas-zero", 0);
}

/* A task the engine cannot place says why. */
static void test_pending_task_shows_why(void **state)
{
	(void)state;
	assert_unconverged("pending", 0,
			   "not converged: 1/2 tasks running: no suitable node (host-mode port already in use on 1 node)", false);
}

/* The engine rolled back an update to a crashing command: the spec is the old one again, so the
 * plan is the update again; once the spec says the old command too, the service has converged. */
static void test_rolled_back_update(void **state)
{
	(void)state;
	swarm_state st;
	spec *s = converge_fixture("rolled-back", &st, 0);
	char *err;
	plan *p = make_plan(s, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 1);
	assert_string_equal(plan_step_reason(plan_step_at(p, 0)), "command changed");
	char *text = render(p);
	assert_non_null(strstr(text, "~ command: [\"sleep\",\"3600\"] -> [\"sh\",\"-c\",\"exit 3\"]"));
	free(text);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);

	spec *reverted = load_yaml("version: 1\nname: fixture\nswarm:\n  services:\n    fixture-s:\n"
				   "      image: berth-test/busybox:latest\n      command: [sleep, '3600']\n"
				   "      stop_grace_period: 1s\n"
				   "      deploy: {replicas: 2, restart_policy: {delay: 100ms}, update_config: {parallelism: 1, "
				   "monitor: 2s, failure_action: rollback}}\n");
	spec_free(converge_fixture("rolled-back", &st, 0));
	p = make_plan(reverted, &st, NULL, &err);
	assert_null(err);
	assert_int_equal(plan_count(p), 0);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(reverted);
}

/* The engine's UpdateStatus alone, on a service whose tasks are fine: every state. */
static void test_update_states(void **state)
{
	(void)state;
	static const struct {
		const char *state, *reason;
		bool resubmit;
	} cases[] = {
		{"completed", NULL, false},
		{"updating", "update in progress", false},
		{"paused", "update paused: M", true},
		{"rollback_started", "rollback in progress: M", true},
		{"rollback_paused", "rollback paused: M", true},
		{"rollback_completed", NULL, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		swarm_state st;
		json_t *doc = fixture("converge-after-apply.json");
		json_object_set_new(json_array_get(json_object_get(doc, "services"), 0), "UpdateStatus",
				    json_pack("{s:s, s:s}", "State", cases[i].state, "Message", "M"));
		state_from(&st, json_incref(json_object_get(doc, "services")), json_array(), json_array(), json_array());
		swarm_state_set_tasks(&st, json_object_get(doc, "tasks"), json_integer_value(json_object_get(doc, "observed_ms")));
		json_decref(doc);
		bool resubmit = true;
		char *why = swarm_service_unconverged(&st, swarm_find(&st, SWARM_SERVICE, "fixture-s"), &resubmit);
		if (cases[i].reason) {
			assert_non_null(why);
			assert_string_equal(why, cases[i].reason);
		} else {
			assert_null(why);
		}
		assert_int_equal(resubmit, cases[i].resubmit);
		free(why);
		swarm_state_free(&st);
	}
}

/* Without tasks observed (older callers, replays), only UpdateStatus is judged. */
static void test_without_tasks_only_update_status_counts(void **state)
{
	(void)state;
	json_t *doc = fixture("converge-create-crashing.json");
	swarm_state st;
	state_from(&st, json_incref(json_object_get(doc, "services")), json_array(), json_array(), json_array());
	json_decref(doc);
	bool resubmit;
	assert_null(swarm_service_unconverged(&st, swarm_find(&st, SWARM_SERVICE, "fixture-s"), &resubmit));
	swarm_state_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_applied_state_plans_nothing),
		cmocka_unit_test(test_create_from_empty_in_dependency_order),
		cmocka_unit_test(test_update_lists_field_changes),
		cmocka_unit_test(test_inherited_environment_plans_stably),
		cmocka_unit_test(test_published_range_to_one_target_plans_each_port),
		cmocka_unit_test(test_unowned_same_name_is_a_plan_error),
		cmocka_unit_test(test_mass_delete_is_refused),
		cmocka_unit_test(test_other_owners_objects_are_never_touched),
		cmocka_unit_test(test_secret_rotation),
		cmocka_unit_test(test_fingerprint_ignores_list_order),
		cmocka_unit_test(test_partial_update_config_sends_parallelism_and_plans_nothing),
		cmocka_unit_test(test_stored_zero_parallelism_is_a_change),
		cmocka_unit_test(test_update_config_defaults_in_the_view),
		cmocka_unit_test(test_converged_right_after_apply),
		cmocka_unit_test(test_tasks_just_started_are_not_yet_converged),
		cmocka_unit_test(test_update_in_progress_is_not_converged),
		cmocka_unit_test(test_paused_update_is_not_converged_and_resubmitted),
		cmocka_unit_test(test_paused_update_to_another_spec_is_a_normal_update),
		cmocka_unit_test(test_crashing_tasks_are_not_converged),
		cmocka_unit_test(test_stopped_rollout_is_not_converged_and_resubmitted),
		cmocka_unit_test(test_crash_loop_after_convergence_is_drift),
		cmocka_unit_test(test_replicas_zero_is_converged),
		cmocka_unit_test(test_pending_task_shows_why),
		cmocka_unit_test(test_rolled_back_update),
		cmocka_unit_test(test_update_states),
		cmocka_unit_test(test_without_tasks_only_update_status_counts),
	};
	return cmocka_run_group_tests_name("swarm planner", tests, NULL, NULL);
}
