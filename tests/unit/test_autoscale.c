/* autoscale/: the decision as a table of cases (current replicas, samples, target, last
 * change, now) -> (replicas, direction, the explanation or a part of it). The samples are
 * written as words: "140" a ready task at 140% (of its reservation or limit), "-" a ready task
 * with no value, "s" a starting task, "s50" a starting task that already reports 50%. The
 * Kubernetes cases are from its documented algorithm (missing metrics, not-ready pods, the
 * tolerance band, min/max, several metrics). */
#include "testutil.h"
#include "autoscale/autoscale.h"

#include <stdlib.h>
#include <string.h>

/* The table leaves out the fields a case does not use (zero). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define S 1000000000LL
#define MAX_SAMPLES 32

typedef struct metric_case {
	const char *name;   /* NULL: no such metric */
	double target;
	const char *samples; /* words, as above; NULL with a total */
	bool is_total, total_ok;
	double total;
} metric_case;

typedef struct tcase {
	const char *what;
	int64_t current, min, max;
	double tolerance;
	int64_t cooldown_s, last_s, now_s; /* last_s < 0: no change recorded */
	metric_case m[2];
	int64_t want;
	autoscale_direction dir;
	const char *reason; /* a substring of the explanation */
	int64_t want_wait_s;
} tcase;

static size_t parse_samples(const char *words, autoscale_sample *out)
{
	size_t n = 0;
	char *dup = strdup(words), *save = NULL;
	for (char *w = strtok_r(dup, " ", &save); w && n < MAX_SAMPLES; w = strtok_r(NULL, " ", &save)) {
		autoscale_sample s = {.ready = true, .has_value = true};
		if (*w == 's') {
			s.ready = false;
			w++;
			s.has_value = *w != '\0';
		}
		if (!strcmp(w, "-"))
			s.has_value = false;
		else if (s.has_value)
			s.value = atof(w);
		out[n++] = s;
	}
	free(dup);
	return n;
}

static const tcase cases[] = {
	/* The rule. */
	{"scale out: ceil(2 x 140/70)", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "140 140"}}, 4, AUTOSCALE_UP,
	 "cpu 140% of target 70% over 2 tasks: ceil(2 x 140/70) = 4"},
	{"scale in: ceil(4 x 20/70)", 4, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "20 20 20 20"}}, 2, AUTOSCALE_DOWN,
	 "ceil(4 x 20/70) = 2"},
	{"a whole result is not rounded up: 3 x 70/70", 3, 1, 10, 0.0, 180, -1, 1000, {{"cpu", 70, "70 70 70"}}, 3,
	 AUTOSCALE_HOLD, "within tolerance 0%"},
	/* The tolerance band: |ratio - 1| <= 0.1. */
	{"tolerance: 77% of 70% is 1.1, inside", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "77 77"}}, 2, AUTOSCALE_HOLD,
	 "cpu 77% of target 70% over 2 tasks: within tolerance 10%, stays 2"},
	{"tolerance: 63% of 70% is 0.9, inside", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "63 63"}}, 2, AUTOSCALE_HOLD,
	 "within tolerance"},
	{"tolerance: 78% of 70% is outside", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "78 78"}}, 3, AUTOSCALE_UP,
	 "ceil(2 x 78/70) = 3"},
	{"tolerance configurable: 5%", 2, 1, 10, 0.05, 180, -1, 1000, {{"cpu", 70, "77 77"}}, 3, AUTOSCALE_UP, "= 3"},
	/* min and max. */
	{"clamped to max", 4, 1, 6, 0.1, 180, -1, 1000, {{"cpu", 10, "90 90 90 90"}}, 6, AUTOSCALE_UP,
	 "clamped to max 6"},
	{"clamped to min", 4, 2, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "1 1 1 1"}}, 2, AUTOSCALE_DOWN, "clamped to min 2"},
	{"above max (max lowered in the spec): to max, no metric needed", 8, 1, 5, 0.1, 180, 990, 1000, {{"cpu", 70, NULL}},
	 5, AUTOSCALE_DOWN, "8 replicas is above max 5"},
	{"below min: to min", 1, 3, 5, 0.1, 180, 990, 1000, {{"cpu", 70, "1"}}, 3, AUTOSCALE_UP, "1 replicas is below min 3"},
	{"scaled to zero by hand: not autoscaled", 0, 1, 5, 0.1, 180, -1, 1000, {{"cpu", 70, ""}}, 0, AUTOSCALE_HOLD,
	 "scaled to zero by hand"},
	/* Kubernetes' default scale-up limit. */
	{"at most double or +4 at once", 10, 1, 100, 0.1, 180, -1, 1000,
	 {{"cpu", 10, "100 100 100 100 100 100 100 100 100 100"}}, 20, AUTOSCALE_UP, "limited to 20"},
	{"+4 for a small service", 1, 1, 100, 0.1, 180, -1, 1000, {{"cpu", 10, "100"}}, 5, AUTOSCALE_UP, "limited to 5"},
	/* Missing metrics: as the target when scaling in, as 0 when scaling out. */
	{"missing, scale out: counted as 0", 3, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "150 150 -"}}, 6, AUTOSCALE_UP,
	 "cpu 100% of target 50% over 3 tasks with 1 without a value counted as 0%: ceil(3 x 100/50) = 6"},
	{"missing, scale in: counted as the target", 4, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "10 10 - -"}}, 3,
	 AUTOSCALE_DOWN, "2 without a value counted as 50%: ceil(4 x 30/50) = 3"},
	{"missing makes it a hold: recount inside the band", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "110 -"}}, 2,
	 AUTOSCALE_HOLD, "no clear change, stays 2"},
	{"missing flips the direction: hold", 3, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "60 - -"}}, 3, AUTOSCALE_HOLD,
	 "no clear change"},
	{"no value at all: no metric, hold", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "- -"}}, 2, AUTOSCALE_HOLD,
	 "no metrics (cpu: no task has a sample yet (0 starting, 2 without a value)): stays 2"},
	/* Starting (not-ready) tasks: 0 when scaling out, left out when scaling in. */
	{"starting, scale out: counted as 0", 3, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "100 100 s"}}, 4, AUTOSCALE_UP,
	 "cpu 66.67% of target 50% over 3 tasks with 1 starting counted as 0%: ceil(3 x 66.67/50) = 4"},
	{"starting with a value is still starting", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "100 s300"}}, 2,
	 AUTOSCALE_HOLD, "1 starting counted as 0%: no clear change"},
	{"starting, scale in: left out", 3, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "10 10 s"}}, 1, AUTOSCALE_DOWN,
	 "cpu 10% of target 50% over 2 tasks: ceil(2 x 10/50) = 1"},
	{"only starting tasks: no metric", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 50, "s s"}}, 2, AUTOSCALE_HOLD,
	 "no task has a sample yet (2 starting"},
	/* Several metrics: the largest recommendation. */
	{"cpu and memory: the larger", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "35 35"}, {"memory", 80, "160 160"}}, 4,
	 AUTOSCALE_UP, "memory 160% of target 80% over 2 tasks: ceil(2 x 160/80) = 4"},
	{"one metric missing, the other decides", 2, 1, 10, 0.1, 180, -1, 1000, {{"cpu", 70, "- -"}, {"memory", 80, "20 20"}},
	 1, AUTOSCALE_DOWN, "memory 20%"},
	/* Scale-in cooldown, scale-out stabilisation. */
	{"scale-in held by the cooldown", 4, 1, 10, 0.1, 180, 1000, 1060, {{"cpu", 70, "10 10 10 10"}}, 4, AUTOSCALE_HOLD,
	 "scale-in held by the cooldown for 2m00s more, stays 4", 120},
	{"scale-in after the cooldown", 4, 1, 10, 0.1, 180, 1000, 1180, {{"cpu", 70, "10 10 10 10"}}, 1, AUTOSCALE_DOWN,
	 "ceil(4 x 10/70) = 1"},
	{"scale-out not held by the cooldown", 2, 1, 10, 0.1, 180, 1000, 1031, {{"cpu", 70, "140 140"}}, 4, AUTOSCALE_UP,
	 "= 4"},
	{"scale-out stabilisation right after a change", 2, 1, 10, 0.1, 180, 1000, 1010, {{"cpu", 70, "140 140"}}, 2,
	 AUTOSCALE_HOLD, "scale-out held for 20s more while the last change starts, stays 2", 20},
	/* A total (Prometheus): desired = ceil(total / target). */
	{"total: ceil(230/50)", 2, 1, 10, 0.1, 180, -1, 1000, {{"prometheus", 50, NULL, true, true, 230}}, 5, AUTOSCALE_UP,
	 "prometheus 115 per task (230 over 2 tasks) of target 50: ceil(230/50) = 5"},
	{"total: within tolerance", 2, 1, 10, 0.1, 180, -1, 1000, {{"prometheus", 50, NULL, true, true, 105}}, 2,
	 AUTOSCALE_HOLD, "within tolerance"},
	{"total: zero scales in to min", 3, 2, 10, 0.1, 180, -1, 1000, {{"prometheus", 50, NULL, true, true, 0}}, 2,
	 AUTOSCALE_DOWN, "clamped to min 2"},
	{"total: no value", 3, 1, 10, 0.1, 180, -1, 1000, {{"prometheus", 50, NULL, true, false, 0}}, 3, AUTOSCALE_HOLD,
	 "no metrics (prometheus: no value)"},
};

static void test_cases(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tcase *c = &cases[i];
		autoscale_sample samples[2][MAX_SAMPLES];
		autoscale_metric metrics[2];
		size_t n = 0;
		for (size_t k = 0; k < 2 && c->m[k].name; k++, n++) {
			const metric_case *mc = &c->m[k];
			metrics[k] = (autoscale_metric){.name = mc->name, .target = mc->target, .is_total = mc->is_total,
							.total_ok = mc->total_ok, .total = mc->total, .samples = samples[k]};
			metrics[k].n_samples = mc->samples ? parse_samples(mc->samples, samples[k]) : 0;
		}
		autoscale_input in = {.current = c->current, .min = c->min, .max = c->max, .tolerance = c->tolerance,
				      .cooldown_ns = c->cooldown_s * S, .last_at_ns = c->last_s < 0 ? -1 : c->last_s * S,
				      .now_ns = c->now_s * S, .metrics = metrics, .n_metrics = n};
		autoscale_decision d;
		autoscale_decide(&in, &d);
		bool ok = d.replicas == c->want && d.direction == c->dir && strstr(d.reason, c->reason) &&
			  (!c->want_wait_s || d.wait_ns == c->want_wait_s * S);
		if (!ok) {
			print_message("case '%s': got %lld %s wait %lld \"%s\"; want %lld %s \"...%s...\"\n", c->what,
				      (long long)d.replicas, autoscale_direction_name(d.direction), (long long)d.wait_ns,
				      d.reason, (long long)c->want, autoscale_direction_name(c->dir), c->reason);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_direction_names(void **state)
{
	(void)state;
	assert_string_equal(autoscale_direction_name(AUTOSCALE_UP), "up");
	assert_string_equal(autoscale_direction_name(AUTOSCALE_DOWN), "down");
	assert_string_equal(autoscale_direction_name(AUTOSCALE_HOLD), "hold");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_direction_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
