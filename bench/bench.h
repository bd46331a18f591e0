/* Shared by the benchmark programs (each is built from one .c file): reading a file, a clock,
 * medians, and libyaml's bare event loop, the baseline berth's parser is compared against. */
#ifndef BERTH_BENCH_H
#define BERTH_BENCH_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static char *bench_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fputs("bench: out of memory\n", stderr);
			exit(2);
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	if (ferror(f)) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	*len = n;
	return buf;
}

static double bench_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v in place. */
static double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parses buf with libyaml, deleting each event: the least any libyaml-based loader must do.
 * Returns the number of events, or -1 on a syntax error. */
static long bench_yaml_events(const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	long events = 0;
	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			fprintf(stderr, "bench: libyaml: %s at line %zu\n", p.problem ? p.problem : "error",
				p.problem_mark.line + 1);
			events = -1;
			break;
		}
		events++;
		yaml_event_type_t t = ev.type;
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return events;
}

#endif
