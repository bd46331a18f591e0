/* The provider interface: one versioned struct of callbacks per backend (swarm, vmss, fileshare,
 * aci, trafficmanager), modelled on libgit2's sys/ backends and Terraform's resource table. The
 * engine (engine/registry.c) holds the table, opens the transports the providers need, and routes
 * each plan step back to the provider that made it.
 *
 * Rules: providers never call each other (what one needs from another is a reference on its
 * steps, see core/order.h); observe makes list calls only; diff is pure; apply changes one step
 * and is idempotent (a rerun after a crash finds the goal met or continues). */
#ifndef BERTH_PROVIDER_H
#define BERTH_PROVIDER_H
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/events.h"
#include "core/plan.h"

#define BERTH_PROVIDER_VERSION 1

struct spec_model;
struct docker;
struct arm;

/* What berth was asked to do, for every provider. */
typedef struct berth_options {
	bool allow_mass_delete;
	bool resolve_image;         /* swarm: pin image tags to the digests the engine resolves now */
	double converge_timeout_s;  /* how long a service may take to converge; 0: 120 s */
	int parallelism;            /* steps at once; 0: 8 */
	/* Rollouts: true (berth apply) drives each one to its end in its step, waiting out pauses;
	 * false (berth run) does what is due now and asks to be requeued when the next thing is. */
	bool rollout_wait;
	/* curl CONNECT_TO entries ("HOST:PORT:CONNECT-HOST:CONNECT-PORT", comma-separated) for
	 * rollout probes: tests point the FQDNs at the simulator while the Host header stays real. */
	const char *probe_connect_to;
	/* Observe also what only a status shows (the swarm's nodes, for the status page's map):
	 * berth run and berth_status; a plan does without. */
	bool status_detail;
} berth_options;

/* What the engine lends a provider for observe and apply (borrowed, valid during the call). */
typedef struct berth_env {
	struct docker *docker; /* set when the provider's needs() asked for it */
	struct arm *arm;
	const berth_clock *clock;
	berth_cancel *cancel;
	const berth_events *events;
	const berth_options *opts;
	const plan *plan; /* apply: the plan the step belongs to (for events) */
	/* apply: asks for the next reconcile within seconds (a rollout's pause ending); may be NULL */
	void (*requeue)(void *ctx, double seconds);
	void *requeue_ctx;
} berth_env;

enum { BERTH_NEEDS_DOCKER = 1, BERTH_NEEDS_ARM = 2 };

typedef struct berth_provider {
	unsigned int version; /* BERTH_PROVIDER_VERSION */
	const char *name;     /* "swarm", "vmss", ... */
	/* Anything of mine in the spec? (The absence of a section never means "delete".) */
	bool (*wants)(const struct spec_model *m);
	/* The transports observe and apply will use: BERTH_NEEDS_* bits. */
	unsigned (*needs)(const struct spec_model *m);
	/* Lists what the spec concerns into *observed (freed with observed_free). *complete = false
	 * when a list was partial: diff then deletes nothing of that kind. */
	int (*observe)(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
		       berth_error *err);
	/* A digest (malloc'd hex) of what diff depends on, so a saved plan can tell the world moved;
	 * it leaves out what changes by itself (health, monitor status). */
	char *(*fingerprint)(const void *observed);
	/* Adds the steps that make the live state match the spec (pure). All problems in one error,
	 * one per line, code BERTH_EPLAN. complete is observe's. */
	int (*diff)(const struct spec_model *m, const void *observed, bool complete, const berth_options *opts, plan *p,
		    berth_error *err);
	/* Applies one step of this provider's. Returns 0 or a code (BERTH_ECANCELED when cancelled). */
	int (*apply)(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
		     berth_error *err);
	void (*observed_free)(void *observed);
	void (*free_payload)(void *payload);
	/* Optional (NULL when the provider has none). What is in progress, for `berth rollout
	 * status`, /status and metrics: a JSON array text (malloc'd) built from observed. */
	char *(*status)(const struct spec_model *m, const void *observed, double wall_now);
	/* Optional. An operator's command on one of the provider's objects ("rollout-promote",
	 * "rollout-abort" with a group name); BERTH_ENOTFOUND when verb or name is not its own. */
	int (*command)(const berth_env *env, const struct spec_model *m, const char *verb, const char *name,
		       berth_error *err);
} berth_provider;

#endif
