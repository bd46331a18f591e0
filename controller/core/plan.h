/* A plan: a DAG of steps (create, update, replace, delete) with reasons, field-level changes and
 * references, and the executor that walks it with bounded parallelism.
 *
 * Providers build plans as a pure function of (desired, observed): the engine marks which
 * provider's diff is adding steps (plan_set_owner), the diff adds steps, changes, dependencies
 * inside its own kind and references (gives / needs / removes a key) that core/order turns into
 * the cross-provider edges. Only plan_execute() has side effects, through the apply callback.
 *
 * Steps are opaque: what a step is (action, kind, name, changes, dependencies) is fixed once the
 * plan is built and read through accessors; how it is going (status, error) changes while the
 * executor runs and is read as a snapshot, under the plan's lock, so a status handler on another
 * thread never races the executor. A plan owns everything added to it (strings are copied,
 * payloads are freed with the destructor their owner gave) and is freed with plan_free(). */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H
#include <stdbool.h>
#include <stddef.h>

#include "core/clock.h"
#include "core/error.h"

typedef enum { PLAN_CREATE, PLAN_UPDATE, PLAN_REPLACE, PLAN_DELETE } plan_action;
typedef enum { STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED } plan_step_status;

typedef struct plan_change {
	const char *field;
	const char *old_value; /* NULL: absent */
	const char *new_value; /* NULL: removed */
	bool sensitive;        /* values are never stored: "(sensitive value changed)" */
} plan_change;

/* A reference between steps, by key ("fileshare acct/logs", "capacity swarm", "fqdn
 * web.westeurope.azurecontainer.io"): a step gives what exists once it ran, needs what must exist
 * before it runs (or what it uses until it ran), removes what is gone once it ran. Keys compare
 * case-insensitively, as the DNS and Azure names in them do. core/order has the rules. */
typedef enum { PLAN_GIVES, PLAN_NEEDS, PLAN_REMOVES } plan_ref_mode;
typedef struct plan_ref {
	plan_ref_mode mode;
	const char *key;
} plan_ref;

typedef struct plan plan;
typedef struct plan_step plan_step;

plan *plan_new(void);
void plan_free(plan *p);

/* ---- building ---- */

/* Steps added from now on belong to provider `owner` (an index the engine gives) and their
 * payloads are freed with free_payload (may be NULL). */
void plan_set_owner(plan *p, int owner, void (*free_payload)(void *payload));
/* Adds a step; returns its id. payload is taken. */
size_t plan_add_step(plan *p, plan_action action, const char *kind, const char *name, const char *reason,
		     void *payload);
void plan_add_change(plan *p, size_t step, const char *field, const char *old_value, const char *new_value,
		     bool sensitive);
void plan_set_reason(plan *p, size_t step, const char *reason);
/* step may only start after dep is done (within one provider; across providers use references). */
void plan_add_dep(plan *p, size_t step, size_t dep);
/* A reference; key is built from the format, e.g. plan_add_ref(p, id, PLAN_NEEDS, "fileshare %s/%s", a, s). */
void plan_add_ref(plan *p, size_t step, plan_ref_mode mode, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A note for people reading the plan that is not a step: something berth will not do, and why
 * (a rollout that failed and is not retried until the spec changes). */
void plan_add_note(plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t plan_n_notes(const plan *p);
const char *plan_note(const plan *p, size_t i);
/* When the same inputs may give another plan without anything changing but the time (a held
 * autoscale decision whose cooldown or idle clock runs out), in seconds from now: the soonest
 * of the values given; 0 when none was. berth run reconciles again then. */
void plan_recheck_after(plan *p, double seconds);
double plan_recheck(const plan *p);

/* ---- reading what a step is (fixed once built) ---- */

size_t plan_count(const plan *p);
const plan_step *plan_step_at(const plan *p, size_t id); /* NULL past the end */
size_t plan_step_id(const plan_step *s);
plan_action plan_step_action(const plan_step *s);
const char *plan_step_kind(const plan_step *s); /* "service", "network", "file share", ... */
const char *plan_step_name(const plan_step *s);
const char *plan_step_reason(const plan_step *s); /* NULL: none */
int plan_step_owner(const plan_step *s);
size_t plan_step_n_changes(const plan_step *s);
const plan_change *plan_step_change(const plan_step *s, size_t i);
size_t plan_step_n_deps(const plan_step *s);
size_t plan_step_dep(const plan_step *s, size_t i);
bool plan_step_depends_on(const plan_step *s, size_t dep);
size_t plan_step_n_refs(const plan_step *s);
const plan_ref *plan_step_ref(const plan_step *s, size_t i);
/* The payload, for the provider that made the step (and for tests of that provider). */
void *plan_step_payload(const plan_step *s);

const char *plan_action_name(plan_action a);
const char *plan_status_name(plan_step_status s); /* "pending", "running", "done", "failed", "skipped" */

/* Steps in an order that respects every dependency (ties broken by id); NULL if there is a
 * cycle, with *cycle_step set to a step on it. The array belongs to the caller. */
size_t *plan_topo_order(const plan *p, size_t *cycle_step);

/* ---- how it is going ---- */

typedef struct plan_summary {
	size_t done, failed, skipped;
	bool canceled; /* the executor stopped starting steps because it was cancelled */
} plan_summary;

typedef struct plan_step_state {
	plan_step_status status;
	char *error; /* FAILED: what apply said; SKIPPED: why; else NULL. Owned by the snapshot */
	berth_error_code code;
} plan_step_state;

typedef struct plan_snapshot {
	size_t n;
	plan_step_state *steps; /* by step id */
	plan_summary summary;
} plan_snapshot;

/* A consistent copy of every step's state, taken under the plan's lock. */
plan_snapshot *plan_snapshot_take(const plan *p);
void plan_snapshot_free(plan_snapshot *s);

/* ---- executing ---- */

/* Applies one step. Returns 0, or a berth_error_code with *err set. */
typedef int (*plan_apply_fn)(void *ctx, const plan_step *step, void *payload, berth_error *err);
/* Told when a step starts (RUNNING) and when it ends (DONE, FAILED; err set for FAILED), from the
 * worker thread that runs it; and for every step skipped, after the run. */
typedef void (*plan_step_fn)(void *ctx, const plan_step *step, plan_step_status status, const berth_error *err);

typedef struct plan_exec_options {
	int parallelism;      /* steps at once; < 1: 1 */
	berth_cancel *cancel; /* once fired no step starts; running steps see it through their waits */
	berth_cancel *drain;  /* once fired no step starts, but running steps finish (a controller
			       * stopping); may be NULL */
	/* Asked before each step starts (under the plan's lock: quick, no I/O); false: nothing more
	 * starts, as if drained (a leader whose lease is short). NULL: always true. */
	bool (*before_step)(void *ctx);
	void *before_step_ctx;
	plan_apply_fn apply;
	plan_step_fn on_step; /* may be NULL */
	void *ctx;            /* for apply and on_step */
} plan_exec_options;

/* Runs the steps: at most parallelism at a time, each only after its dependencies are done. A
 * failed step's dependents (transitively) are skipped; independent steps still run. Once cancel
 * fires, steps not yet started are skipped ("skipped: cancelled"). Returns 0 when every step is
 * done, else BERTH_ECANCELED (cancelled or drained), or BERTH_EFAILED. A plan runs at most once. */
int plan_execute(plan *p, const plan_exec_options *o, plan_summary *out);

#endif
