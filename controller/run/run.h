/* berth run: the controller loop. Every interval (and at once on a webhook for the watched ref) it
 * fetches the source and reconciles (observe → plan → apply) the commit it finds; a reconcile of
 * an unchanged commit corrects drift. Never two reconciles at once: a wake-up during one queues
 * exactly one more. A commit that fails (invalid spec, plan error, failed apply) is reported and
 * retried with exponential backoff from the interval (at most 10 intervals), while a new commit
 * is tried at once; an invalid spec never touches live state.
 *
 * Nothing is kept between runs: what was applied is what the live objects say, so a restart after
 * kill -9 converges like any reconcile. */
#ifndef BERTH_RUN_H
#define BERTH_RUN_H
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/provider.h"
#include "run/commit_status.h"
#include "run/notify.h"
#include "run/leader.h"
#include "source/source.h"

typedef struct berth_run_config {
	berth_source_config source;
	double interval_s;          /* 0: 60 */
	const char *listen;         /* "ADDR:PORT" for webhooks and the endpoints; NULL: none */
	const char *webhook_secret; /* borrowed; NULL: webhooks refused */
	bool once;                  /* one fetch + reconcile, then return */
	bool json_logs;             /* one JSON object per log line instead of text */
	berth_options opts;
	/* stop: fired by SIGTERM/SIGINT: no further step starts, the step in flight finishes (for at
	 * most stop_grace_s, then it is cancelled), then berth_run returns 0. abort: cancels at once. */
	berth_cancel *stop;
	berth_cancel *abort;
	double stop_grace_s; /* 0: 10 */
	const berth_clock *clock; /* the engine's (rollout pauses); NULL: the real clock */
	notify_config notify;                /* --notify: events POSTed to URLs */
	commit_status_config commit_status;  /* --commit-status: results posted on the commits */
	/* Replicas elect a leader on this blob lease: only the leader fetches, plans and applies
	 * (run/leader.h); NULL: no election, this one always leads. */
	const berth_leader_config *leader;
} berth_run_config;

/* Runs until stopped (or, with once, for one reconcile). Returns 0: stopped cleanly, or once
 * and the reconcile succeeded; 1: once and it failed; 2 with *err: it could not start (the source
 * configuration or the listener is wrong). */
int berth_run(const berth_run_config *cfg, berth_error *err);

#endif
