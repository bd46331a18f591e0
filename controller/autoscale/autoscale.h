/* Service autoscaling, the pure part: the replicas a service should have, from its current
 * replicas, per-task metric samples (or a service total), the last decision and the time. The
 * rule is Kubernetes' HPA: desired = ceil(current x metric / target) per metric, the largest
 * of them, no change within the tolerance band, never outside [min, max]. No I/O: the swarm
 * provider observes (container stats, a Prometheus query), asks autoscale_decide(), and
 * writes the decision on the service (replicas and the berth.autoscale.* labels), which is
 * all a restart needs to carry on. */
#ifndef BERTH_AUTOSCALE_H
#define BERTH_AUTOSCALE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Recorded on the service with each change (so a restart is level-triggered and drift
 * correction sees that replicas is the autoscaler's). */
#define AUTOSCALE_LABEL_REPLICAS "berth.autoscale.replicas"
#define AUTOSCALE_LABEL_AT "berth.autoscale.at"         /* unix seconds of the change */
#define AUTOSCALE_LABEL_REASON "berth.autoscale.reason" /* the explanation, as in the plan */

/* After a change, scale-out waits this long: the tasks just started have no CPU sample yet (a
 * first stats read has no previous one to diff against) and count as 0% for scale-out, so the
 * next decision would be made on the old tasks' load alone, and stack a second scale-out on
 * the first one's. Kubernetes waits for readiness the same way (its CPU initialization period). */
#define AUTOSCALE_UP_STABILISE_NS (30 * 1000000000LL)

typedef struct autoscale_sample {
	bool ready;     /* the task runs and has a full sample period (else it is starting) */
	bool has_value; /* a value could be read (a missing metric otherwise) */
	double value;   /* in the metric's unit: percent of the reservation/limit for cpu, memory */
} autoscale_sample;

typedef struct autoscale_metric {
	const char *name; /* "cpu", "memory", "prometheus": in the explanation */
	double target;    /* per task, same unit as the samples */
	/* Per-task samples (cpu, memory), one per task the service should run... */
	const autoscale_sample *samples;
	size_t n_samples;
	/* ...or a total for the service (a Prometheus query): is_total, and total_ok when read. */
	bool is_total, total_ok;
	double total;
} autoscale_metric;

typedef struct autoscale_input {
	int64_t current; /* the service's replicas now */
	int64_t min, max;
	double tolerance;     /* 0.1: within 10% of the target nothing changes */
	int64_t cooldown_ns;  /* scale-in: no smaller than this after the last change */
	int64_t last_at_ns;   /* wall time of the last change; -1: none recorded */
	int64_t now_ns;       /* wall time */
	const autoscale_metric *metrics;
	size_t n_metrics;
} autoscale_input;

typedef enum { AUTOSCALE_HOLD = 0, AUTOSCALE_UP, AUTOSCALE_DOWN } autoscale_direction;

typedef struct autoscale_decision {
	int64_t replicas; /* what the service should have */
	autoscale_direction direction;
	int64_t wait_ns;  /* > 0: a held change becomes possible after this long (cooldown) */
	char reason[512]; /* input values, rule, result: "cpu 140% of target 70% over 2 tasks: ceil(2 x 140/70) = 4" */
} autoscale_decision;

/* The decision for one evaluation. Always fills *out. */
void autoscale_decide(const autoscale_input *in, autoscale_decision *out);

/* A wait as the explanations show it, rounded up to the second: "45s", "2m05s". */
void autoscale_fmt_duration(char *buf, size_t size, int64_t ns);

/* "up", "down", "hold": metric label values. */
const char *autoscale_direction_name(autoscale_direction d);

#endif
