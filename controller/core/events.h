/* What a reconcile tells while it works: the engine and the providers never print, they emit
 * events, and whoever runs the reconcile turns them into output (the CLI: today's text; the
 * server: status and metrics). Events come from worker threads, so a sink must be thread-safe. */
#ifndef BERTH_EVENTS_H
#define BERTH_EVENTS_H
#include "core/error.h"
#include "core/plan.h"

typedef enum berth_event_kind {
	BERTH_EV_INFO,         /* a line for people, e.g. "Azure credential: service principal (...)" */
	BERTH_EV_WARNING,      /* something worked around, e.g. an image tag that could not be pinned */
	BERTH_EV_TRANSPORT,    /* a transport's log line (ARM retries, throttling) */
	BERTH_EV_PLAN_READY,   /* the plan is made (plan set) */
	BERTH_EV_STEP_START,   /* step set */
	BERTH_EV_STEP_PROGRESS, /* step and message set, e.g. "service web: 1/2 running" */
	BERTH_EV_STEP_DONE,
	BERTH_EV_STEP_FAILED,  /* error set */
	BERTH_EV_STEP_SKIPPED, /* error set: why */
	BERTH_EV_APPLIED,      /* the apply is over (plan set; the summary is in the result) */
	BERTH_EV_ROLLOUT,      /* rollout set: a rollout moved to a new step or is rolling back (for
				* notifications; the text of it also comes as STEP_PROGRESS/WARNING) */
} berth_event_kind;

typedef struct berth_rollout_event {
	const char *group;    /* the container group */
	const char *revision; /* the revision being rolled out */
	int step, steps;      /* 1-based step of steps */
	const char *reason;   /* rolling back: why (the gate that failed); else NULL */
	const char *from;     /* rolling back: the revision traffic goes back to; else NULL */
} berth_rollout_event;

typedef struct berth_event {
	berth_event_kind kind;
	const char *message;     /* INFO, WARNING, TRANSPORT, STEP_PROGRESS */
	const plan *plan;        /* PLAN_READY, APPLIED, and the step events */
	const plan_step *step;   /* step events */
	const berth_error *error; /* STEP_FAILED, STEP_SKIPPED */
	const berth_rollout_event *rollout; /* ROLLOUT */
} berth_event;

typedef struct berth_events {
	void (*fn)(void *ctx, const berth_event *ev);
	void *ctx;
} berth_events;

/* Sends an event (nothing when events or its fn is NULL). */
void berth_emit(const berth_events *events, const berth_event *ev);
/* A message event: INFO, WARNING, TRANSPORT, or STEP_PROGRESS for step. */
void berth_emitf(const berth_events *events, berth_event_kind kind, const plan *p, const plan_step *step,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
