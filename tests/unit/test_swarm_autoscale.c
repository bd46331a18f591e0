/* Autoscaling in the swarm provider, without a server: the container stats formula (answers as
 * the Engine API documents them, cgroup v1 and v2), Prometheus query API answers (as Prometheus
 * documents them), and the diff of an autoscaled service: the decision becomes its replicas and
 * labels, the step says why, a hold is a note, a restart reads the last change back. */
#include <stdlib.h>

#include "testutil.h"
#include "autoscale/autoscale.h"
#include "core/plan.h"
#include "providers/common/engine_stats.h"
#include "providers/swarm/swarm.h"
#include "providers/swarm/swarm_prom.h"
#include "providers/swarm/swarm_step.h"

static json_t *j(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	if (!v)
		fail_msg("bad JSON in the test: %s", e.text);
	return v;
}

static void test_stats_formula(void **state)
{
	(void)state;
	/* The Engine API's example numbers: 4 CPUs, cgroup v1 page cache. */
	json_t *v1 = j("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":100215355},\"system_cpu_usage\":739306590000000,"
		       "\"online_cpus\":4},\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100093996},"
		       "\"system_cpu_usage\":9492140000000,\"online_cpus\":4},"
		       "\"memory_stats\":{\"usage\":6537216,\"stats\":{\"total_inactive_file\":1537216}}}");
	double cpus, mem;
	bool has_mem;
	assert_true(engine_stats_usage(v1, &cpus, &mem, &has_mem));
	assert_true(has_mem);
	assert_true(mem == 5000000);
	double want = (100215355.0 - 100093996.0) / (739306590000000.0 - 9492140000000.0) * 4;
	assert_true(cpus > want * 0.999 && cpus < want * 1.001);
	json_decref(v1);
	/* cgroup v2: no percpu_usage, inactive_file; one CPU busy of two. */
	json_t *v2 = j("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":3000000000},\"system_cpu_usage\":4000000000,"
		       "\"online_cpus\":2},\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":2000000000},"
		       "\"system_cpu_usage\":2000000000},"
		       "\"memory_stats\":{\"usage\":1000,\"stats\":{\"inactive_file\":200}}}");
	assert_true(engine_stats_usage(v2, &cpus, &mem, &has_mem));
	assert_true(cpus > 0.999 && cpus < 1.001);
	assert_true(mem == 800);
	json_decref(v2);
	/* Older engines: the number of CPUs from percpu_usage. */
	json_t *old = j("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":200,\"percpu_usage\":[1,1,1,1]},"
			"\"system_cpu_usage\":2000},\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":100},"
			"\"system_cpu_usage\":1000},\"memory_stats\":{}}");
	assert_true(engine_stats_usage(old, &cpus, &mem, &has_mem));
	assert_false(has_mem);
	assert_true(cpus > 0.399 && cpus < 0.401);
	json_decref(old);
	/* A container's first read: precpu_stats is empty, so there is no CPU figure yet. */
	json_t *first = j("{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":200},\"system_cpu_usage\":2000,\"online_cpus\":1},"
			  "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0}},\"memory_stats\":{\"usage\":10}}");
	assert_false(engine_stats_usage(first, &cpus, &mem, &has_mem));
	assert_true(has_mem && mem == 10);
	json_decref(first);
}

static void test_prometheus_answers(void **state)
{
	(void)state;
	double t;
	char *err = NULL;
	/* The documented instant vector answer. */
	assert_true(swarm_prom_total("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
				     "{\"metric\":{\"__name__\":\"up\",\"job\":\"prometheus\",\"instance\":\"localhost:9090\"},"
				     "\"value\":[1435781451.781,\"1\"]},"
				     "{\"metric\":{\"__name__\":\"up\",\"job\":\"node\",\"instance\":\"localhost:9100\"},"
				     "\"value\":[1435781451.781,\"0.5\"]}]}}",
				     &t, &err));
	assert_true(t == 1.5);
	assert_true(swarm_prom_total("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1435781451.781,\"230\"]}}",
				     &t, &err));
	assert_true(t == 230);
	/* No series matched: nothing is going on, a total of 0. */
	assert_true(swarm_prom_total("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", &t, &err));
	assert_true(t == 0);
	/* Failures say why. */
	static const struct {
		const char *body, *want;
	} bad[] = {
		{"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error at char 4\"}",
		 "Prometheus: bad_data: parse error at char 4"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"NaN\"]}]}}",
		 "not a finite number"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}", "gives a matrix"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"+Inf\"]}}", "not a finite number"},
		{"<html>not found</html>", "not a Prometheus query API answer"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_false(swarm_prom_total(bad[i].body, &t, &err));
		assert_non_null(err);
		if (!strstr(err, bad[i].want))
			fail_msg("answer %zu: '%s' lacks '%s'", i, err, bad[i].want);
		free(err);
	}
}

/* ---- the diff ---- */

static spec *load(const char *text)
{
	spec *s = load_text(text, NULL);
	assert_non_null(s);
	return s;
}

static const char *spec_text = "version: 1\nname: demo\nswarm:\n  services:\n    web:\n      image: nginx\n"
			       "      deploy:\n        resources: {limits: {cpus: \"0.5\"}}\n"
			       "        autoscale: {min: 1, max: 10, cpu_percent: 70, cooldown: 3m}\n";

/* The service as berth would have made it, with `replicas` and the given labels, observed at now. */
static void observed(const spec *s, swarm_state *st, long long replicas, const char *at, long long now_ms)
{
	json_t *desired = swarm_service_spec(spec_model(s), &spec_model(s)->swarm.services[0], NULL, NULL);
	json_object_set_new(desired, "Mode", json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)replicas));
	if (at) {
		json_t *labels = json_object_get(desired, "Labels");
		json_object_set_new(labels, AUTOSCALE_LABEL_AT, json_string(at));
	}
	json_t *lists[SWARM_KINDS] = {json_pack("[{s:s,s:{s:i},s:o}]", "ID", "svc1", "Version", "Index", 7, "Spec", desired),
				      json_array(), json_array(), json_array()};
	swarm_state_from_json(lists, st);
	for (int i = 0; i < SWARM_KINDS; i++)
		json_decref(lists[i]);
	st->observed_ms = now_ms;
}

static void add_task(swarm_state *st, double cpus)
{
	st->usage = realloc(st->usage, (st->n_usage + 1) * sizeof(*st->usage));
	st->usage[st->n_usage++] = (swarm_usage){.service_id = strdup("svc1"), .running = true, .ready = true,
						 .has_value = true, .cpus = cpus};
}

static plan *diff(const spec *s, const swarm_state *st)
{
	plan *p = plan_new();
	plan_set_owner(p, 0, swarm_step_free);
	char *err = NULL;
	assert_int_equal(swarm_plan(spec_model(s), st, NULL, p, &err), 0);
	return p;
}

static void test_diff_scales_out_with_its_reason_and_labels(void **state)
{
	(void)state;
	spec *s = load(spec_text);
	swarm_state st;
	observed(s, &st, 2, NULL, 1000000);
	add_task(&st, 0.7); /* 140% of 0.5 CPU */
	add_task(&st, 0.7);
	plan *p = diff(s, &st);
	assert_int_equal(plan_count(p), 1);
	const plan_step *step = plan_step_at(p, 0);
	assert_string_equal(plan_step_reason(step),
			    "autoscale up: cpu 140% of target 70% over 2 tasks: ceil(2 x 140/70) = 4");
	swarm_step *payload = plan_step_payload(step);
	json_t *labels = json_object_get(payload->body, "Labels");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(payload->body, "Mode"),
									    "Replicated"),
							    "Replicas")),
			 4);
	assert_string_equal(json_string_value(json_object_get(labels, AUTOSCALE_LABEL_REPLICAS)), "4");
	assert_string_equal(json_string_value(json_object_get(labels, AUTOSCALE_LABEL_AT)), "1000");
	assert_non_null(strstr(json_string_value(json_object_get(labels, AUTOSCALE_LABEL_REASON)), "ceil(2 x 140/70) = 4"));
	assert_string_equal(json_string_value(json_object_get(labels, "berth.owner")), "demo");
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_diff_hold_is_a_note_and_the_cooldown_survives_a_restart(void **state)
{
	(void)state;
	spec *s = load(spec_text);
	swarm_state st;
	/* Scaled out to 4 at t=1000 s (the label); now t=1060 s, the load gone: held 2 more minutes. */
	observed(s, &st, 4, "1000", 1060000);
	for (int i = 0; i < 4; i++)
		add_task(&st, 0.01);
	plan *p = diff(s, &st);
	assert_int_equal(plan_count(p), 0);
	assert_int_equal(plan_n_notes(p), 1);
	assert_non_null(strstr(plan_note(p, 0), "service web: autoscale keeps 4 replicas: cpu 2% of target 70% over 4 tasks"));
	assert_non_null(strstr(plan_note(p, 0), "scale-in held by the cooldown for 2m00s more"));
	plan_free(p);
	swarm_state_free(&st);
	/* At t=1180 s it scales in. */
	observed(s, &st, 4, "1000", 1180000);
	for (int i = 0; i < 4; i++)
		add_task(&st, 0.01);
	p = diff(s, &st);
	assert_int_equal(plan_count(p), 1);
	assert_string_equal(plan_step_reason(plan_step_at(p, 0)),
			    "autoscale down: cpu 2% of target 70% over 4 tasks: ceil(4 x 2/70) = 1");
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_diff_no_metrics_holds_and_a_new_service_starts_at_min(void **state)
{
	(void)state;
	spec *s = load("version: 1\nname: demo\nswarm:\n  services:\n    web:\n      image: nginx\n"
			    "      deploy:\n        resources: {limits: {cpus: \"0.5\"}}\n"
			    "        autoscale: {min: 3, max: 10, cpu_percent: 70}\n");
	swarm_state st;
	observed(s, &st, 3, NULL, 5000);
	plan *p = diff(s, &st);
	assert_int_equal(plan_count(p), 0);
	assert_non_null(strstr(plan_note(p, 0), "no metrics"));
	plan_free(p);
	swarm_state_free(&st);
	json_t *lists[SWARM_KINDS] = {json_array(), json_array(), json_array(), json_array()};
	swarm_state_from_json(lists, &st);
	for (int i = 0; i < SWARM_KINDS; i++)
		json_decref(lists[i]);
	p = diff(s, &st);
	assert_int_equal(plan_count(p), 1);
	swarm_step *payload = plan_step_payload(plan_step_at(p, 0));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(payload->body, "Mode"),
									    "Replicated"),
							    "Replicas")),
			 3);
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

static void test_diff_memory_of_the_reservation_and_a_task_without_figures(void **state)
{
	(void)state;
	/* The reservation is the base when there is one (as Kubernetes' requests), not the limit. */
	spec *s = load("version: 1\nname: demo\nswarm:\n  services:\n    web:\n      image: nginx\n"
		       "      deploy:\n        resources: {limits: {memory: 400m}, reservations: {memory: 100m}}\n"
		       "        autoscale: {max: 10, memory_percent: 80}\n");
	swarm_state st;
	observed(s, &st, 2, NULL, 1000000);
	add_task(&st, 0);
	add_task(&st, 0);
	st.usage[0].has_memory = true;
	st.usage[0].memory = 160.0 * 1024 * 1024; /* 160% of 100m */
	st.usage[1].has_memory = false;           /* counted as missing: 0% when scaling out */
	plan *p = diff(s, &st);
	assert_int_equal(plan_count(p), 0);
	assert_non_null(strstr(plan_note(p, 0), "memory 160% of target 80% over 1 task, 80% over 2 with 1 without a value "
						  "counted as 0%: no clear change, stays 2"));
	plan_free(p);
	st.usage[1].has_memory = true;
	st.usage[1].memory = 160.0 * 1024 * 1024;
	p = diff(s, &st);
	assert_int_equal(plan_count(p), 1);
	assert_string_equal(plan_step_reason(plan_step_at(p, 0)),
			    "autoscale up: memory 160% of target 80% over 2 tasks: ceil(2 x 160/80) = 4");
	plan_free(p);
	swarm_state_free(&st);
	spec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_formula),
		cmocka_unit_test(test_prometheus_answers),
		cmocka_unit_test(test_diff_scales_out_with_its_reason_and_labels),
		cmocka_unit_test(test_diff_hold_is_a_note_and_the_cooldown_survives_a_restart),
		cmocka_unit_test(test_diff_no_metrics_holds_and_a_new_service_starts_at_min),
		cmocka_unit_test(test_diff_memory_of_the_reservation_and_a_task_without_figures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
