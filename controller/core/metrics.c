#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

typedef struct {
	char *labels;
	double value;       /* counter, gauge; histogram: sum */
	unsigned long long count; /* histogram */
	unsigned long long *buckets; /* histogram: cumulative counts are made at render time */
} series;

typedef struct {
	char *name, *help;
	berth_metric_type type;
	double *bounds;
	size_t n_bounds;
	series *s;
	size_t n, cap;
} family;

struct berth_metrics {
	pthread_mutex_t mu;
	family *f;
	size_t n, cap;
};

berth_metrics *berth_metrics_new(void)
{
	berth_metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	return m;
}

static void series_clear(family *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->s[i].labels);
		free(f->s[i].buckets);
	}
	f->n = 0;
}

void berth_metrics_free(berth_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		series_clear(&m->f[i]);
		free(m->f[i].s);
		free(m->f[i].name);
		free(m->f[i].help);
		free(m->f[i].bounds);
	}
	free(m->f);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static family *find_family(const berth_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->f[i].name, name))
			return &m->f[i];
	return NULL;
}

static family *declare_locked(berth_metrics *m, const char *name, berth_metric_type type, const char *help,
			      const double *buckets, size_t n_buckets)
{
	family *f = find_family(m, name);
	if (f)
		return f;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->f = xrealloc(m->f, m->cap * sizeof(*m->f));
	}
	f = &m->f[m->n++];
	memset(f, 0, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	if (type == BERTH_HISTOGRAM) {
		if (!buckets) {
			buckets = default_buckets;
			n_buckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
		}
		f->bounds = xcalloc(n_buckets, sizeof(double));
		memcpy(f->bounds, buckets, n_buckets * sizeof(double));
		f->n_bounds = n_buckets;
	}
	return f;
}

void berth_metrics_declare(berth_metrics *m, const char *name, berth_metric_type type, const char *help,
			   const double *buckets, size_t n_buckets)
{
	pthread_mutex_lock(&m->mu);
	declare_locked(m, name, type, help, buckets, n_buckets);
	pthread_mutex_unlock(&m->mu);
}

static series *find_series(family *f, const char *labels)
{
	const char *l = labels ? labels : "";
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->s[i].labels, l))
			return &f->s[i];
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 4;
		f->s = xrealloc(f->s, f->cap * sizeof(*f->s));
	}
	series *s = &f->s[f->n++];
	memset(s, 0, sizeof(*s));
	s->labels = xstrdup(l);
	if (f->type == BERTH_HISTOGRAM)
		s->buckets = xcalloc(f->n_bounds, sizeof(*s->buckets));
	return s;
}

static void update(berth_metrics *m, const char *name, berth_metric_type type, const char *labels, double v, int op)
{
	pthread_mutex_lock(&m->mu);
	family *f = declare_locked(m, name, type, "", NULL, 0);
	series *s = find_series(f, labels);
	if (f->type == BERTH_HISTOGRAM) {
		s->value += v;
		s->count++;
		for (size_t i = 0; i < f->n_bounds; i++)
			if (v <= f->bounds[i]) {
				s->buckets[i]++;
				break;
			}
	} else if (op == 0) {
		s->value += v;
	} else {
		s->value = v;
	}
	pthread_mutex_unlock(&m->mu);
}

void berth_metrics_add(berth_metrics *m, const char *name, const char *labels, double v)
{
	update(m, name, BERTH_COUNTER, labels, v, 0);
}

void berth_metrics_set(berth_metrics *m, const char *name, const char *labels, double v)
{
	update(m, name, BERTH_GAUGE, labels, v, 1);
}

void berth_metrics_observe(berth_metrics *m, const char *name, const char *labels, double v)
{
	update(m, name, BERTH_HISTOGRAM, labels, v, 0);
}

void berth_metrics_reset(berth_metrics *m, const char *name)
{
	pthread_mutex_lock(&m->mu);
	family *f = find_family(m, name);
	if (f)
		series_clear(f);
	pthread_mutex_unlock(&m->mu);
}

double berth_metrics_get(const berth_metrics *cm, const char *name, const char *labels)
{
	berth_metrics *m = (berth_metrics *)cm;
	double v = 0;
	pthread_mutex_lock(&m->mu);
	family *f = find_family(m, name);
	const char *l = labels ? labels : "";
	for (size_t i = 0; f && i < f->n; i++)
		if (!strcmp(f->s[i].labels, l))
			v = f->type == BERTH_HISTOGRAM ? (double)f->s[i].count : f->s[i].value;
	pthread_mutex_unlock(&m->mu);
	return v;
}

char *berth_metrics_label(const char *key, const char *value)
{
	size_t n = strlen(value ? value : "");
	char *esc = xmalloc(2 * n + 1), *o = esc;
	for (const char *p = value ? value : ""; *p; p++) {
		if (*p == '\\' || *p == '"') {
			*o++ = '\\';
			*o++ = *p;
		} else if (*p == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	char *out = xasprintf("%s=\"%s\"", key, esc);
	free(esc);
	return out;
}

/* Prometheus wants Go's float formatting: integers without a fraction, +Inf spelled out. */
static void number(FILE *out, double v)
{
	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.9g", v);
}

static void sample(FILE *out, const char *name, const char *suffix, const char *labels, const char *extra, double v)
{
	bool any = (labels && *labels) || (extra && *extra);
	fprintf(out, "%s%s%s%s%s%s%s ", name, suffix, any ? "{" : "", labels ? labels : "",
		labels && *labels && extra && *extra ? "," : "", extra ? extra : "", any ? "}" : "");
	number(out, v);
	fputc('\n', out);
}

char *berth_metrics_render(const berth_metrics *cm)
{
	berth_metrics *m = (berth_metrics *)cm;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		abort();
	static const char *const types[] = {"counter", "gauge", "histogram"};
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n; i++) {
		family *f = &m->f[i];
		if (f->help && *f->help)
			fprintf(out, "# HELP %s %s\n", f->name, f->help);
		fprintf(out, "# TYPE %s %s\n", f->name, types[f->type]);
		for (size_t k = 0; k < f->n; k++) {
			series *s = &f->s[k];
			if (f->type != BERTH_HISTOGRAM) {
				sample(out, f->name, "", s->labels, NULL, s->value);
				continue;
			}
			unsigned long long cum = 0;
			for (size_t b = 0; b < f->n_bounds; b++) {
				cum += s->buckets[b];
				char le[64];
				snprintf(le, sizeof(le), "le=\"%.9g\"", f->bounds[b]);
				sample(out, f->name, "_bucket", s->labels, le, (double)cum);
			}
			sample(out, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
			sample(out, f->name, "_sum", s->labels, NULL, s->value);
			sample(out, f->name, "_count", s->labels, NULL, (double)s->count);
		}
	}
	pthread_mutex_unlock(&m->mu);
	fclose(out);
	return text;
}
