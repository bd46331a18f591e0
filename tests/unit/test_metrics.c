/* core/metrics: the Prometheus text format, counters, gauges, histograms, label escaping. */
#include "testutil.h"
#include "core/metrics.h"

static void test_render_counter_gauge_histogram(void **state)
{
	(void)state;
	berth_metrics *m = berth_metrics_new();
	berth_metrics_declare(m, "berth_reconcile_total", BERTH_COUNTER, "Reconciles by result.", NULL, 0);
	static const double b[] = {0.1, 1};
	berth_metrics_declare(m, "berth_reconcile_duration_seconds", BERTH_HISTOGRAM, "How long a reconcile took.", b, 2);
	berth_metrics_declare(m, "berth_up", BERTH_GAUGE, "1 while the loop runs.", NULL, 0);
	berth_metrics_add(m, "berth_reconcile_total", "result=\"success\"", 1);
	berth_metrics_add(m, "berth_reconcile_total", "result=\"success\"", 2);
	berth_metrics_add(m, "berth_reconcile_total", "result=\"failure\"", 1);
	berth_metrics_observe(m, "berth_reconcile_duration_seconds", NULL, 0.05);
	berth_metrics_observe(m, "berth_reconcile_duration_seconds", NULL, 0.5);
	berth_metrics_observe(m, "berth_reconcile_duration_seconds", NULL, 7);
	berth_metrics_set(m, "berth_up", NULL, 1);
	char *text = berth_metrics_render(m);
	assert_string_equal(text, "# HELP berth_reconcile_total Reconciles by result.\n"
				  "# TYPE berth_reconcile_total counter\n"
				  "berth_reconcile_total{result=\"success\"} 3\n"
				  "berth_reconcile_total{result=\"failure\"} 1\n"
				  "# HELP berth_reconcile_duration_seconds How long a reconcile took.\n"
				  "# TYPE berth_reconcile_duration_seconds histogram\n"
				  "berth_reconcile_duration_seconds_bucket{le=\"0.1\"} 1\n"
				  "berth_reconcile_duration_seconds_bucket{le=\"1\"} 2\n"
				  "berth_reconcile_duration_seconds_bucket{le=\"+Inf\"} 3\n"
				  "berth_reconcile_duration_seconds_sum 7.55\n"
				  "berth_reconcile_duration_seconds_count 3\n"
				  "# HELP berth_up 1 while the loop runs.\n"
				  "# TYPE berth_up gauge\n"
				  "berth_up 1\n");
	free(text);
	assert_true(berth_metrics_get(m, "berth_reconcile_total", "result=\"success\"") == 3);
	assert_true(berth_metrics_get(m, "berth_reconcile_total", "result=\"nope\"") == 0);
	berth_metrics_free(m);
}

static void test_labels_escaped_and_reset(void **state)
{
	(void)state;
	berth_metrics *m = berth_metrics_new();
	char *l = berth_metrics_label("revision", "a\"b\\c\nd");
	assert_string_equal(l, "revision=\"a\\\"b\\\\c\\nd\"");
	berth_metrics_set(m, "berth_source_revision_info", l, 1);
	free(l);
	berth_metrics_reset(m, "berth_source_revision_info");
	berth_metrics_set(m, "berth_source_revision_info", "revision=\"abc\"", 1);
	char *text = berth_metrics_render(m);
	assert_string_equal(text, "# TYPE berth_source_revision_info gauge\nberth_source_revision_info{revision=\"abc\"} 1\n");
	free(text);
	berth_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_counter_gauge_histogram),
		cmocka_unit_test(test_labels_escaped_and_reset),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
