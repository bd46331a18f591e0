/* bench/reconcile_loop SPEC N: N reconciles (plan mode) of SPEC with one engine, as berth run makes
 * them, against the real Docker engine. Prints "KEY VALUE" lines: the resident set after the first
 * 10% and after all of them (growth means a leak or an unbounded cache), and the median time of a
 * reconcile in the first and the last tenth. Built with SANITIZE=1, LeakSanitizer checks at exit
 * that nothing was lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/berth.h"
#include "spec/spec.h"

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n ? v[n / 2] : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: reconcile_loop SPEC N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	spec_diags *d = spec_diags_new();
	spec_options so = {0};
	spec *s = spec_load(argv[1], &so, d);
	spec_diags_print(d, stderr);
	spec_diags_free(d);
	if (!s || n < 10)
		return 2;
	berth_engine *e = berth_engine_new(NULL);
	double *t = calloc((size_t)n, sizeof(double));
	long rss_early = 0;
	for (int i = 0; i < n; i++) {
		berth_reconcile_options o = {.mode = BERTH_MODE_PLAN};
		berth_result r;
		berth_error err = {0};
		double t0 = now_s();
		int rc = berth_reconcile(e, spec_model(s), &o, &r, &err);
		t[i] = now_s() - t0;
		if (rc != 0) {
			fprintf(stderr, "reconcile %d: %s\n", i, err.message);
			return 1;
		}
		berth_result_free(&r);
		if (i == n / 10)
			rss_early = rss_kib();
	}
	long rss_late = rss_kib();
	size_t tenth = (size_t)n / 10;
	printf("reconciles %d\n", n);
	printf("rss_after_first_tenth_kib %ld\n", rss_early);
	printf("rss_after_all_kib %ld\n", rss_late);
	printf("rss_growth_kib %ld\n", rss_late - rss_early);
	printf("median_ms_first_tenth %.2f\n", 1000 * median(t, tenth));
	printf("median_ms_last_tenth %.2f\n", 1000 * median(t + n - tenth, tenth));
	free(t);
	berth_engine_free(e);
	spec_free(s);
	return 0;
}
