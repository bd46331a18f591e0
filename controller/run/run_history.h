/* What berth run remembers for its status page beyond the last reconcile: the last
 * RUN_HISTORY_N reconciles (time, revision, result, duration, error), the plan of the last one
 * that changed something (each step with its outcome), the commit last fetched (summary,
 * author, time), and the providers' resource status (services, nodes, profiles, scale sets).
 * All of it goes into /status, which the page (server/page.h) is drawn from.
 *
 * Not thread-safe: the loop calls it under its own lock. Nothing here holds a secret: plans
 * never carry secret values, and errors are the providers' messages, which never do. */
#ifndef BERTH_RUN_HISTORY_H
#define BERTH_RUN_HISTORY_H
#include <jansson.h>

#include "core/plan.h"
#include "source/source.h"

#define RUN_HISTORY_N 20

typedef struct run_history {
	json_t *ring[RUN_HISTORY_N]; /* next: the slot the next reconcile takes */
	size_t next;
	json_t *last_change; /* {time, revision, steps: [...]}, or NULL */
	json_t *commit;      /* {revision, summary, author, time}, or NULL */
	json_t *resources;   /* the status entries that are not rollouts, or NULL */
} run_history;

/* One reconcile ended (error may be NULL). */
void run_history_record(run_history *h, const char *time, const char *revision, const char *result,
			double duration_s, const char *error);
/* The plan of a reconcile (p may be NULL): kept when it has steps, with each step's outcome. */
void run_history_plan(run_history *h, const char *time, const char *revision, const plan *p);
void run_history_commit(run_history *h, const berth_revision *rev);
/* Moves the entries of status (a providers' status array) whose kind is not "rollout" into the
 * history's resources; status keeps the rollouts. status NULL: nothing changes. */
void run_history_take_resources(run_history *h, json_t *status);
/* Adds "history" (newest first), "last_change", "commit" and "resources" to the status object j. */
void run_history_json(const run_history *h, json_t *j);
void run_history_free(run_history *h);

#endif
