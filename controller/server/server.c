/* berth run's HTTP listener (server.h): libmicrohttpd with a small pool of its own threads, the
 * routes, the webhook bodies read up to 1 MiB, replay protection, the webhook counters. What a
 * delivery means is decided by webhook.c (pure); this file is the I/O around it.
 *
 * Limits, so that no client holds the server: a fixed pool of polling threads (a slow client
 * costs a connection slot, never a thread), at most CONN_LIMIT connections (PER_IP_LIMIT from
 * one address), CONN_TIMEOUT_S of silence closes a connection, a body must arrive within
 * BODY_DEADLINE_S of its headers, and past MAX_BODY the rest of a body is only counted and
 * thrown away (and the connection dropped past DISCARD_LIMIT) so that the client still gets
 * its 413.
 *
 * Nothing is logged: libmicrohttpd's messages are kept only while starting, for the error of a
 * failed start (they name the address and the system's error, never a request). Responses say
 * why a webhook was refused in the verifier's words, which never hold a secret. */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/clock.h"
#include "core/util.h"
#include "server/page.h"
#include "server/webhook.h"

#define MAX_BODY ((size_t)1 << 20)
#define DISCARD_LIMIT ((size_t)8 << 20)
#define BODY_DEADLINE_S 30.0
#define CONN_TIMEOUT_S 10u
#define CONN_LIMIT 64u
#define PER_IP_LIMIT 16u
#define POOL_THREADS 4u
#define REPLAY_RING 1024 /* delivery ids remembered per provider */

#define WEBHOOK_METRIC "berth_webhook_requests_total"

static const char *const providers[] = {"github", "gitlab", "gitea", "generic"};
#define N_PROVIDERS (sizeof(providers) / sizeof(providers[0]))
static const char *const results[] = {"accepted", "ignored", "unauthorized", "replayed", "too_large", "bad_request"};

typedef struct replay_ring {
	char *ids[REPLAY_RING];
	size_t next;
} replay_ring;

struct berth_server {
	berth_server_config cfg; /* cfg.listen is not kept; cfg.watched_ref is ours */
	char *watched_ref;
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t mu; /* rings, start_msg, starting */
	replay_ring rings[N_PROVIDERS];
	bool starting;
	char start_msg[256];
};

/* One request's state from its first call to its completion. */
typedef struct request {
	size_t provider;
	char *body;
	size_t len, cap;
	bool too_large;
	size_t discarded;
	double started;
} request;

/* ---- listen addresses ---- */

/* "ADDR:PORT", "[ADDR6]:PORT", ":PORT" (every IPv4 address) into *ss. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, bool *v6, berth_error *err)
{
	memset(ss, 0, sizeof(*ss));
	if (!nonempty(listen))
		return berth_error_set(err, BERTH_EINVALID, "no listen address (want ADDR:PORT)");
	char host[64];
	const char *port;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
			return berth_error_set(err, BERTH_EINVALID, "listen address \"%s\": want [IPV6]:PORT", listen);
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = '\0';
		port = close + 2;
		*v6 = true;
	} else {
		const char *colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			return berth_error_set(err, BERTH_EINVALID, "listen address \"%s\": want ADDR:PORT", listen);
		if (memchr(listen, ':', (size_t)(colon - listen)))
			return berth_error_set(err, BERTH_EINVALID,
					       "listen address \"%s\": an IPv6 address goes in brackets, [ADDR]:PORT", listen);
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		if (!host[0])
			snprintf(host, sizeof(host), "0.0.0.0");
		port = colon + 1;
		*v6 = false;
	}
	unsigned long p = 0;
	size_t digits = strspn(port, "0123456789");
	if (digits == 0 || digits > 5 || port[digits] || (p = strtoul(port, NULL, 10)) > 65535)
		return berth_error_set(err, BERTH_EINVALID, "listen address \"%s\": the port must be 0 to 65535", listen);
	if (*v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return berth_error_set(err, BERTH_EINVALID, "listen address \"%s\": %s is not an IPv6 address", listen, host);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return berth_error_set(err, BERTH_EINVALID, "listen address \"%s\": %s is not an IPv4 address", listen, host);
		*len = sizeof(*a);
	}
	return 0;
}

/* ---- responses ---- */

/* Queues status with body (copied), its type, and Allow when given. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
			       size_t len, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (ok == MHD_YES)
		ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (ok == MHD_YES && allow)
		ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (ok == MHD_YES)
		ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text, const char *allow)
{
	return respond(c, status, "text/plain; charset=utf-8", text, strlen(text), allow);
}

/* ---- webhooks ---- */

static void count(berth_server *s, size_t provider, const char *result)
{
	if (!s->cfg.metrics)
		return;
	char labels[64];
	snprintf(labels, sizeof(labels), "provider=\"%s\",result=\"%s\"", providers[provider], result);
	berth_metrics_add(s->cfg.metrics, WEBHOOK_METRIC, labels, 1);
}

/* Whether provider's delivery id was seen among the last REPLAY_RING; remembers it if not. */
static bool replayed(berth_server *s, size_t provider, const char *id)
{
	pthread_mutex_lock(&s->mu);
	replay_ring *r = &s->rings[provider];
	bool seen = false;
	for (size_t i = 0; i < REPLAY_RING && !seen; i++)
		seen = r->ids[i] && !strcmp(r->ids[i], id);
	if (!seen) {
		free(r->ids[r->next]);
		r->ids[r->next] = xstrdup(id);
		r->next = (r->next + 1) % REPLAY_RING;
	}
	pthread_mutex_unlock(&s->mu);
	return seen;
}

static const char *connection_header(void *ctx, const char *name)
{
	/* libmicrohttpd compares header names case-insensitively, as webhook.h asks. */
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

/* The whole body is in: judge it, count it, answer it. */
static enum MHD_Result finish_webhook(berth_server *s, struct MHD_Connection *c, request *rq)
{
	const char *provider = providers[rq->provider];
	char text[WEBHOOK_REASON_MAX + WEBHOOK_DELIVERY_MAX + 64];
	if (rq->too_large) {
		count(s, rq->provider, "too_large");
		snprintf(text, sizeof(text), "too large: a webhook body is at most %zu bytes\n", MAX_BODY);
		return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, text, NULL);
	}
	webhook_request req = {
		.provider = provider,
		.header = connection_header,
		.header_ctx = c,
		.body = rq->body,
		.body_len = rq->len,
		.secret = s->cfg.webhook_secret,
		.watched_ref = s->watched_ref,
	};
	webhook_result res;
	switch (webhook_verify(&req, &res)) {
	case WEBHOOK_VALID_PUSH:
	case WEBHOOK_IGNORED:
		/* Only signed deliveries are remembered: an unsigned request must not be able to
		 * block a future delivery by sending its id first. */
		if (res.delivery[0] && replayed(s, rq->provider, res.delivery)) {
			count(s, rq->provider, "replayed");
			snprintf(text, sizeof(text), "ignored: delivery %s was seen already\n", res.delivery);
			return respond_text(c, MHD_HTTP_ACCEPTED, text, NULL);
		}
		if (res.verdict == WEBHOOK_IGNORED) {
			count(s, rq->provider, "ignored");
			snprintf(text, sizeof(text), "ignored: %s\n", res.reason);
			return respond_text(c, MHD_HTTP_ACCEPTED, text, NULL);
		}
		count(s, rq->provider, "accepted");
		if (s->cfg.on_push)
			s->cfg.on_push(s->cfg.ctx, provider, res.after);
		snprintf(text, sizeof(text), "accepted: %s\n", res.reason);
		return respond_text(c, MHD_HTTP_ACCEPTED, text, NULL);
	case WEBHOOK_UNAUTHORIZED:
		count(s, rq->provider, "unauthorized");
		snprintf(text, sizeof(text), "unauthorized: %s\n", res.reason);
		return respond_text(c, MHD_HTTP_UNAUTHORIZED, text, NULL);
	case WEBHOOK_BAD_REQUEST:
		break;
	}
	count(s, rq->provider, "bad_request");
	snprintf(text, sizeof(text), "bad request: %s\n", res.reason);
	return respond_text(c, MHD_HTTP_BAD_REQUEST, text, NULL);
}

/* A piece of a webhook body: kept up to MAX_BODY, counted and dropped past it. MHD_NO drops
 * the connection (a body that never ends, or arrives too slowly). */
static enum MHD_Result take_body(request *rq, const char *data, size_t n)
{
	if (berth_now(NULL) - rq->started > BODY_DEADLINE_S)
		return MHD_NO;
	if (!rq->too_large && n > MAX_BODY - rq->len) {
		rq->too_large = true;
		rq->discarded = rq->len;
		free(rq->body);
		rq->body = NULL;
		rq->len = rq->cap = 0;
	}
	if (rq->too_large) {
		rq->discarded += n;
		return rq->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
	}
	if (rq->len + n > rq->cap) {
		size_t cap = rq->cap ? rq->cap : 4096;
		while (cap < rq->len + n)
			cap *= 2;
		rq->body = xrealloc(rq->body, cap);
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
	return MHD_YES;
}

/* ---- routes ---- */

static enum MHD_Result get_route(berth_server *s, struct MHD_Connection *c, const char *url)
{
	const berth_server_config *cfg = &s->cfg;
	if (!strcmp(url, "/healthz")) {
		bool alive = !cfg->alive || cfg->alive(cfg->ctx);
		return respond_text(c, alive ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, alive ? "ok\n" : "not alive\n", NULL);
	}
	if (!strcmp(url, "/readyz")) {
		bool ready = !cfg->ready || cfg->ready(cfg->ctx);
		return respond_text(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, ready ? "ok\n" : "not ready\n", NULL);
	}
	if (!strcmp(url, "/")) {
		char *json = cfg->status_json ? cfg->status_json(cfg->ctx) : xstrdup("{}");
		char *html = page_render(json);
		free(json);
		enum MHD_Result r = respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", html, strlen(html), NULL);
		free(html);
		return r;
	}
	if (!strcmp(url, "/status")) {
		if (!cfg->status_json)
			return respond(c, MHD_HTTP_OK, "application/json", "{}\n", 3, NULL);
		char *json = cfg->status_json(cfg->ctx);
		if (!json)
			return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "status unavailable\n", NULL);
		enum MHD_Result r = respond(c, MHD_HTTP_OK, "application/json", json, strlen(json), NULL);
		free(json);
		return r;
	}
	/* /metrics */
	char *text = cfg->metrics ? berth_metrics_render(cfg->metrics) : xstrdup("");
	enum MHD_Result r = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text), NULL);
	free(text);
	return r;
}

static bool is_get_route(const char *url)
{
	return !strcmp(url, "/") || !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/status") || !strcmp(url, "/metrics");
}

/* The provider of "/hooks/NAME", or N_PROVIDERS. */
static size_t hook_route(const char *url)
{
	static const char prefix[] = "/hooks/";
	if (strncmp(url, prefix, sizeof(prefix) - 1))
		return N_PROVIDERS;
	for (size_t i = 0; i < N_PROVIDERS; i++)
		if (!strcmp(url + sizeof(prefix) - 1, providers[i]))
			return i;
	return N_PROVIDERS;
}

/* libmicrohttpd's access handler: called once with the headers (*con_cls NULL), then once per
 * piece of the body, then once more with nothing (*upload_data_size 0) when the body is in. A
 * response can be queued only on the first or on the last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	berth_server *s = cls;
	request *rq = *con_cls;
	if (rq) {
		if (*upload_data_size) {
			size_t n = *upload_data_size;
			*upload_data_size = 0;
			return take_body(rq, upload_data, n);
		}
		return finish_webhook(s, c, rq);
	}

	bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	if (is_get_route(url)) {
		if (!get)
			return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
		return get_route(s, c, url);
	}
	size_t provider = hook_route(url);
	if (provider == N_PROVIDERS)
		return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_POST))
		return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "POST");

	/* Refused before a byte of the body is read when its length says so. */
	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length) {
		errno = 0;
		unsigned long long n = strtoull(length, NULL, 10);
		if (n > MAX_BODY || errno == ERANGE) {
			request big = {.provider = provider, .too_large = true};
			return finish_webhook(s, c, &big);
		}
	}
	rq = xcalloc(1, sizeof(*rq));
	rq->provider = provider;
	rq->started = berth_now(NULL);
	*con_cls = rq;
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	request *rq = *con_cls;
	if (!rq)
		return;
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* libmicrohttpd's messages: kept while starting (for the error), dropped afterwards. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	berth_server *s = cls;
	pthread_mutex_lock(&s->mu);
	if (s->starting) {
		vsnprintf(s->start_msg, sizeof(s->start_msg), fmt, ap);
		size_t n = strlen(s->start_msg);
		while (n && (s->start_msg[n - 1] == '\n' || s->start_msg[n - 1] == '.'))
			s->start_msg[--n] = '\0';
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle ---- */

static void server_free(berth_server *s)
{
	for (size_t p = 0; p < N_PROVIDERS; p++)
		for (size_t i = 0; i < REPLAY_RING; i++)
			free(s->rings[p].ids[i]);
	pthread_mutex_destroy(&s->mu);
	free(s->watched_ref);
	free(s);
}

int berth_server_start(const berth_server_config *cfg, berth_server **out, berth_error *err)
{
	*out = NULL;
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	bool v6 = false;
	int rc = parse_listen(cfg->listen, &addr, &addr_len, &v6, err);
	if (rc)
		return rc;

	berth_server *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->cfg.listen = NULL;
	s->watched_ref = cfg->watched_ref ? xstrdup(cfg->watched_ref) : NULL;
	s->cfg.watched_ref = s->watched_ref;
	if (pthread_mutex_init(&s->mu, NULL)) {
		free(s->watched_ref);
		free(s);
		return berth_error_set(err, BERTH_EGENERIC, "starting the HTTP server: cannot create a mutex");
	}
	if (cfg->metrics) {
		/* Every series from the start at 0, so that a rate over the first request is right. */
		berth_metrics_declare(cfg->metrics, WEBHOOK_METRIC, BERTH_COUNTER,
				      "Webhook requests received, by provider and result.", NULL, 0);
		for (size_t p = 0; p < N_PROVIDERS; p++)
			for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++) {
				char labels[64];
				snprintf(labels, sizeof(labels), "provider=\"%s\",result=\"%s\"", providers[p], results[r]);
				berth_metrics_add(cfg->metrics, WEBHOOK_METRIC, labels, 0);
			}
	}

	s->starting = true;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	/* "[::]:PORT" means every address, IPv4 ones too, as elsewhere; libmicrohttpd would make
	 * an IPv6 socket IPv6-only. */
	if (v6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&addr)->sin6_addr))
		flags |= MHD_USE_DUAL_STACK;
	uint16_t port = ntohs(v6 ? ((struct sockaddr_in6 *)&addr)->sin6_port : ((struct sockaddr_in *)&addr)->sin_port);
	s->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
				     MHD_OPTION_THREAD_POOL_SIZE, POOL_THREADS,
				     MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, PER_IP_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
				     MHD_OPTION_END);
	pthread_mutex_lock(&s->mu);
	s->starting = false;
	pthread_mutex_unlock(&s->mu);
	if (!s->daemon) {
		rc = berth_error_set(err, BERTH_EUNREACHABLE, "cannot listen on %s: %s", cfg->listen,
				     s->start_msg[0] ? s->start_msg : "libmicrohttpd could not start");
		server_free(s);
		return rc;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	*out = s;
	return 0;
}

int berth_server_port(const berth_server *s)
{
	return s ? s->port : 0;
}

void berth_server_stop(berth_server *s)
{
	if (!s)
		return;
	/* Joins the threads: no handler runs, and no callback of the loop is called, afterwards. */
	MHD_stop_daemon(s->daemon);
	server_free(s);
}
