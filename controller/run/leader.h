/* Leader election for berth run replicas on an Azure blob lease (transport/blob.h). A thread of
 * its own acquires a finite lease (15..60 s) and, while it holds it, renews it every third of its
 * duration; replicas that do not hold it retry every renew period (every second while they cannot
 * name the holder yet) and name the holder, which records its instance id (and when its lease runs
 * out) in the blob's metadata.
 *
 * Safety: the lease is counted from when the request that got or renewed it was sent. A leader
 * may start a write step only while more than a margin (one renew period) of it is left
 * (berth_leader_may_write, called before every step); when it is not, or a renew is refused
 * because the lease was broken or taken, it gives leadership up at once: on_lost fires (the run
 * loop cancels the step in flight, whose waits stop within one poll). So the last write of an old
 * leader starts at least one renew period before its lease can expire, and a new leader gets the
 * lease only after that. */
#ifndef BERTH_LEADER_H
#define BERTH_LEADER_H
#include <stdbool.h>

#include "core/error.h"
#include "run/run_log.h"

typedef struct berth_leader_config {
	const char *url;         /* the lease blob (blob.h); a SAS in its query is a credential */
	const char *account_key; /* storage account key (base64); NULL: SAS or the Azure chain */
	const char *ca_file;     /* PEM CAs trusted for the blob's https; NULL: the system's */
	double duration_s;       /* 15..60; 0: 30 */
	const char *instance_id; /* NULL: HOSTNAME-PID */
} berth_leader_config;

typedef struct berth_leader berth_leader;

/* Changes of leadership, from the election's thread. */
typedef struct berth_leader_hooks {
	void (*on_acquired)(void *ctx);
	void (*on_lost)(void *ctx);
	void *ctx;
	const run_log *log;
} berth_leader_hooks;

/* Checks the configuration (EINVALID: the URL, the duration, the key; EAUTH: no credential) and
 * starts the election's thread. */
int berth_leader_start(const berth_leader_config *cfg, const berth_leader_hooks *hooks, berth_leader **out,
		       berth_error *err);
/* Stops the thread and releases the lease if held (so a follower leads at once). NULL is fine. */
void berth_leader_stop(berth_leader *l);

/* Leading, with more than the margin of the lease left; if not, leadership is given up now (and
 * on_lost fired once). Thread-safe and quick: the gate before every write step. */
bool berth_leader_may_write(berth_leader *l);

typedef struct berth_leader_view {
	bool is_leader;
	char *instance;        /* ours */
	char *leader;          /* the holder's instance id as last seen; NULL: unknown or none */
	double expires_in_s;   /* the holder's lease, as last seen; < 0: unknown */
	double duration_s;
} berth_leader_view;

/* A snapshot for /status and metrics; free with berth_leader_view_free. */
void berth_leader_get(berth_leader *l, berth_leader_view *out);
void berth_leader_view_free(berth_leader_view *v);

#endif
