/* Metrics as Prometheus counts them: families (counter, gauge, histogram) of series told apart by
 * their labels, updated from any thread, rendered in the text exposition format (version 0.0.4)
 * for GET /metrics. No I/O here: the server renders, the run loop and the engine count.
 *
 * Labels are given already formatted, e.g. `result="success"` (berth_metrics_label escapes a
 * value); a series exists from its first update. Families are few and series per family small,
 * so lookups are linear. Values never carry secrets: callers label by kind, never by content. */
#ifndef BERTH_METRICS_H
#define BERTH_METRICS_H
#include <stddef.h>

typedef struct berth_metrics berth_metrics;

typedef enum { BERTH_COUNTER, BERTH_GAUGE, BERTH_HISTOGRAM } berth_metric_type;

berth_metrics *berth_metrics_new(void);
void berth_metrics_free(berth_metrics *m);

/* Declares a family (its HELP and TYPE lines). buckets (ascending, may be NULL for the default
 * 0.005 ... 10 s set) only for histograms. A family is declared once; updating an undeclared
 * name declares it as a counter or gauge with empty help. */
void berth_metrics_declare(berth_metrics *m, const char *name, berth_metric_type type, const char *help,
			   const double *buckets, size_t n_buckets);

void berth_metrics_add(berth_metrics *m, const char *name, const char *labels, double v);     /* counter += v */
void berth_metrics_set(berth_metrics *m, const char *name, const char *labels, double v);     /* gauge = v */
void berth_metrics_observe(berth_metrics *m, const char *name, const char *labels, double v); /* histogram */
/* Drops every series of a family (for info metrics whose label changes, as a revision). */
void berth_metrics_reset(berth_metrics *m, const char *name);
/* The current value of a counter or gauge series; 0 if it does not exist (for tests and status). */
double berth_metrics_get(const berth_metrics *m, const char *name, const char *labels);

/* `key="value"` with the value escaped as the format wants (\\, \", \n); malloc'd. */
char *berth_metrics_label(const char *key, const char *value);

/* Every family in declaration order, in the text format (malloc'd). */
char *berth_metrics_render(const berth_metrics *m);

#endif
