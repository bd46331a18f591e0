/* The outbox: a ring of queued POSTs, one sender thread, retries with backoff (see outbox.h). */
#include "run/outbox.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/util.h"
#include "source/source.h"
#include "spec/xalloc.h"
#include "transport/http.h"

typedef struct {
	char *url, *body;
	char **headers;
	size_t n;
} request;

struct outbox {
	outbox_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* something queued, or stopping */
	pthread_cond_t idle;  /* the queue emptied and nothing is in flight */
	request *ring;
	size_t head, len;
	bool busy, stopping;
	berth_cancel *cancel; /* fired at the end: the transfer and the backoff in flight stop */
	pthread_t thread;
};

static void wipe(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void request_free(request *q)
{
	free(q->url);
	wipe(q->body);
	for (size_t i = 0; i < q->n; i++)
		wipe(q->headers[i]);
	free(q->headers);
	memset(q, 0, sizeof(*q));
}

/* One attempt: the HTTP status, or 0 when no answer came (curl's reason in why). */
static long attempt(outbox *o, CURL *c, const request *q, char *why)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "User-Agent: berth");
	for (size_t i = 0; i < q->n; i++)
		h = curl_slist_append(h, q->headers[i]);
	http_buffer out = {0};
	long ms = (long)(o->cfg.timeout_s * 1000);
	http_setup s = {.url = q->url, .method = "POST", .body = q->body, .headers = h, .timeout_ms = ms,
			.connect_timeout_ms = ms, .web_only = true, .out = &out, .max_body = 64 * 1024,
			.cancel = o->cancel, .errbuf = why};
	http_easy_setup(c, &s);
	long status = 0;
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else if (!*why)
		snprintf(why, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	http_easy_release(c);
	curl_slist_free_all(h);
	http_buffer_wipe(&out);
	return status;
}

static void count(outbox *o, const char *result)
{
	if (o->cfg.metrics && o->cfg.sent_metric) {
		char label[32];
		snprintf(label, sizeof(label), "result=\"%s\"", result);
		berth_metrics_add(o->cfg.metrics, o->cfg.sent_metric, label, 1);
	}
}

static void deliver(outbox *o, CURL *c, const request *q)
{
	char why[CURL_ERROR_SIZE];
	long status = 0;
	for (int i = 0; i < o->cfg.attempts; i++) {
		why[0] = 0;
		status = attempt(o, c, q, why);
		bool retry = status == 0 || status == 429 || status >= 500;
		if (!retry || berth_cancel_fired(o->cancel))
			break;
		if (i + 1 < o->cfg.attempts && !berth_sleep(NULL, berth_backoff(o->cfg.backoff_s, 60, i), o->cancel))
			break;
	}
	if (status >= 200 && status < 300) {
		count(o, "sent");
		return;
	}
	count(o, "failed");
	if (o->cfg.log) {
		char *shown = berth_url_redact(q->url);
		char code[16];
		snprintf(code, sizeof(code), "%ld", status);
		char *msg = xasprintf("%s not delivered", o->cfg.what);
		run_log_line(o->cfg.log, "warning", msg, "url", shown, "status", status ? code : NULL, "error",
			     status ? NULL : why, (const char *)NULL);
		free(msg);
		free(shown);
	}
}

static void *sender(void *arg)
{
	outbox *o = arg;
	CURL *c = curl_easy_init();
	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->len && !o->stopping)
			pthread_cond_wait(&o->cv, &o->mu);
		if (!o->len)
			break;
		request q = o->ring[o->head];
		o->head = (o->head + 1) % o->cfg.capacity;
		o->len--;
		o->busy = true;
		pthread_mutex_unlock(&o->mu);
		if (c && !berth_cancel_fired(o->cancel))
			deliver(o, c, &q);
		else
			count(o, "failed");
		request_free(&q);
		pthread_mutex_lock(&o->mu);
		o->busy = false;
		if (!o->len)
			pthread_cond_broadcast(&o->idle);
	}
	pthread_mutex_unlock(&o->mu);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

outbox *outbox_new(const outbox_config *cfg)
{
	if (http_global_init() != CURLE_OK)
		return NULL;
	outbox *o = xcalloc(1, sizeof(*o));
	o->cfg = *cfg;
	if (!o->cfg.capacity)
		o->cfg.capacity = 100;
	if (o->cfg.attempts <= 0)
		o->cfg.attempts = 5;
	if (o->cfg.backoff_s <= 0)
		o->cfg.backoff_s = 1;
	if (o->cfg.timeout_s <= 0)
		o->cfg.timeout_s = 10;
	o->ring = xcalloc(o->cfg.capacity, sizeof(request));
	o->cancel = berth_cancel_new();
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	pthread_cond_init(&o->idle, NULL);
	if (pthread_create(&o->thread, NULL, sender, o) != 0) {
		berth_cancel_free(o->cancel);
		free(o->ring);
		free(o);
		return NULL;
	}
	return o;
}

bool outbox_post(outbox *o, const char *url, const char *const *headers, size_t n, const char *body)
{
	pthread_mutex_lock(&o->mu);
	bool room = o->len < o->cfg.capacity && !o->stopping;
	if (room) {
		request *q = &o->ring[(o->head + o->len) % o->cfg.capacity];
		q->url = xstrdup(url);
		q->body = xstrdup(body);
		q->n = n;
		q->headers = xcalloc(n ? n : 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			q->headers[i] = xstrdup(headers[i]);
		o->len++;
		pthread_cond_signal(&o->cv);
	}
	pthread_mutex_unlock(&o->mu);
	if (!room && o->cfg.metrics && o->cfg.dropped_metric)
		berth_metrics_add(o->cfg.metrics, o->cfg.dropped_metric, NULL, 1);
	return room;
}

void outbox_free(outbox *o, double drain_s)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	if (drain_s > 0 && (o->len || o->busy)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)drain_s;
		while ((o->len || o->busy) && pthread_cond_timedwait(&o->idle, &o->mu, &until) == 0)
			;
	}
	o->stopping = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	berth_cancel_fire(o->cancel); /* what is left is not sent (counted as failed) */
	pthread_join(o->thread, NULL);
	for (size_t i = 0; i < o->len; i++)
		request_free(&o->ring[(o->head + i) % o->cfg.capacity]);
	berth_cancel_free(o->cancel);
	pthread_cond_destroy(&o->cv);
	pthread_cond_destroy(&o->idle);
	pthread_mutex_destroy(&o->mu);
	free(o->ring);
	free(o);
}
