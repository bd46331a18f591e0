/* The swarm provider: observe owned swarm objects, diff them against the spec into plan steps,
 * and apply one step at a time through the Docker Engine API.
 *
 * Ownership: everything berth creates carries the label berth.owner=<spec name>; berth lists,
 * changes and deletes only objects with its owner label, and a same-named object without it is
 * a plan error. Secrets and configs are immutable: their engine name is <name>-<hash12> of the
 * content, and the label berth.name keeps the logical name. */
#ifndef BERTH_SWARM_H
#define BERTH_SWARM_H
#include <jansson.h>

#include "spec/spec.h"
#include "core/clock.h"
#include "core/plan.h"
#include "transport/docker.h"

#define SWARM_LABEL_OWNER "berth.owner"
#define SWARM_LABEL_NAME "berth.name"
/* Azure File share volumes: the storage account whose key the mount needs, and where the key goes
 * in the mount options until apply fills it in (the share's host comes from spec_file_share_host,
 * per cloud). */
#define SWARM_LABEL_STORAGE_ACCOUNT "berth.storage-account"
#define SWARM_KEY_PLACEHOLDER "${storage-account-key}"

/* ---- observed state ---- */

typedef enum { SWARM_SERVICE, SWARM_NETWORK, SWARM_SECRET, SWARM_CONFIG, SWARM_KINDS } swarm_kind;

typedef struct swarm_object {
	swarm_kind kind;
	const char *id;
	const char *name;    /* engine name */
	const char *logical; /* berth.name label, or the engine name */
	const char *owner;   /* berth.owner label, or NULL */
	long long version;
	json_t *spec; /* the object's Spec (services, networks: the whole object) */
	json_t *update_status; /* services: the engine's UpdateStatus, or NULL (never updated) */
} swarm_object;

typedef struct swarm_state {
	swarm_object *objects;
	size_t n;
	json_t *raw; /* the list responses, owning every string above */
	unsigned long requests;
	/* The tasks of berth-owned services (GET /tasks), and the wall clock (ms since the epoch)
	 * when they were listed; NULL when tasks were not observed (then nothing is judged by them). */
	json_t *tasks;
	long long observed_ms;
	/* GET /nodes (swarm_observe_nodes), for the status page's map only, never planned from;
	 * NULL when not listed. */
	json_t *nodes;
	/* Autoscaling (swarm_usage.c): the usage of each running task of an autoscaled service, and
	 * each Prometheus query's total; none when no service is autoscaled. */
	struct swarm_usage *usage;
	size_t n_usage;
	struct swarm_query *queries;
	size_t n_queries;
	unsigned long usage_requests; /* stats calls and queries made for them (benchmarks) */
} swarm_state;

/* One task of an autoscaled service, as its node's engine reported it. */
typedef struct swarm_usage {
	char *service_id;
	bool running;   /* its container runs (memory counts from then on) */
	bool ready;     /* running, with a full stats period (a previous CPU reading to diff against) */
	bool has_value; /* its stats could be read (else its node's engine is not reachable, or it failed) */
	bool has_memory; /* they had memory figures */
	double cpus;    /* CPUs in use: 1.0 is one core busy */
	double memory;  /* bytes in use, less the inactive page cache, as `docker stats` shows */
} swarm_usage;

/* A Prometheus source's answer: the sum of the query's samples, per spec service. */
typedef struct swarm_query {
	char *service; /* the spec's name */
	bool ok;
	double total;
	char *error; /* why there is no value (never a secret: the URL has none) */
} swarm_query;

/* Lists services, networks, secrets, configs and the tasks of berth-owned services: a constant
 * number of requests, whatever the number of objects. Returns 0, or -1 with *err set. */
int swarm_observe(docker *d, swarm_state *out, char **err);
void swarm_state_free(swarm_state *st);
/* The same from list responses already read (services, networks, secrets, configs), which are
 * borrowed: the state takes its own references. For tests and replays. */
void swarm_state_from_json(json_t *lists[SWARM_KINDS], swarm_state *out);
/* Adds a task list (borrowed) observed at observed_ms, as swarm_observe does. */
void swarm_state_set_tasks(swarm_state *st, json_t *tasks, long long observed_ms);

/* Reads the usage of the tasks of m's autoscaled services into st (after swarm_observe): one
 * stats call per running task, on the engine of the task's node (swarm.engines), and one query
 * per Prometheus source. A task whose stats cannot be read is a missing metric, not an error. */
void swarm_observe_usage(docker *d, const struct spec_model *m, swarm_state *st);
/* (The stats formula itself is engine_stats_usage, providers/common/engine_stats.h.) */

/* Whether a service has converged on the spec it has now, judged from live state only: its
 * UpdateStatus (an update in progress, paused or rolled back by the engine) and its tasks (as
 * many tasks of the current spec running, for SWARM_STABLE_MS at least, as it wants: replicas,
 * or for a global service the nodes the engine placed a task on). NULL when it has converged
 * (or wants no task); otherwise a malloc'd reason, e.g. "update paused: <engine message>" or
 * "0/2 tasks running: task: non-zero exit (7)". *resubmit is set when only submitting the spec
 * again gets the engine going (a paused, rolled-back or stopped rollout): waiting would not end. */
#define SWARM_STABLE_MS 2000
char *swarm_service_unconverged(const swarm_state *st, const swarm_object *svc, bool *resubmit);
const swarm_object *swarm_find(const swarm_state *st, swarm_kind kind, const char *name);
const char *swarm_kind_name(swarm_kind k);
/* A digest of everything observed that a plan depends on (ids and versions), for stale-plan checks. */
char *swarm_fingerprint(const swarm_state *st);

/* What the status page shows (a JSON array text, malloc'd): one {"kind": "swarm_service"} per
 * service of the spec (desired and running replicas, its tasks with node and state) and one
 * {"kind": "swarm_node"} per node (hostname, role, availability, state). swarm_status.c. */
char *swarm_status_json(const struct spec_model *m, const swarm_state *st);
/* Lists the nodes into st->nodes (one request; best effort: a failure leaves them NULL, and the
 * map then names nodes by ID). Only for a status: a plan needs no node. */
void swarm_observe_nodes(docker *d, swarm_state *st);

/* ---- desired state ---- */

/* Engine name of a secret or config: "<name>-<first 12 hex of sha256(content)>". Reads the
 * content (env var or file) at run time; the content itself never leaves this function. */
int swarm_content_name(const char *name, const char *content, size_t len, char out[80]);

/* A config's content (inline, or its file read now); malloc'd. Returns 0, or -1 with *err set. */
int swarm_config_content(const spec_config *cf, char **buf, size_t *len, char **err);

/* The ServiceSpec berth wants for s. secret_names/config_names map logical names to engine
 * names (same order as the spec's swarm.secrets / swarm.configs). Caller owns the result. */
json_t *swarm_service_spec(const struct spec_model *m, const spec_service *s, const char *const *secret_names,
			   const char *const *config_names);

/* ---- comparing ---- */

/* A flat, normalised view of a ServiceSpec: "image" -> "nginx:1.27", "env.MODE" -> "prod",
 * "port.8080/tcp" -> "80 ingress", ... Engine defaults are filled in on both sides, digests that
 * the engine pins are dropped, and network ids are shown as names, so a spec applied and read
 * back compares equal. Returned object maps keys to strings; caller owns it. */
json_t *swarm_service_view(json_t *spec, const swarm_state *st);

/* ---- autoscaling (pure) ---- */

struct autoscale_decision;
/* The decision for an autoscaled service s that exists as obs, from st's usage and time. */
void swarm_autoscale_decide(const spec_service *s, const swarm_state *st, const swarm_object *obs,
			    struct autoscale_decision *out);
/* Sets the decided replicas and the berth.autoscale.* labels on desired (a ServiceSpec): new
 * labels when the replicas change, the observed ones otherwise. */
void swarm_autoscale_apply(json_t *desired, const swarm_object *obs, const struct autoscale_decision *d,
			   long long now_ms);
/* The decisions of every autoscaled service, as a JSON array text, for /status and metrics. */
char *swarm_autoscale_status(const struct spec_model *m, const swarm_state *st);

/* ---- planning (pure) ---- */

typedef struct swarm_plan_options {
	bool allow_mass_delete;
	size_t mass_delete_min;     /* default 5 */
	double mass_delete_fraction; /* default 0.25 */
	/* --resolve-image: per service (spec order), the digest its image tag resolved to, or NULL. */
	const char *const *image_digests;
} swarm_plan_options;

/* Adds the steps that make the swarm match m to p. Returns 0; or -1 with *err describing every
 * problem (unowned same-named objects, unreadable secrets, immutable changes, mass delete). */
int swarm_plan(const struct spec_model *m, const swarm_state *st, const swarm_plan_options *opt, plan *p,
	       char **err);

/* ---- applying ---- */

typedef struct swarm_apply_ctx {
	docker *d;
	const struct spec_model *m;
	const berth_clock *clock;      /* convergence polls sleep through it; NULL: the real clock */
	berth_cancel *cancel;          /* ends a convergence wait within one poll */
	long long converge_timeout_ms; /* per service; default 120 s */
	void (*progress)(void *arg, const char *line);
	void *progress_arg;
	/* Fetches a storage account's key for Azure File share volumes (malloc'd into *key, which the
	 * caller wipes); NULL when there is no Azure connection. */
	int (*storage_key)(void *arg, const char *account, char **key, char **err);
	void *storage_key_arg;
} swarm_apply_ctx;

/* Applies one swarm step (its payload is a swarm_step). Returns 0, or a berth_error_code with *err
 * set: BERTH_EFAILED when the engine did the work and it failed (tasks crash, rollback),
 * BERTH_ETIMEOUT, BERTH_ECANCELED, or the engine request's code. */
struct swarm_step;
int swarm_apply_step(swarm_apply_ctx *ctx, const plan_step *step, struct swarm_step *payload, char **err);
void swarm_step_free(void *payload);

#endif
