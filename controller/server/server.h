/* berth run's HTTP listener (libmicrohttpd): webhooks that wake the run loop, and the endpoints
 * that tell how it is going. The server owns no state of the loop: it asks through callbacks, and
 * the loop answers under its own lock.
 *
 *   POST /hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *   POST /hooks/gitlab   X-Gitlab-Token: <secret>
 *   POST /hooks/gitea    X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>
 *   POST /hooks/generic  X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
 *     secrets compared in constant time; valid and for the watched ref: 202 and on_push; valid,
 *     another ref or not a push: 202, ignored; invalid signature: 401, counted, nothing triggered;
 *     a replayed delivery id (X-GitHub-Delivery, X-Gitlab-Event-UUID, X-Gitea-Delivery,
 *     X-Delivery-Id; the last 1024 signed ones per provider): 202, ignored; signed but not JSON
 *     or without "ref": 400; a body over 1 MiB: 413; no secret configured: 401. What a delivery
 *     means is decided by server/webhook.h.
 *   GET /healthz  200 while alive() says so, else 503
 *   GET /readyz   200 once ready() says so (the first sync finished), else 503
 *   GET /         the status page, HTML drawn from status_json (server/page.h)
 *   GET /status   the loop's JSON (status_json; 500 if it returns NULL)
 *   GET /metrics  the metrics in Prometheus' text format
 * Anything else: 404; a wrong method: 405. */
#ifndef BERTH_SERVER_H
#define BERTH_SERVER_H
#include <stdbool.h>

#include "core/error.h"
#include "core/metrics.h"

typedef struct berth_server_config {
	/* "ADDR:PORT" ("0.0.0.0:8080", "[::1]:8080", ":8080" every IPv4 address, "[::]:8080" every
	 * address, "127.0.0.1:0" picks a free port); numeric addresses only */
	const char *listen;
	const char *webhook_secret; /* borrowed, until berth_server_stop; NULL: every webhook is refused */
	/* the full ref pushes must name, e.g. "refs/heads/main" (a short "main" or "v1" matches that
	 * branch or tag); copied */
	const char *watched_ref;
	/* The callbacks run on the server's threads, several at once, while a client waits: each
	 * must be thread-safe and quick (take the loop's lock briefly, set a flag, signal). NULL:
	 * on_push does nothing, alive and ready say true, status_json gives "{}". */
	/* A valid push to the watched ref (provider "github" ...; after: the new commit SHA or ""),
	 * before its 202 is sent; not for a replayed delivery. */
	void (*on_push)(void *ctx, const char *provider, const char *after);
	bool (*alive)(void *ctx);
	bool (*ready)(void *ctx);
	char *(*status_json)(void *ctx); /* malloc'd */
	void *ctx;
	berth_metrics *metrics; /* borrowed: rendered at /metrics; the server counts webhooks in it
				 * (berth_webhook_requests_total{provider,result}) */
} berth_server_config;

typedef struct berth_server berth_server;

/* Listens (threads of its own) until berth_server_stop. Returns 0, or EINVALID (a bad listen
 * address) or EUNREACHABLE (cannot listen there: in use, not this machine's) with *err. */
int berth_server_start(const berth_server_config *cfg, berth_server **out, berth_error *err);
/* The port listened on (after "ADDR:0"). */
int berth_server_port(const berth_server *s);
/* Closes every connection and joins the threads: no callback runs once it returns. NULL is fine. */
void berth_server_stop(berth_server *s);

#endif
