/* berth as a library: an engine that keeps its transports across reconciles, and
 * berth_reconcile(), the one entry point of `berth plan`, `berth apply` and `berth run`.
 *
 * One reconcile is level-triggered: observe everything the spec concerns afresh (list calls),
 * diff (pure, per provider), order (core/order), and in apply mode execute the plan. Nothing is
 * printed: output goes through the events the engine was made with. The engine keeps the Docker
 * client, the ARM client (so the credential's token and the per-subscription request budget
 * carry over), the clock and the cancel token, and reopens a transport only when the spec points
 * it elsewhere. One reconcile at a time per engine. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/events.h"
#include "core/plan.h"
#include "core/provider.h"
#include "spec/spec.h"
#include "transport/arm.h"

typedef struct berth_engine berth_engine;

typedef struct berth_engine_config {
	const berth_clock *clock; /* NULL: the real clock */
	berth_cancel *cancel;     /* borrowed; NULL: the engine has its own (berth_engine_cancel) */
	berth_cancel *drain;      /* borrowed, may be NULL: once fired no further step starts, the one
				   * in flight finishes (berth run stopping) */
	/* Asked before every step starts (quick, thread-safe); false: no further step starts, as
	 * with drain (berth run: a leader whose lease is running short). NULL: always true. */
	bool (*before_step)(void *ctx);
	void *before_step_ctx;
	berth_events events;
	/* ARM settings other than the endpoints, which come from the spec (timeouts, budgets, hooks
	 * for tests); NULL: defaults, with the log going to events and waits through clock. */
	const arm_config *arm;
} berth_engine_config;

berth_engine *berth_engine_new(const berth_engine_config *cfg);
void berth_engine_free(berth_engine *e);
/* Stops the reconcile in flight within one poll (async-signal-safe); later ones fail at once
 * until berth_engine_reset_cancel. */
void berth_engine_cancel(berth_engine *e);
void berth_engine_reset_cancel(berth_engine *e);
berth_cancel *berth_engine_cancel_token(berth_engine *e);

typedef struct berth_engine_stats {
	unsigned long docker_requests, docker_writes; /* since the Docker client was opened */
	unsigned long arm_requests;                   /* since the ARM client was opened */
	unsigned long token_requests;                 /* the credential's token requests */
	unsigned long arm_status[ARM_STATUS_SLOTS];   /* ARM answers by HTTP status (0: none came) */
	unsigned long reconciles;
} berth_engine_stats;

void berth_engine_get_stats(const berth_engine *e, berth_engine_stats *out);

typedef enum { BERTH_MODE_PLAN, BERTH_MODE_APPLY } berth_mode;

typedef struct berth_result {
	plan *plan;          /* the plan made (owned by the result); NULL if none could be made */
	plan_summary summary; /* apply mode: what happened */
	char *fingerprint;   /* of what was observed (stale saved plans) */
	bool applied;        /* the plan was executed (all, or until a failure or cancel) */
	/* When to come back, in seconds (controller-runtime's RequeueAfter); 0: at the usual interval. */
	double requeue_after;
	/* What is in progress as observed before applying (rollouts), a JSON array text; NULL: none. */
	char *status;
} berth_result;

/* Called in apply mode once the plan is made and before anything changes: return 0 to apply it,
 * or a code (with *err) to stop, e.g. a saved plan that is stale, or a refused confirmation. */
typedef int (*berth_gate_fn)(void *ctx, const berth_result *planned, berth_error *err);

typedef struct berth_reconcile_options {
	berth_mode mode;
	berth_options opts;
	berth_gate_fn gate; /* NULL: apply whatever was planned */
	void *gate_ctx;
} berth_reconcile_options;

/* Observes, plans and (in apply mode) applies m. *out is always initialised (free it with
 * berth_result_free). Returns 0 when the plan was made (and, applying, every step converged);
 * else a code with *err: BERTH_EPLAN (every problem, one per line), a transport's code,
 * the gate's code, or for an apply that did not complete BERTH_EFAILED / BERTH_ECANCELED (the
 * summary says what was done). */
int berth_reconcile(berth_engine *e, const struct spec_model *m, const berth_reconcile_options *o, berth_result *out,
		    berth_error *err);
void berth_result_free(berth_result *r);

/* Observes what is in progress (rollouts: revisions, weights, step, health) into *json, a JSON
 * array text (malloc'd; "[]" when nothing is). */
int berth_status(berth_engine *e, const struct spec_model *m, char **json, berth_error *err);
/* An operator's command ("rollout-promote", "rollout-abort") on the object name, carried out by
 * the provider that owns it; BERTH_ENOTFOUND when none does. */
int berth_command(berth_engine *e, const struct spec_model *m, const berth_options *opts, const char *verb,
		  const char *name, berth_error *err);

#endif
