/* A plan: a DAG of steps (create, update, replace, delete) with reasons and field-level changes,
 * and the executor that walks it with bounded parallelism.
 *
 * The planner builds plans as a pure function of (desired, observed); only plan_execute() has
 * side effects, through the apply callback a provider supplies. A plan owns everything added to
 * it (strings are copied) and is freed with plan_free(). */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H
#include <stdbool.h>
#include <stddef.h>

typedef enum { PLAN_CREATE, PLAN_UPDATE, PLAN_REPLACE, PLAN_DELETE } plan_action;
typedef enum { STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED } plan_step_status;

typedef struct plan_change {
	const char *field;
	const char *old_value; /* NULL: absent */
	const char *new_value; /* NULL: removed */
	bool sensitive;        /* values are never shown: "(sensitive value changed)" */
} plan_change;

typedef struct plan_step {
	size_t id;
	plan_action action;
	const char *kind; /* "service", "network", ... */
	const char *name;
	const char *reason;
	plan_change *changes;
	size_t n_changes;
	size_t *deps; /* ids of steps that must be done before this one starts */
	size_t n_deps;
	void *payload; /* the provider's; freed by the plan's payload destructor */
	plan_step_status status;
	const char *error; /* when FAILED: what the apply callback said; when SKIPPED: why */
} plan_step;

typedef struct plan plan;

plan *plan_new(void (*free_payload)(void *payload));
void plan_free(plan *p);
/* Adds a step; returns its id. */
size_t plan_add_step(plan *p, plan_action action, const char *kind, const char *name, const char *reason,
		     void *payload);
void plan_add_change(plan *p, size_t step, const char *field, const char *old_value, const char *new_value,
		     bool sensitive);
void plan_set_reason(plan *p, size_t step, const char *reason);
/* Replaces a step's payload (the old one is not freed: the caller took it). */
void plan_set_payload(plan *p, size_t step, void *payload);
/* step may only start after dep is done. */
void plan_add_dep(plan *p, size_t step, size_t dep);
size_t plan_count(const plan *p);
const plan_step *plan_step_at(const plan *p, size_t id);
const char *plan_action_name(plan_action a);
/* Steps in an order that respects every dependency (ties broken by id); NULL if there is a
 * cycle, with *cycle_step set to a step on it. The array belongs to the caller. */
size_t *plan_topo_order(const plan *p, size_t *cycle_step);

/* Applies one step. Returns 0 on success; otherwise sets *err (malloc'd, taken by the plan). */
typedef int (*plan_apply_fn)(void *ctx, const plan_step *step, char **err);

typedef struct plan_summary {
	size_t done, failed, skipped;
} plan_summary;

/* Runs the steps: at most parallelism at a time, each only after its dependencies are done. A
 * failed step's dependents (transitively) are skipped; independent steps still run. Returns 0
 * when every step is done. */
int plan_execute(plan *p, int parallelism, plan_apply_fn apply, void *ctx, plan_summary *out);

/* Writes the plan for people, in Terraform's style: "+" create, "~" update, "-/+" replace,
 * "-" delete, with reasons and per-field old -> new; sensitive values are never shown. Steps
 * appear in dependency order. color adds ANSI colours (callers pass isatty && !NO_COLOR). */
#include <stdio.h>
void plan_render_text(const plan *p, FILE *out, bool color);

/* The machine-readable plan (format documented in docs/plan-json.md). meta is merged in at the
 * top level (owner, spec digest, observed fingerprint); the caller owns the result. */
#include <jansson.h>
#define PLAN_JSON_FORMAT_VERSION 1
json_t *plan_to_json(const plan *p, json_t *meta);

#endif
