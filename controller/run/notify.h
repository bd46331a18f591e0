/* Notifications of berth run: what happened, POSTed as JSON to each --notify URL through an
 * outbox (never blocking a reconcile), signed with X-Signature-256 when a secret is set.
 *
 * Events (the "event" field) and where each comes from:
 *   apply_succeeded      a reconcile of a revision not applied before succeeded (run loop)
 *   apply_failed         a reconcile failed: invalid spec, plan error or failed step (run loop;
 *                        a failing revision is retried with backoff, each try is one event)
 *   drift_corrected      a reconcile of the applied revision succeeded and changed something
 *                        other than a rollout (run loop; the same as berth_drift_corrections_total)
 *   rollout_step         a container group's rollout moved to a new step (BERTH_EV_ROLLOUT)
 *   rollout_rolled_back  a rollout failed its gates and traffic goes back (BERTH_EV_ROLLOUT)
 *
 * The payload: {"event", "revision", "summary", "errors": [...], "time" (ISO 8601 UTC), "text"
 * (the same for people: Slack's and Mattermost's incoming webhooks show it), and for rollout
 * events "rollout": {"group", "step", "steps", "revision", "reason", "from"}}. */
#ifndef BERTH_NOTIFY_H
#define BERTH_NOTIFY_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "core/events.h"
#include "core/metrics.h"
#include "run/run_log.h"

typedef struct notify_config {
	const char *const *urls; /* borrowed */
	size_t n_urls;           /* 0: notifications are off */
	const char *secret;      /* borrowed; NULL: unsigned */
	size_t queue;            /* queued notifications at most (all URLs); 0: 100 */
} notify_config;

typedef struct notify_event {
	const char *event;    /* one of the names above */
	const char *revision; /* may be NULL */
	const char *summary;
	const char *const *errors;
	size_t n_errors;
	double time;          /* Unix time */
	const berth_rollout_event *rollout; /* rollout events */
} notify_event;

typedef struct notify notify;

/* Declares the metrics (berth_notifications_total{result}, berth_notifications_dropped_total).
 * NULL when cfg has no URL. */
notify *notify_new(const notify_config *cfg, berth_metrics *metrics, const run_log *log);
/* Queues ev for every URL (a no-op on NULL). */
void notify_send(notify *n, const notify_event *ev);
/* The revision rollout events carry (the one being reconciled); thread-safe. */
void notify_set_revision(notify *n, const char *revision);
/* An engine event: rollout events become notifications, the rest is ignored. Thread-safe. */
void notify_engine_event(notify *n, const berth_event *ev);

/* What a reconcile of the run loop came to. */
typedef struct notify_outcome {
	const char *revision;
	bool ok;
	bool first;     /* ok: the revision was not applied before */
	bool changed;   /* ok: a step other than a rollout's ran */
	const char *error;        /* !ok: the reconcile's error */
	const json_t *diagnostics; /* !ok: the spec's problems (an array of strings), or NULL */
	size_t steps[4];          /* the plan: add, change, replace, destroy */
	size_t done;
	double time;
} notify_outcome;
/* apply_succeeded, apply_failed or drift_corrected, or nothing (an unchanged, applied revision). */
void notify_reconcile(notify *n, const notify_outcome *o);
/* Sends what is queued (2 s at most), then frees. */
void notify_free(notify *n);

/* The pure parts, for tests. The JSON body (malloc'd, compact, keys sorted). */
char *notify_payload(const notify_event *ev);
/* "sha256=" and the lower-case hex HMAC-SHA256 of body under secret (malloc'd). */
char *notify_signature(const char *secret, const char *body);

#endif
