/* server/server: the real listener on 127.0.0.1:0, spoken to with libcurl (and a raw socket where
 * curl is too polite): every route and status, webhook bodies at and past 1 MiB (with a length
 * and chunked), replayed deliveries, the counters, the health callbacks, many clients at once, a
 * slow client that must not hold the others, listen addresses, and a clean stop. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/server.h"

#define SECRET "t0p-s3cret-value"
#define MAX_BODY (1024 * 1024)
#define METRIC "berth_webhook_requests_total"

/* ---- the loop's side: what the callbacks saw ---- */

typedef struct loop {
	atomic_int pushes;
	atomic_bool alive, ready, status_fails;
	pthread_mutex_t mu;
	char provider[16], after[80];
} loop;

static void on_push(void *ctx, const char *provider, const char *after)
{
	loop *l = ctx;
	pthread_mutex_lock(&l->mu);
	snprintf(l->provider, sizeof(l->provider), "%s", provider);
	snprintf(l->after, sizeof(l->after), "%s", after);
	pthread_mutex_unlock(&l->mu);
	atomic_fetch_add(&l->pushes, 1);
}

static bool alive(void *ctx)
{
	return atomic_load(&((loop *)ctx)->alive);
}

static bool ready(void *ctx)
{
	return atomic_load(&((loop *)ctx)->ready);
}

static char *status_json(void *ctx)
{
	if (atomic_load(&((loop *)ctx)->status_fails))
		return NULL;
	char *s = malloc(64);
	snprintf(s, 64, "{\"revision\":\"abc\",\"pushes\":%d}", atomic_load(&((loop *)ctx)->pushes));
	return s;
}

typedef struct fixture {
	loop l;
	berth_metrics *m;
	berth_server *s;
	int port;
} fixture;

static fixture *start(const char *secret)
{
	fixture *f = calloc(1, sizeof(*f));
	pthread_mutex_init(&f->l.mu, NULL);
	atomic_store(&f->l.alive, true);
	f->m = berth_metrics_new();
	berth_server_config cfg = {
		.listen = "127.0.0.1:0",
		.webhook_secret = secret,
		.watched_ref = "refs/heads/main",
		.on_push = on_push,
		.alive = alive,
		.ready = ready,
		.status_json = status_json,
		.ctx = &f->l,
		.metrics = f->m,
	};
	berth_error err = {0};
	assert_int_equal(berth_server_start(&cfg, &f->s, &err), 0);
	assert_null(err.message);
	f->port = berth_server_port(f->s);
	assert_true(f->port > 0 && f->port < 65536);
	return f;
}

static void stop(fixture *f)
{
	berth_server_stop(f->s);
	berth_metrics_free(f->m);
	pthread_mutex_destroy(&f->l.mu);
	free(f);
}

static double counter(fixture *f, const char *provider, const char *result)
{
	char labels[80];
	snprintf(labels, sizeof(labels), "provider=\"%s\",result=\"%s\"", provider, result);
	return berth_metrics_get(f->m, METRIC, labels);
}

/* ---- a client ---- */

typedef struct resp {
	long status;
	char *body;
	size_t len;
	char type[128], allow[64];
} resp;

typedef struct reader {
	const char *data;
	size_t len, off;
} reader;

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	resp *r = ud;
	r->body = realloc(r->body, r->len + size * n + 1);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	resp *r = ud;
	if (size * n > 6 && !strncasecmp(p, "Allow:", 6))
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
	return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	reader *rd = ud;
	size_t k = size * n < rd->len - rd->off ? size * n : rd->len - rd->off;
	memcpy(buf, rd->data + rd->off, k);
	rd->off += k;
	return k;
}

static void resp_free(resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* One request on handle h (kept alive between calls); headers end with NULL. */
static CURLcode request_on(CURL *h, int port, const char *method, const char *path, const char *const *headers,
			   const char *body, size_t len, bool chunked, resp *r)
{
	memset(r, 0, sizeof(*r));
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *hl = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	reader rd = {body, len, 0};
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (body) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &rd);
		if (chunked)
			hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		else
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (strcmp(method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	char *type = NULL;
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
	snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
	if (!r->body)
		r->body = calloc(1, 1);
	curl_slist_free_all(hl);
	return rc;
}

static long request(int port, const char *method, const char *path, const char *const *headers, const char *body,
		    size_t len, bool chunked, resp *r)
{
	CURL *h = curl_easy_init();
	assert_non_null(h);
	CURLcode rc = request_on(h, port, method, path, headers, body, len, chunked, r);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK)
		print_error("curl: %s\n", curl_easy_strerror(rc));
	assert_int_equal(rc, CURLE_OK);
	return r->status;
}

static long get(fixture *f, const char *path, resp *r)
{
	return request(f->port, "GET", path, NULL, NULL, 0, false, r);
}

/* The signature header of body for a GitHub-style provider (no cmocka assert: the workers call it). */
static bool sign_header(char out[128], const char *header, const char *prefix, const char *key, const char *body,
			size_t len)
{
	unsigned char md[32];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, md, &n) || n != 32)
		return false;
	size_t p = (size_t)snprintf(out, 128, "%s: %s", header, prefix);
	for (unsigned i = 0; i < n; i++)
		p += (size_t)snprintf(out + p, 128 - p, "%02x", md[i]);
	return true;
}

static void sign(char out[128], const char *header, const char *prefix, const char *key, const char *body, size_t len)
{
	assert_true(sign_header(out, header, prefix, key, body, len));
}

/* A signed GitHub push delivery (event "push", or ping), on handle h if given. */
static long github_on(CURL *h, fixture *f, const char *event, const char *delivery, const char *body, size_t len,
		      bool chunked, resp *r)
{
	char sig[128], ev[64], id[160];
	sign(sig, "X-Hub-Signature-256", "sha256=", SECRET, body, len);
	snprintf(ev, sizeof(ev), "X-GitHub-Event: %s", event);
	snprintf(id, sizeof(id), "X-GitHub-Delivery: %s", delivery);
	const char *headers[] = {"Content-Type: application/json", sig, ev, id, NULL};
	if (h) {
		assert_int_equal(request_on(h, f->port, "POST", "/hooks/github", headers, body, len, chunked, r), CURLE_OK);
		return r->status;
	}
	return request(f->port, "POST", "/hooks/github", headers, body, len, chunked, r);
}

static long github(fixture *f, const char *delivery, const char *body, resp *r)
{
	return github_on(NULL, f, "push", delivery, body, strlen(body), false, r);
}

static const char push_main[] = "{\"ref\":\"refs/heads/main\",\"after\":\"1111111111111111111111111111111111111111\"}";

/* ---- tests ---- */

static void test_routes(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	resp r;
	assert_int_equal(get(f, "/healthz", &r), 200);
	assert_string_equal(r.body, "ok\n");
	assert_string_equal(r.type, "text/plain; charset=utf-8");
	resp_free(&r);
	assert_int_equal(get(f, "/status", &r), 200);
	assert_string_equal(r.body, "{\"revision\":\"abc\",\"pushes\":0}");
	assert_string_equal(r.type, "application/json");
	resp_free(&r);
	assert_int_equal(get(f, "/metrics", &r), 200);
	assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "# HELP " METRIC " "));
	assert_non_null(strstr(r.body, "# TYPE " METRIC " counter\n"));
	/* Every series exists from the start. */
	assert_non_null(strstr(r.body, METRIC "{provider=\"generic\",result=\"bad_request\"} 0\n"));
	resp_free(&r);
	assert_int_equal(request(f->port, "HEAD", "/healthz", NULL, NULL, 0, false, &r), 200);
	assert_int_equal(r.len, 0);
	resp_free(&r);

	/* The status page, drawn from the same status (server/page.h; its content: test_page). */
	assert_int_equal(get(f, "/", &r), 200);
	assert_string_equal(r.type, "text/html; charset=utf-8");
	assert_non_null(strstr(r.body, "<!DOCTYPE html>"));
	assert_non_null(strstr(r.body, "<meta http-equiv=\"refresh\""));
	resp_free(&r);
	assert_int_equal(request(f->port, "POST", "/", NULL, "x", 1, false, &r), 405);
	assert_string_equal(r.allow, "GET, HEAD");
	resp_free(&r);

	/* Not found; wrong methods, with what is allowed. */
	const char *missing[] = {"/index.html", "/nope", "/hooks", "/hooks/", "/hooks/bitbucket", "/hooks/github/x", "/healthz/", "/HEALTHZ"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		assert_int_equal(get(f, missing[i], &r), 404);
		resp_free(&r);
	}
	assert_int_equal(request(f->port, "POST", "/hooks/bitbucket", NULL, "{}", 2, false, &r), 404);
	resp_free(&r);
	assert_int_equal(request(f->port, "POST", "/healthz", NULL, "x", 1, false, &r), 405);
	assert_string_equal(r.allow, "GET, HEAD");
	resp_free(&r);
	assert_int_equal(request(f->port, "DELETE", "/metrics", NULL, NULL, 0, false, &r), 405);
	resp_free(&r);
	assert_int_equal(get(f, "/hooks/github", &r), 405);
	assert_string_equal(r.allow, "POST");
	resp_free(&r);
	assert_int_equal(request(f->port, "PUT", "/hooks/gitlab", NULL, "{}", 2, false, &r), 405);
	resp_free(&r);
	/* None of these counted as webhooks. */
	assert_true(counter(f, "github", "unauthorized") == 0 && counter(f, "gitlab", "bad_request") == 0);
	stop(f);
}

static void test_health_follows_callbacks(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	resp r;
	assert_int_equal(get(f, "/readyz", &r), 503);
	assert_string_equal(r.body, "not ready\n");
	resp_free(&r);
	atomic_store(&f->l.ready, true);
	assert_int_equal(get(f, "/readyz", &r), 200);
	assert_string_equal(r.body, "ok\n");
	resp_free(&r);
	atomic_store(&f->l.alive, false);
	assert_int_equal(get(f, "/healthz", &r), 503);
	assert_string_equal(r.body, "not alive\n");
	resp_free(&r);
	atomic_store(&f->l.alive, true);
	assert_int_equal(get(f, "/healthz", &r), 200);
	resp_free(&r);
	atomic_store(&f->l.status_fails, true);
	assert_int_equal(get(f, "/status", &r), 500);
	resp_free(&r);
	stop(f);

	/* Without callbacks: alive, ready, "{}", and empty metrics. */
	berth_server_config cfg = {.listen = "127.0.0.1:0"};
	berth_server *s = NULL;
	berth_error err = {0};
	assert_int_equal(berth_server_start(&cfg, &s, &err), 0);
	int port = berth_server_port(s);
	assert_int_equal(request(port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
	resp_free(&r);
	assert_int_equal(request(port, "GET", "/readyz", NULL, NULL, 0, false, &r), 200);
	resp_free(&r);
	assert_int_equal(request(port, "GET", "/status", NULL, NULL, 0, false, &r), 200);
	assert_string_equal(r.body, "{}\n");
	resp_free(&r);
	assert_int_equal(request(port, "GET", "/metrics", NULL, NULL, 0, false, &r), 200);
	assert_int_equal(r.len, 0);
	resp_free(&r);
	/* And no secret: every webhook refused. */
	char sig[128];
	sign(sig, "X-Hub-Signature-256", "sha256=", "", push_main, strlen(push_main));
	const char *h[] = {sig, "X-GitHub-Event: push", NULL};
	assert_int_equal(request(port, "POST", "/hooks/github", h, push_main, strlen(push_main), false, &r), 401);
	assert_non_null(strstr(r.body, "no webhook secret"));
	resp_free(&r);
	berth_server_stop(s);
}

static void test_webhooks_and_counters(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	resp r;
	assert_int_equal(github(f, "d-1", push_main, &r), 202);
	assert_string_equal(r.body, "accepted: a push to refs/heads/main\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 1);
	assert_string_equal(f->l.provider, "github");
	assert_string_equal(f->l.after, "1111111111111111111111111111111111111111");

	/* The same delivery again: 202, but no second push. */
	assert_int_equal(github(f, "d-1", push_main, &r), 202);
	assert_string_equal(r.body, "ignored: delivery d-1 was seen already\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 1);
	/* The same id from another provider is another delivery. */
	const char *gl[] = {"X-Gitlab-Token: " SECRET, "X-Gitlab-Event: Push Hook", "X-Gitlab-Event-UUID: d-1", NULL};
	assert_int_equal(request(f->port, "POST", "/hooks/gitlab", gl, push_main, strlen(push_main), false, &r), 202);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 2);
	assert_string_equal(f->l.provider, "gitlab");

	/* Another ref, a ping: ignored. */
	const char *dev = "{\"ref\":\"refs/heads/dev\"}";
	assert_int_equal(github(f, "d-2", dev, &r), 202);
	assert_non_null(strstr(r.body, "ignored: a push to refs/heads/dev"));
	resp_free(&r);
	assert_int_equal(github_on(NULL, f, "ping", "d-3", "{}", 2, false, &r), 202);
	resp_free(&r);

	/* Unsigned, wrongly signed, a wrong token: 401, nothing triggered, no secret said. */
	const char *bad_sig[] = {"X-GitHub-Event: push", "X-GitHub-Delivery: d-4",
				 "X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000", NULL};
	assert_int_equal(request(f->port, "POST", "/hooks/github", bad_sig, push_main, strlen(push_main), false, &r), 401);
	assert_string_equal(r.body, "unauthorized: X-Hub-Signature-256 does not match the body\n");
	resp_free(&r);
	assert_int_equal(request(f->port, "POST", "/hooks/github", bad_sig + 2, push_main, strlen(push_main), false, &r), 401);
	resp_free(&r);
	assert_int_equal(request(f->port, "POST", "/hooks/gitea", NULL, push_main, strlen(push_main), false, &r), 401);
	assert_null(strstr(r.body, SECRET));
	resp_free(&r);
	const char *bad_tok[] = {"X-Gitlab-Token: " SECRET "x", "X-Gitlab-Event: Push Hook", NULL};
	assert_int_equal(request(f->port, "POST", "/hooks/gitlab", bad_tok, push_main, strlen(push_main), false, &r), 401);
	assert_null(strstr(r.body, SECRET));
	resp_free(&r);
	/* A failed delivery's id is not remembered: the real one still goes through. */
	assert_int_equal(github(f, "d-4", push_main, &r), 202);
	assert_string_equal(r.body, "accepted: a push to refs/heads/main\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 3);

	/* Signed but not JSON: 400. */
	assert_int_equal(github(f, "d-5", "{\"ref\":", &r), 400);
	assert_non_null(strstr(r.body, "bad request: the body is not JSON"));
	resp_free(&r);
	/* Gitea and generic. */
	char sig[128];
	sign(sig, "X-Gitea-Signature", "", SECRET, push_main, strlen(push_main));
	const char *gt[] = {sig, "X-Gitea-Event: push", "X-Gitea-Delivery: g-1", NULL};
	assert_int_equal(request(f->port, "POST", "/hooks/gitea", gt, push_main, strlen(push_main), false, &r), 202);
	resp_free(&r);
	sign(sig, "X-Signature-256", "sha256=", SECRET, push_main, strlen(push_main));
	const char *gen[] = {sig, NULL};
	assert_int_equal(request(f->port, "POST", "/hooks/generic", gen, push_main, strlen(push_main), false, &r), 202);
	resp_free(&r);
	/* No delivery id: nothing to compare, so the same body twice is two pushes. */
	assert_int_equal(request(f->port, "POST", "/hooks/generic", gen, push_main, strlen(push_main), false, &r), 202);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 6);

	assert_true(counter(f, "github", "accepted") == 2);
	assert_true(counter(f, "github", "replayed") == 1);
	assert_true(counter(f, "github", "ignored") == 2);
	assert_true(counter(f, "github", "unauthorized") == 2);
	assert_true(counter(f, "github", "bad_request") == 1);
	assert_true(counter(f, "gitlab", "accepted") == 1);
	assert_true(counter(f, "gitlab", "unauthorized") == 1);
	assert_true(counter(f, "gitea", "accepted") == 1 && counter(f, "gitea", "unauthorized") == 1);
	assert_true(counter(f, "generic", "accepted") == 2);
	assert_int_equal(get(f, "/metrics", &r), 200);
	assert_non_null(strstr(r.body, METRIC "{provider=\"github\",result=\"accepted\"} 2\n"));
	assert_non_null(strstr(r.body, METRIC "{provider=\"github\",result=\"replayed\"} 1\n"));
	assert_non_null(strstr(r.body, METRIC "{provider=\"github\",result=\"unauthorized\"} 2\n"));
	assert_null(strstr(r.body, SECRET));
	resp_free(&r);
	assert_int_equal(get(f, "/status", &r), 200);
	assert_string_equal(r.body, "{\"revision\":\"abc\",\"pushes\":6}");
	resp_free(&r);
	stop(f);
}

/* A signed push body of exactly n bytes. */
static char *push_of_size(size_t n)
{
	static const char head[] = "{\"ref\":\"refs/heads/main\",\"pad\":\"", tail[] = "\"}";
	char *b = malloc(n + 1);
	memcpy(b, head, sizeof(head) - 1);
	memset(b + sizeof(head) - 1, 'x', n - (sizeof(head) - 1) - (sizeof(tail) - 1));
	memcpy(b + n - (sizeof(tail) - 1), tail, sizeof(tail));
	return b;
}

static void test_body_limit(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	resp r;
	char *ok = push_of_size(MAX_BODY), *big = push_of_size(MAX_BODY + 1);
	/* At the limit: read whole, accepted, both ways. */
	assert_int_equal(github_on(NULL, f, "push", "s-1", ok, MAX_BODY, false, &r), 202);
	resp_free(&r);
	assert_int_equal(github_on(NULL, f, "push", "s-2", ok, MAX_BODY, true, &r), 202);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 2);
	/* One byte more: 413, with a length (refused up front) and chunked (counted as it comes). */
	assert_int_equal(github_on(NULL, f, "push", "s-3", big, MAX_BODY + 1, false, &r), 413);
	assert_non_null(strstr(r.body, "too large"));
	resp_free(&r);
	assert_int_equal(github_on(NULL, f, "push", "s-4", big, MAX_BODY + 1, true, &r), 413);
	resp_free(&r);
	/* Much more, chunked: still 413. */
	size_t huge_len = 3 * MAX_BODY;
	char *huge = push_of_size(huge_len);
	assert_int_equal(github_on(NULL, f, "push", "s-5", huge, huge_len, true, &r), 413);
	resp_free(&r);
	free(huge);
	assert_int_equal(atomic_load(&f->l.pushes), 2);
	assert_true(counter(f, "github", "too_large") == 3);
	assert_true(counter(f, "github", "accepted") == 2);
	free(ok);
	free(big);
	stop(f);
}

/* A raw connection to the server, for what curl will not do. */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until the peer closes or 10 s pass; returns what came (malloc'd). */
static char *raw_read_all(int fd)
{
	size_t len = 0;
	char *buf = calloc(1, 1);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) != 1)
			break;
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf = realloc(buf, len + (size_t)n + 1);
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

static void test_length_refused_before_body(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	/* A length past the limit and no body sent at all: the answer comes without waiting for it. */
	int fd = raw_connect(f->port);
	const char req[] = "POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n";
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	char *answer = raw_read_all(fd);
	assert_true(!strncmp(answer, "HTTP/1.1 413 ", 13));
	free(answer);
	close(fd);
	assert_true(counter(f, "gitlab", "too_large") == 1);
	stop(f);
}

static void test_slow_client_does_not_hold_the_server(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	/* Half a request's headers, then nothing; another half with part of its body. */
	int slow[2] = {raw_connect(f->port), raw_connect(f->port)};
	const char half[] = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Ev";
	const char part[] = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ref\":";
	assert_int_equal(write(slow[0], half, sizeof(half) - 1), (ssize_t)(sizeof(half) - 1));
	assert_int_equal(write(slow[1], part, sizeof(part) - 1), (ssize_t)(sizeof(part) - 1));
	resp r;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(get(f, "/healthz", &r), 200);
		resp_free(&r);
	}
	char id[16];
	snprintf(id, sizeof(id), "slow-%d", 1);
	assert_int_equal(github(f, id, push_main, &r), 202);
	resp_free(&r);
	/* Stopping does not wait for them either. */
	stop(f);
	char *rest = raw_read_all(slow[0]);
	free(rest);
	close(slow[0]);
	close(slow[1]);
}

typedef struct worker {
	fixture *f;
	int id;
	int failures;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	CURL *h = curl_easy_init();
	if (!h) {
		w->failures = 50;
		return NULL;
	}
	for (int i = 0; i < 50; i++) {
		resp r;
		if (i % 2) {
			char id[32];
			snprintf(id, sizeof(id), "w%d-%d", w->id, i);
			char sig[128], idh[64];
			if (!sign_header(sig, "X-Hub-Signature-256", "sha256=", SECRET, push_main, strlen(push_main))) {
				w->failures++;
				continue;
			}
			snprintf(idh, sizeof(idh), "X-GitHub-Delivery: %s", id);
			const char *hs[] = {sig, "X-GitHub-Event: push", idh, NULL};
			if (request_on(h, w->f->port, "POST", "/hooks/github", hs, push_main, strlen(push_main), false, &r) !=
				    CURLE_OK ||
			    r.status != 202 || strcmp(r.body, "accepted: a push to refs/heads/main\n"))
				w->failures++;
		} else {
			const char *path = (i / 2) % 2 ? "/metrics" : "/healthz";
			if (request_on(h, w->f->port, "GET", path, NULL, NULL, 0, false, &r) != CURLE_OK || r.status != 200)
				w->failures++;
		}
		resp_free(&r);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void test_concurrent_requests(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	pthread_t t[8];
	worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (worker){f, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	int failures = 0;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		failures += w[i].failures;
	}
	assert_int_equal(failures, 0);
	assert_int_equal(atomic_load(&f->l.pushes), 8 * 25);
	assert_true(counter(f, "github", "accepted") == 8 * 25);
	assert_true(counter(f, "github", "replayed") == 0);
	stop(f);
}

static void test_replay_ring_forgets_the_oldest(void **state)
{
	(void)state;
	fixture *f = start(SECRET);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	resp r;
	char id[32];
	/* 1024 ids remembered: the first is still known after 1023 more, forgotten after 1024. */
	for (int i = 0; i < 1024; i++) {
		snprintf(id, sizeof(id), "r-%d", i);
		assert_int_equal(github_on(h, f, "ping", id, "{}", 2, false, &r), 202);
		assert_null(strstr(r.body, "seen already"));
		resp_free(&r);
	}
	assert_int_equal(github_on(h, f, "push", "r-0", push_main, strlen(push_main), false, &r), 202);
	assert_non_null(strstr(r.body, "seen already"));
	resp_free(&r);
	assert_int_equal(github_on(h, f, "push", "r-1024", push_main, strlen(push_main), false, &r), 202); /* evicts r-0 */
	assert_string_equal(r.body, "accepted: a push to refs/heads/main\n");
	resp_free(&r);
	assert_int_equal(github_on(h, f, "push", "r-0", push_main, strlen(push_main), false, &r), 202);
	assert_string_equal(r.body, "accepted: a push to refs/heads/main\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->l.pushes), 2);
	curl_easy_cleanup(h);
	stop(f);
}

static void test_listen_addresses(void **state)
{
	(void)state;
	const char *bad[] = {NULL, "", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80a",
			     "127.0.0.1:-1", "localhost:80", "::1:80", "[::1]80", "[::1", "[127.0.0.1]:80", "1.2.3.4.5:80",
			     "127.0.0.1:123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		berth_server_config cfg = {.listen = bad[i]};
		berth_server *s = (berth_server *)&cfg;
		berth_error err = {0};
		assert_int_equal(berth_server_start(&cfg, &s, &err), BERTH_EINVALID);
		assert_null(s);
		assert_int_equal(err.code, BERTH_EINVALID);
		assert_non_null(err.message);
		berth_error_clear(&err);
	}

	/* A port in use: EUNREACHABLE, saying which. */
	fixture *f = start(SECRET);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
	berth_server_config cfg = {.listen = addr};
	berth_server *s = NULL;
	berth_error err = {0};
	assert_int_equal(berth_server_start(&cfg, &s, &err), BERTH_EUNREACHABLE);
	assert_null(s);
	assert_non_null(strstr(err.message, addr));
	berth_error_clear(&err);
	stop(f);

	/* ":PORT" is every IPv4 address. */
	cfg.listen = ":0";
	assert_int_equal(berth_server_start(&cfg, &s, &err), 0);
	resp r;
	assert_int_equal(request(berth_server_port(s), "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
	resp_free(&r);
	berth_server_stop(s);

	/* IPv6 loopback, where the machine has it. */
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0;
	if (fd >= 0)
		close(fd);
	if (!have_v6) {
		print_message("no IPv6 loopback here: [::1] not tried\n");
		return;
	}
	cfg.listen = "[::1]:0";
	assert_int_equal(berth_server_start(&cfg, &s, &err), 0);
	int port = berth_server_port(s);
	assert_true(port > 0);
	CURL *h = curl_easy_init();
	char url[64];
	snprintf(url, sizeof(url), "http://[::1]:%d/healthz", port);
	memset(&r, 0, sizeof(r));
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	resp_free(&r);
	curl_easy_cleanup(h);
	berth_server_stop(s);

	/* "[::]" is every address, IPv4 ones too. */
	cfg.listen = "[::]:0";
	assert_int_equal(berth_server_start(&cfg, &s, &err), 0);
	assert_int_equal(request(berth_server_port(s), "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
	resp_free(&r);
	berth_server_stop(s);
}

static void test_stop_is_clean(void **state)
{
	(void)state;
	/* Started and stopped again and again, each time with a kept-alive connection open. */
	for (int round = 0; round < 5; round++) {
		fixture *f = start(SECRET);
		CURL *h = curl_easy_init();
		resp r;
		assert_int_equal(request_on(h, f->port, "GET", "/healthz", NULL, NULL, 0, false, &r), CURLE_OK);
		assert_int_equal(r.status, 200);
		resp_free(&r);
		int port = f->port;
		stop(f);
		/* Nothing listens any more. */
		CURLcode rc = request_on(h, port, "GET", "/healthz", NULL, NULL, 0, false, &r);
		assert_int_not_equal(rc, CURLE_OK);
		resp_free(&r);
		curl_easy_cleanup(h);
	}
	berth_server_stop(NULL);
	assert_int_equal(berth_server_port(NULL), 0);
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_health_follows_callbacks),
		cmocka_unit_test(test_webhooks_and_counters),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_length_refused_before_body),
		cmocka_unit_test(test_slow_client_does_not_hold_the_server),
		cmocka_unit_test(test_concurrent_requests),
		cmocka_unit_test(test_replay_ring_forgets_the_oldest),
		cmocka_unit_test(test_listen_addresses),
		cmocka_unit_test(test_stop_is_clean),
	};
	int rc = cmocka_run_group_tests_name("server", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
