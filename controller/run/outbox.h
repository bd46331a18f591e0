/* A bounded queue of HTTP POSTs and the one thread that sends them, for what berth run tells the
 * outside world (notifications, commit statuses). Posting never blocks: when the queue is full the
 * request is dropped and counted, so a slow or dead receiver never delays a reconcile. The sender
 * retries connection failures, timeouts, 429 and 5xx answers with exponential backoff; other
 * answers are final. Bodies and headers may hold tokens: they are never logged; URLs are logged
 * redacted (berth_url_redact). */
#ifndef BERTH_OUTBOX_H
#define BERTH_OUTBOX_H
#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"
#include "run/run_log.h"

typedef struct outbox outbox;

typedef struct outbox_config {
	const char *what;           /* for log lines: "notification", "commit status" */
	size_t capacity;            /* queued requests at most; 0: 100 */
	int attempts;               /* tries per request; 0: 5 */
	double backoff_s;           /* the first retry's delay (doubling, with jitter, at most 60 s); 0: 1 */
	double timeout_s;           /* one attempt, connecting included; 0: 10 */
	berth_metrics *metrics;     /* borrowed; NULL: nothing counted */
	const char *sent_metric;    /* counter by result="sent"|"failed" */
	const char *dropped_metric; /* counter of requests dropped because the queue was full */
	const run_log *log;         /* borrowed; NULL: no log lines */
} outbox_config;

/* NULL if the thread cannot start (then nothing is sent; the caller logs it). */
outbox *outbox_new(const outbox_config *cfg);
/* Queues a POST of body to url with headers ("Name: value", n of them); copies everything.
 * false: the queue was full and the request was dropped (counted). */
bool outbox_post(outbox *o, const char *url, const char *const *headers, size_t n, const char *body);
/* Waits up to drain_s for what is queued to be sent, then cancels the rest and frees. */
void outbox_free(outbox *o, double drain_s);

#endif
