/* The Docker Engine API client: configuration from the environment, filters, transport errors,
 * version negotiation and keep-alive against a tiny in-process HTTP server, and (when
 * BERTH_TEST_DOCKER_HOST names one) a real engine. ssh:// hosts run against a fake ssh: this
 * binary itself, started under the name "ssh", relaying stdin/stdout to the tiny server or to
 * the real engine's socket. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "transport/docker.h"

static void clear_docker_env(void)
{
	unsetenv("DOCKER_HOST");
	unsetenv("DOCKER_TLS_VERIFY");
	unsetenv("DOCKER_CERT_PATH");
	unsetenv("DOCKER_API_VERSION");
}

static int env_setup(void **state)
{
	(void)state;
	clear_docker_env();
	return 0;
}

/* ---- configuration ---- */

static void test_config_host_precedence(void **state)
{
	docker_config c;
	docker_config_init(&c, NULL, NULL, NULL, NULL);
	assert_string_equal(c.host, "unix:///var/run/docker.sock");
	assert_false(c.tls);
	assert_false(c.tls_verify);
	assert_null(c.ca_file);
	assert_null(c.cert_file);
	assert_null(c.key_file);
	assert_null(c.api_version);

	setenv("DOCKER_HOST", "tcp://10.1.2.3:2375", 1);
	docker_config_init(&c, NULL, NULL, NULL, NULL);
	assert_string_equal(c.host, "tcp://10.1.2.3:2375");
	docker_config_init(&c, "", NULL, NULL, NULL); /* empty spec endpoint: not set */
	assert_string_equal(c.host, "tcp://10.1.2.3:2375");
	docker_config_init(&c, "unix:///run/other.sock", NULL, NULL, NULL);
	assert_string_equal(c.host, "unix:///run/other.sock");

	setenv("DOCKER_HOST", "", 1); /* empty: the default */
	docker_config_init(&c, NULL, NULL, NULL, NULL);
	assert_string_equal(c.host, "unix:///var/run/docker.sock");

	setenv("DOCKER_API_VERSION", "1.40", 1);
	docker_config_init(&c, NULL, NULL, NULL, NULL);
	assert_string_equal(c.api_version, "1.40");
}

static void test_config_tls(void **state)
{
	docker_config c;
	setenv("DOCKER_TLS_VERIFY", "", 1);
	docker_config_init(&c, "tcp://h:2376", NULL, NULL, NULL);
	assert_false(c.tls);

	setenv("DOCKER_TLS_VERIFY", "0", 1); /* any non-empty value, even 0 */
	docker_config_init(&c, "tcp://h:2376", NULL, NULL, NULL);
	assert_true(c.tls);
	assert_true(c.tls_verify);
	assert_null(c.ca_file); /* no DOCKER_CERT_PATH */

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", "/etc/docker/certs/", 1);
	docker_config_init(&c, "tcp://h:2376", NULL, NULL, NULL);
	assert_true(c.tls);
	assert_true(c.tls_verify);
	assert_string_equal(c.ca_file, "/etc/docker/certs/ca.pem");
	assert_string_equal(c.cert_file, "/etc/docker/certs/cert.pem");
	assert_string_equal(c.key_file, "/etc/docker/certs/key.pem");

	/* the spec's files win over DOCKER_CERT_PATH, one by one */
	docker_config_init(&c, "tcp://h:2376", "/spec/ca.pem", NULL, NULL);
	assert_string_equal(c.ca_file, "/spec/ca.pem");
	assert_string_equal(c.cert_file, "/etc/docker/certs/cert.pem");
	assert_string_equal(c.key_file, "/etc/docker/certs/key.pem");

	/* DOCKER_CERT_PATH alone does not turn TLS on */
	unsetenv("DOCKER_TLS_VERIFY");
	docker_config_init(&c, "tcp://h:2376", NULL, NULL, NULL);
	assert_false(c.tls);
	assert_null(c.ca_file);

	/* certificates in the spec turn TLS (with verification) on */
	unsetenv("DOCKER_CERT_PATH");
	docker_config_init(&c, "tcp://h:2376", "/s/ca.pem", "/s/cert.pem", "/s/key.pem");
	assert_true(c.tls);
	assert_true(c.tls_verify);
	assert_string_equal(c.ca_file, "/s/ca.pem");
	assert_string_equal(c.cert_file, "/s/cert.pem");
	assert_string_equal(c.key_file, "/s/key.pem");
}

/* ---- filters ---- */

static void test_filters_encoding(void **state)
{
	char *f = docker_filters("label", "a=b");
	assert_string_equal(f, "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
	free(f);
	f = docker_filters("label", "berth.owner=my app/x_y~z-1");
	assert_string_equal(f, "%7B%22label%22%3A%5B%22berth.owner%3Dmy%20app%2Fx_y~z-1%22%5D%7D");
	free(f);
	f = docker_filters("name", "q\"&+");
	assert_string_equal(f, "%7B%22name%22%3A%5B%22q%5C%22%26%2B%22%5D%7D");
	free(f);
}

/* ---- transport errors ---- */

static void expect_open_error(const docker_config *c, const char *expected)
{
	char *err = NULL;
	docker *d = docker_open(c, &err);
	assert_null(d);
	assert_non_null(err);
	if (strcmp(err, expected) != 0)
		print_error("expected: %s\ngot:      %s\n", expected, err);
	assert_string_equal(err, expected);
	free(err);
}

static void test_unreachable(void **state)
{
	docker_config c;
	docker_config_init(&c, "tcp://127.0.0.1:1", NULL, NULL, NULL);
	expect_open_error(&c, "cannot reach the Docker engine at tcp://127.0.0.1:1: Couldn't connect to server");
	docker_config_init(&c, "unix:///nonexistent.sock", NULL, NULL, NULL);
	expect_open_error(&c, "cannot reach the Docker engine at unix:///nonexistent.sock: Couldn't connect to server");
	/* pinned version: still connects first */
	docker_config_init(&c, "unix:///nonexistent.sock", NULL, NULL, NULL);
	c.api_version = "1.41";
	expect_open_error(&c, "cannot reach the Docker engine at unix:///nonexistent.sock: Couldn't connect to server");
}

static void test_bad_hosts(void **state)
{
	docker_config c;
	docker_config_init(&c, "npipe:////./pipe/docker_engine", NULL, NULL, NULL);
	expect_open_error(&c, "unsupported Docker host npipe:////./pipe/docker_engine: only unix://, tcp:// and "
			      "ssh:// endpoints are supported");
	docker_config_init(&c, "localhost:2375", NULL, NULL, NULL);
	expect_open_error(&c, "invalid Docker host localhost:2375: expected unix:///path, tcp://host:port or "
			      "ssh://[user@]host[:port]");
	docker_config_init(&c, "ssh://me:secret@host", NULL, NULL, NULL);
	expect_open_error(&c, "invalid Docker host ssh://me:xxxxx@host: a password in the URL is not supported "
			      "(use a key, or ssh-agent)");
	docker_config_init(&c, "unix://", NULL, NULL, NULL);
	expect_open_error(&c, "invalid Docker host unix://: the unix socket path is empty");
	docker_config_init(&c, "unix:///nonexistent.sock", NULL, NULL, NULL);
	c.api_version = "latest";
	expect_open_error(&c, "invalid Docker API version 'latest' (expected e.g. 1.41)");
}

/* ---- tiny servers on 127.0.0.1 ---- */

static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t l = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Accepts one connection, answers whatever arrives (a TLS ClientHello) with plain HTTP, closes. */
static void *garbage_server(void *arg)
{
	int lfd = *(int *)arg;
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	if (poll(&p, 1, 10000) == 1) {
		int c = accept(lfd, NULL, NULL);
		if (c >= 0) {
			char buf[512];
			struct pollfd q = {.fd = c, .events = POLLIN};
			if (poll(&q, 1, 2000) == 1)
				(void)!read(c, buf, sizeof(buf));
			static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage";
			(void)!write(c, resp, sizeof(resp) - 1);
			usleep(100 * 1000);
			close(c);
		}
	}
	return NULL;
}

static void test_tls_errors(void **state)
{
	docker_config c;
	docker_config_init(&c, "tcp://127.0.0.1:2376", NULL, "/nonexistent-berth/cert.pem", "/nonexistent-berth/key.pem");
	expect_open_error(&c, "cannot read TLS certificate /nonexistent-berth/cert.pem: No such file or directory");

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", "/x", 1);
	docker_config_init(&c, "tcp://127.0.0.1:2376", NULL, NULL, NULL);
	expect_open_error(&c, "cannot read TLS certificate /x/cert.pem: No such file or directory");
	clear_docker_env();

	/* a TLS endpoint that speaks plain HTTP */
	int port;
	int lfd = listen_loopback(&port);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, garbage_server, &lfd), 0);
	char host[64], prefix[128];
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%d", port);
	snprintf(prefix, sizeof(prefix), "TLS handshake with the Docker engine at %s failed: ", host);
	docker_config_init(&c, host, NULL, NULL, NULL);
	c.tls = true;
	c.tls_verify = false;
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	pthread_join(th, NULL);
	close(lfd);
	assert_null(d);
	assert_non_null(err);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		print_error("got: %s\n", err);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_true(strlen(err) > strlen(prefix)); /* the detail from curl/OpenSSL */
	free(err);
}

/* A minimal HTTP/1.1 server with keep-alive: /_ping answers with a configurable Api-Version
 * header, /vX.Y/echo returns what it received, /vX.Y/old is the engine's text/plain too-old
 * error, everything else is a JSON 404. */
typedef struct {
	int lfd;
	const char *ping_version; /* NULL: no Api-Version header */
	int ping_status;
	atomic_int stop;
	pthread_mutex_t mu;
	int accepts, requests;
	char last_path[256];
} fake_engine;

static void fake_reply(int c, int status, const char *ctype, const char *extra, const char *body)
{
	char *r = NULL;
	int n = asprintf(&r,
			 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n\r\n%s", status, ctype,
			 extra ? extra : "", strlen(body), body);
	assert_true(n > 0);
	(void)!write(c, r, (size_t)n);
	free(r);
}

/* Serves requests on one connection until the client closes it. */
static void fake_serve(fake_engine *f, int c)
{
	char buf[65536];
	size_t len = 0;
	for (;;) {
		char *end = NULL;
		while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
			struct pollfd p = {.fd = c, .events = POLLIN};
			if (f->stop || poll(&p, 1, 100) < 0)
				return;
			if (!(p.revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				return;
			len += (size_t)n;
		}
		size_t hlen = (size_t)(end - buf) + 4;
		buf[hlen - 1] = '\0';
		size_t clen = 0;
		const char *ctype = "";
		char ctype_buf[128] = "";
		for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
			if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
				clen = strtoul(line + 17, NULL, 10);
			if (strncasecmp(line + 2, "Content-Type:", 13) == 0) {
				sscanf(line + 15, " %127[^\r]", ctype_buf);
				ctype = ctype_buf;
			}
		}
		while (len < hlen + clen) {
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				return;
			len += (size_t)n;
		}
		char method[16] = "", path[256] = "";
		sscanf(buf, "%15s %255s", method, path);
		char *body = strndup(buf + hlen, clen);
		pthread_mutex_lock(&f->mu);
		f->requests++;
		snprintf(f->last_path, sizeof(f->last_path), "%s", path);
		pthread_mutex_unlock(&f->mu);

		if (strcmp(path, "/_ping") == 0) {
			char extra[64] = "";
			if (f->ping_version)
				snprintf(extra, sizeof(extra), "Api-Version: %s\r\n", f->ping_version);
			fake_reply(c, f->ping_status ? f->ping_status : 200, "text/plain; charset=utf-8", extra,
				   f->ping_status >= 400 ? "broken\n" : "OK");
		} else if (strstr(path, "/echo")) {
			json_t *j = json_pack("{s:s,s:s,s:s}", "method", method, "content_type", ctype, "body", body);
			char *s = json_dumps(j, JSON_COMPACT);
			fake_reply(c, strcmp(method, "POST") == 0 ? 201 : 200, "application/json", NULL, s);
			free(s);
			json_decref(j);
		} else if (strstr(path, "/old")) {
			fake_reply(c, 400, "text/plain; charset=utf-8", NULL,
				   "client version 1.10 is too old. Minimum supported API version is 1.12, "
				   "please upgrade your client to a newer version\n");
		} else if (strstr(path, "/empty")) {
			fake_reply(c, 204, "application/json", NULL, "");
		} else if (strstr(path, "/bye")) {
			/* answers, then drops the connection without saying so (an idle timeout) */
			fake_reply(c, 200, "application/json", NULL, "{}");
			free(body);
			return;
		} else {
			fake_reply(c, 404, "application/json", NULL, "{\"message\":\"page not found\"}\n");
		}
		free(body);
		memmove(buf, buf + hlen + clen, len - hlen - clen);
		len -= hlen + clen;
	}
}

static void *fake_engine_run(void *arg)
{
	fake_engine *f = arg;
	while (!f->stop) {
		struct pollfd p = {.fd = f->lfd, .events = POLLIN};
		if (poll(&p, 1, 100) != 1)
			continue;
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			continue;
		pthread_mutex_lock(&f->mu);
		f->accepts++;
		pthread_mutex_unlock(&f->mu);
		fake_serve(f, c);
		close(c);
	}
	return NULL;
}

typedef struct {
	fake_engine f;
	pthread_t th;
	char host[64];
} fake_handle;

static void fake_start(fake_handle *h, const char *ping_version, int ping_status)
{
	memset(h, 0, sizeof(*h));
	int port;
	h->f.lfd = listen_loopback(&port);
	h->f.ping_version = ping_version;
	h->f.ping_status = ping_status;
	pthread_mutex_init(&h->f.mu, NULL);
	snprintf(h->host, sizeof(h->host), "tcp://127.0.0.1:%d", port);
	assert_int_equal(pthread_create(&h->th, NULL, fake_engine_run, &h->f), 0);
}

static void fake_stop(fake_handle *h)
{
	h->f.stop = 1;
	pthread_join(h->th, NULL);
	close(h->f.lfd);
	pthread_mutex_destroy(&h->f.mu);
}

static const char *negotiate_with(const char *ping_version, char *out, size_t n)
{
	fake_handle h;
	fake_start(&h, ping_version, 0);
	docker_config c;
	docker_config_init(&c, h.host, NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	if (!d)
		print_error("%s\n", err);
	assert_non_null(d);
	snprintf(out, n, "%s", docker_api_version(d));
	assert_string_equal(docker_endpoint(d), h.host);
	docker_close(d);
	fake_stop(&h);
	return out;
}

static void test_negotiation(void **state)
{
	char v[16];
	assert_string_equal(negotiate_with("1.41", v, sizeof(v)), "1.41");
	assert_string_equal(negotiate_with("1.45", v, sizeof(v)), "1.41"); /* newer engine: our max */
	assert_string_equal(negotiate_with("1.40", v, sizeof(v)), "1.40"); /* older engine: its version */
	assert_string_equal(negotiate_with("1.9", v, sizeof(v)), "1.9");   /* numeric, not string, order */
	assert_string_equal(negotiate_with(NULL, v, sizeof(v)), "1.24");   /* no header */

	/* DOCKER_API_VERSION pins the version, whatever the engine says */
	setenv("DOCKER_API_VERSION", "1.38", 1);
	assert_string_equal(negotiate_with("1.41", v, sizeof(v)), "1.38");
	clear_docker_env();

	/* something that is not an engine */
	fake_handle h;
	fake_start(&h, NULL, 500);
	docker_config c;
	docker_config_init(&c, h.host, NULL, NULL, NULL);
	char expected[160];
	snprintf(expected, sizeof(expected), "the Docker engine at %s answered /_ping with HTTP 500: broken", h.host);
	expect_open_error(&c, expected);
	fake_stop(&h);
}

static void test_requests_keepalive_and_errors(void **state)
{
	fake_handle h;
	fake_start(&h, "1.40", 0);
	docker_config c;
	docker_config_init(&c, h.host, NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	assert_non_null(d);
	assert_null(err);
	assert_int_equal(docker_requests(d), 1); /* the ping */
	assert_int_equal(docker_writes(d), 0);

	long status = 0;
	json_t *resp = NULL;
	json_t *body = json_pack("{s:s,s:{s:s}}", "Name", "n\u00e9t", "Labels", "berth.test", "1");
	assert_int_equal(docker_request(d, "POST", "/networks/create/echo", body, &status, &resp, &err), 0);
	assert_int_equal(status, 201);
	assert_null(err);
	pthread_mutex_lock(&h.f.mu);
	char last[256];
	snprintf(last, sizeof(last), "%s", h.f.last_path);
	pthread_mutex_unlock(&h.f.mu);
	assert_string_equal(last, "/v1.40/networks/create/echo");
	assert_string_equal(json_string_value(json_object_get(resp, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(resp, "content_type")), "application/json");
	json_t *sent = json_loads(json_string_value(json_object_get(resp, "body")), 0, NULL);
	assert_true(json_equal(sent, body));
	json_decref(sent);
	json_decref(resp);
	assert_int_equal(body->refcount, 1); /* borrowed, not stolen */

	assert_int_equal(docker_request(d, "PUT", "/x/echo", body, &status, &resp, &err), 0);
	assert_string_equal(json_string_value(json_object_get(resp, "method")), "PUT");
	json_decref(resp);
	json_decref(body);

	assert_int_equal(docker_request(d, "DELETE", "/x/echo", NULL, &status, &resp, &err), 0);
	assert_string_equal(json_string_value(json_object_get(resp, "method")), "DELETE");
	assert_string_equal(json_string_value(json_object_get(resp, "body")), "");
	json_decref(resp);

	assert_int_equal(docker_request(d, "POST", "/x/echo", NULL, &status, &resp, &err), 0);
	assert_string_equal(json_string_value(json_object_get(resp, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(resp, "body")), "");
	json_decref(resp);

	assert_int_equal(docker_request(d, "GET", "/x/empty", NULL, &status, &resp, &err), 0);
	assert_int_equal(status, 204);
	assert_null(resp);
	assert_null(err);

	/* error bodies */
	assert_int_equal(docker_request(d, "GET", "/nope", NULL, &status, &resp, &err), BERTH_ENOTFOUND);
	assert_int_equal(status, 404);
	assert_string_equal(err, "HTTP 404: page not found");
	assert_non_null(resp);
	json_decref(resp);
	free(err);
	assert_int_equal(docker_request(d, "GET", "/old", NULL, &status, &resp, &err), BERTH_EINVALID);
	assert_int_equal(status, 400);
	assert_null(resp); /* text/plain */
	assert_string_equal(err, "HTTP 400: client version 1.10 is too old. Minimum supported API version is 1.12, "
				 "please upgrade your client to a newer version");
	free(err);
	err = NULL;

	/* NULL response: the body is dropped */
	assert_int_equal(docker_request(d, "GET", "/x/echo", NULL, &status, NULL, &err), 0);
	assert_int_equal(status, 200);

	/* a bad path is refused before any request */
	assert_int_equal(docker_request(d, "GET", "info", NULL, &status, &resp, &err), BERTH_EINVALID);
	assert_non_null(err);
	free(err);

	assert_int_equal(docker_requests(d), 9);
	assert_int_equal(docker_writes(d), 4);
	/* every request went over the ping's connection */
	pthread_mutex_lock(&h.f.mu);
	assert_int_equal(h.f.accepts, 1);
	assert_int_equal(h.f.requests, 9);
	pthread_mutex_unlock(&h.f.mu);
	docker_close(d);
	fake_stop(&h);
}

/* ---- a real engine ---- */

static const char *real_engine(void)
{
	const char *h = getenv("BERTH_TEST_DOCKER_HOST");
	if (!h || !*h) {
		print_message("BERTH_TEST_DOCKER_HOST is not set: skipping the real-engine test\n");
		return NULL;
	}
	return h;
}

static docker *open_real(const char *host)
{
	docker_config c;
	docker_config_init(&c, host, NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	if (!d)
		print_error("docker_open(%s): %s\n", host, err);
	assert_non_null(d);
	assert_null(err);
	return d;
}

/* GET /info; returns Swarm.LocalNodeState ("" if missing). */
static const char *local_node_state(docker *d, char *buf, size_t n)
{
	long status = 0;
	json_t *info = NULL;
	char *err = NULL;
	assert_int_equal(docker_request(d, "GET", "/info", NULL, &status, &info, &err), 0);
	assert_int_equal(status, 200);
	assert_null(err);
	json_t *swarm = json_object_get(info, "Swarm");
	assert_true(json_is_object(swarm));
	const char *s = json_string_value(json_object_get(swarm, "LocalNodeState"));
	snprintf(buf, n, "%s", s ? s : "");
	json_decref(info);
	return buf;
}

typedef struct {
	docker *d;
	int failures;
} thread_arg;

static void *hammer(void *arg)
{
	thread_arg *a = arg;
	for (int i = 0; i < 10; i++) {
		long status = 0;
		json_t *r = NULL;
		char *err = NULL;
		if (docker_request(a->d, "GET", "/version", NULL, &status, &r, &err) != 0 || status != 200 ||
		    !json_is_string(json_object_get(r, "ApiVersion")))
			a->failures++;
		json_decref(r);
		free(err);
	}
	return NULL;
}

static void test_real_engine(void **state)
{
	const char *host = real_engine();
	if (!host) {
		skip();
		return;
	}
	docker *d = open_real(host);
	assert_string_equal(docker_api_version(d), "1.41");
	assert_string_equal(docker_endpoint(d), host);

	unsigned long before = docker_requests(d);
	char st[32];
	local_node_state(d, st, sizeof(st));
	assert_int_equal(docker_requests(d), before + 1);

	long status = 0;
	json_t *resp = NULL;
	char *err = NULL;
	assert_int_equal(docker_request(d, "GET", "/containers/nonexistent-xyz/json", NULL, &status, &resp, &err), BERTH_ENOTFOUND);
	assert_int_equal(status, 404);
	assert_string_equal(err, "HTTP 404: No such container: nonexistent-xyz");
	free(err);
	json_decref(resp);
	assert_int_equal(docker_requests(d), before + 2);
	assert_int_equal(docker_request(d, "GET", "/no/such/url", NULL, &status, &resp, &err), BERTH_ENOTFOUND);
	assert_int_equal(status, 404);
	assert_string_equal(err, "HTTP 404: page not found");
	free(err);
	json_decref(resp);
	assert_int_equal(docker_requests(d), before + 3);
	assert_int_equal(docker_writes(d), 0);

	/* several threads on one handle: pooled handles, exact counts */
	pthread_t th[8];
	thread_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (thread_arg){d, 0};
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(docker_requests(d), before + 3 + 80);
	docker_close(d);

	/* pinned versions the engine refuses: JSON and text/plain error bodies */
	docker_config c;
	docker_config_init(&c, host, NULL, NULL, NULL);
	c.api_version = "1.99";
	d = docker_open(&c, &err);
	assert_non_null(d);
	assert_string_equal(docker_api_version(d), "1.99");
	assert_int_equal(docker_request(d, "GET", "/version", NULL, &status, &resp, &err), BERTH_EINVALID);
	assert_int_equal(status, 400);
	assert_non_null(strstr(err, "HTTP 400: client version 1.99 is too new"));
	free(err);
	json_decref(resp);
	docker_close(d);
	c.api_version = "1.5";
	d = docker_open(&c, &err);
	assert_non_null(d);
	assert_int_equal(docker_request(d, "GET", "/version", NULL, &status, &resp, &err), BERTH_EINVALID);
	assert_int_equal(status, 400);
	assert_null(resp); /* text/plain */
	assert_non_null(strstr(err, "HTTP 400: client version 1.5 is too old"));
	free(err);
	docker_close(d);
}

static void test_real_engine_swarm(void **state)
{
	const char *host = real_engine();
	if (!host) {
		skip();
		return;
	}
	docker *d = open_real(host);
	char st[32];
	if (strcmp(local_node_state(d, st, sizeof(st)), "active") != 0) {
		print_message("the engine at %s is not in swarm mode (LocalNodeState %s): skipping\n", host, st);
		docker_close(d);
		skip();
		return;
	}
	long status = 0;
	json_t *resp = NULL;
	char *err = NULL;
	unsigned long before = docker_requests(d);
	assert_int_equal(docker_request(d, "GET", "/services/nonexistent-xyz", NULL, &status, &resp, &err), BERTH_ENOTFOUND);
	assert_int_equal(status, 404);
	assert_string_equal(err, "HTTP 404: service nonexistent-xyz not found");
	free(err);
	json_decref(resp);
	assert_int_equal(docker_requests(d), before + 1);

	char name[96];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "berth-test-%ld-%ld%09ld", (long)getpid(), (long)ts.tv_sec, ts.tv_nsec);
	json_t *body = json_pack("{s:s,s:s,s:b,s:b,s:{s:s}}", "Name", name, "Driver", "overlay", "Attachable", 1,
				 "CheckDuplicate", 1, "Labels", "berth.test", "1");
	unsigned long writes = docker_writes(d);
	assert_int_equal(docker_request(d, "POST", "/networks/create", body, &status, &resp, &err), 0);
	if (status != 201)
		print_error("%s\n", err);
	assert_int_equal(status, 201);
	assert_null(err);
	const char *id = json_string_value(json_object_get(resp, "Id"));
	assert_non_null(id);
	char *idc = strdup(id);
	json_decref(resp);

	/* the same name again: 409 with the engine's message */
	assert_int_equal(docker_request(d, "POST", "/networks/create", body, &status, &resp, &err), BERTH_ECONFLICT);
	assert_int_equal(status, 409);
	char expected[200];
	snprintf(expected, sizeof(expected), "HTTP 409: network with name %s already exists", name);
	assert_string_equal(err, expected);
	free(err);
	json_decref(resp);
	json_decref(body);

	/* it carries the label */
	char path[256];
	snprintf(path, sizeof(path), "/networks/%s", idc);
	assert_int_equal(docker_request(d, "GET", path, NULL, &status, &resp, &err), 0);
	assert_int_equal(status, 200);
	assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "Labels"), "berth.test")), "1");
	assert_string_equal(json_string_value(json_object_get(resp, "Scope")), "swarm");
	json_decref(resp);

	assert_int_equal(docker_request(d, "DELETE", path, NULL, &status, &resp, &err), 0);
	assert_int_equal(status, 204);
	assert_null(err);
	assert_null(resp);
	assert_int_equal(docker_writes(d), writes + 3);
	assert_int_equal(docker_requests(d), before + 1 + 4);
	free(idc);
	docker_close(d);
}

/* ---- ssh:// through a fake ssh ---- */

/* The fake ssh (this binary, run as "ssh"): appends its command line to $FAKE_SSH_LOG, then
 *   FAKE_SSH_MODE=fail      writes $FAKE_SSH_STDERR to stderr and exits with $FAKE_SSH_STATUS;
 *   FAKE_SSH_MODE=relay     relays stdin/stdout to 127.0.0.1:$FAKE_SSH_PORT, or to the unix
 *                           socket $FAKE_SSH_UNIX; when the server closes, it says so on stderr and
 *                           exits with $FAKE_SSH_EOF_STATUS (default 0), like ssh does;
 *   FAKE_SSH_MODE=stubborn  relays, but ignores SIGTERM and outlives the end of its stdin;
 * and with FAKE_SSH_CUT_ON=TEXT, once a request holding TEXT has gone by, passes on the answer
 * less its last 5 bytes and dies as ssh does when the network goes (status 255). */
static int fake_ssh_main(int argc, char **argv)
{
	const char *log = getenv("FAKE_SSH_LOG");
	if (log) {
		FILE *f = fopen(log, "a");
		if (!f)
			return 97;
		for (int i = 0; i < argc; i++)
			fprintf(f, "%s%s", i ? " " : "", argv[i]);
		fputc('\n', f);
		fclose(f);
	}
	const char *mode = getenv("FAKE_SSH_MODE");
	mode = mode ? mode : "";
	if (strcmp(mode, "fail") == 0) {
		const char *e = getenv("FAKE_SSH_STDERR");
		fputs(e ? e : "", stderr);
		const char *st = getenv("FAKE_SSH_STATUS");
		return st ? atoi(st) : 255;
	}
	bool stubborn = strcmp(mode, "stubborn") == 0;
	if (stubborn)
		signal(SIGTERM, SIG_IGN);
	int t;
	const char *upath = getenv("FAKE_SSH_UNIX");
	if (upath) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", upath);
		t = socket(AF_UNIX, SOCK_STREAM, 0);
		if (t < 0 || connect(t, (struct sockaddr *)&a, sizeof(a)) < 0)
			return 98;
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		const char *port = getenv("FAKE_SSH_PORT");
		a.sin_port = htons((unsigned short)atoi(port ? port : "0"));
		t = socket(AF_INET, SOCK_STREAM, 0);
		if (t < 0 || connect(t, (struct sockaddr *)&a, sizeof(a)) < 0)
			return 98;
	}
	bool in_open = true, cut = false;
	const char *cut_on = getenv("FAKE_SSH_CUT_ON");
	char buf[65536];
	for (;;) {
		struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN}, {.fd = t, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 96;
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				if (stubborn)
					for (;;)
						pause();
				shutdown(t, SHUT_WR);
			} else if (write(t, buf, (size_t)n) != n) {
				return 95;
			} else if (cut_on && memmem(buf, (size_t)n, cut_on, strlen(cut_on))) {
				cut = true;
			}
		}
		if (p[1].revents) {
			ssize_t n = read(t, buf, sizeof(buf));
			if (n <= 0) {
				fputs("Connection to fakehost closed by remote host.\n", stderr);
				const char *st = getenv("FAKE_SSH_EOF_STATUS");
				return st ? atoi(st) : 0;
			}
			if (cut) {
				(void)!write(1, buf, n > 5 ? (size_t)n - 5 : 0);
				fputs("Connection to fakehost closed by remote host.\n", stderr);
				return 255;
			}
			if (write(1, buf, (size_t)n) != n)
				return 95;
		}
	}
}

static char self_exe[PATH_MAX];

typedef struct {
	char bin[64];    /* holds "ssh", a link to this binary; PATH while a test runs */
	char tmp[64];    /* TMPDIR: where the handle's private directory goes */
	char log[128];   /* FAKE_SSH_LOG */
	char *old_path;
} ssh_fixture;

static int ssh_setup(void **state)
{
	clear_docker_env();
	ssh_fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->bin, sizeof(fx->bin), "/tmp/berth-test-bin-XXXXXX");
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/berth-test-tmp-XXXXXX");
	if (!mkdtemp(fx->bin) || !mkdtemp(fx->tmp))
		return -1;
	char link[128];
	snprintf(link, sizeof(link), "%s/ssh", fx->bin);
	if (symlink(self_exe, link) < 0)
		return -1;
	snprintf(fx->log, sizeof(fx->log), "%s/log", fx->bin);
	const char *p = getenv("PATH");
	fx->old_path = strdup(p ? p : "/usr/bin:/bin");
	setenv("PATH", fx->bin, 1);
	setenv("TMPDIR", fx->tmp, 1);
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("BERTH_SSH_CONFIG");
	setenv("FAKE_SSH_LOG", fx->log, 1);
	*state = fx;
	return 0;
}

static int ssh_teardown(void **state)
{
	ssh_fixture *fx = *state;
	setenv("PATH", fx->old_path, 1);
	free(fx->old_path);
	unsetenv("TMPDIR");
	const char *vars[] = {"FAKE_SSH_LOG",	     "FAKE_SSH_MODE",	    "FAKE_SSH_PORT",	"FAKE_SSH_UNIX",
			      "FAKE_SSH_STDERR",     "FAKE_SSH_STATUS",     "FAKE_SSH_EOF_STATUS", "FAKE_SSH_CUT_ON",
			      "BERTH_SSH_CONFIG"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	char f[160];
	snprintf(f, sizeof(f), "%s/ssh", fx->bin);
	unlink(f);
	unlink(fx->log);
	rmdir(fx->bin);
	rmdir(fx->tmp);
	free(fx);
	return 0;
}

/* Lines in the fake ssh's log: one per ssh started. */
static int ssh_starts(const ssh_fixture *fx, char *first, size_t n)
{
	FILE *f = fopen(fx->log, "r");
	if (!f)
		return 0;
	int lines = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		if (lines++ == 0 && first) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(first, n, "%s", line);
		}
	}
	fclose(f);
	return lines;
}

/* No child process is left, running or zombie. */
static void assert_no_children(void)
{
	errno = 0;
	pid_t r = waitpid(-1, NULL, WNOHANG);
	if (r != -1 || errno != ECHILD)
		print_error("waitpid(-1) = %d (%s): a child process is left\n", (int)r, strerror(errno));
	assert_int_equal(r, -1);
	assert_int_equal(errno, ECHILD);
}

/* Entries in dir (the handle's private directory lives in TMPDIR while it is open). */
static int dir_entries(const char *dir, char *first, size_t n)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			if (count++ == 0 && first)
				assert_true(snprintf(first, n, "%s/%s", dir, e->d_name) < (int)n);
		}
	closedir(d);
	return count;
}

static void test_ssh_requests_one_process_per_connection(void **state)
{
	ssh_fixture *fx = *state;
	fake_handle h;
	fake_start(&h, "1.40", 0);
	char port[16];
	snprintf(port, sizeof(port), "%s", strrchr(h.host, ':') + 1);
	setenv("FAKE_SSH_MODE", "relay", 1);
	setenv("FAKE_SSH_PORT", port, 1);
	setenv("BERTH_SSH_CONFIG", "/etc/berth/ssh_config", 1);

	docker_config c;
	docker_config_init(&c, "ssh://azureuser@swarm.example:2200", NULL, NULL, NULL);
	c.tls = true; /* DOCKER_TLS_VERIFY and the like mean nothing over ssh */
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	if (!d)
		print_error("%s\n", err);
	assert_non_null(d);
	assert_string_equal(docker_api_version(d), "1.40");
	assert_string_equal(docker_endpoint(d), "ssh://azureuser@swarm.example:2200");

	/* ssh runs (a child, not exited) and the private directory is there, mode 0700 */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), 0);
	char priv[256] = "";
	assert_int_equal(dir_entries(fx->tmp, priv, sizeof(priv)), 1);
	struct stat st;
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	long status = 0;
	json_t *resp = NULL;
	json_t *body = json_pack("{s:s}", "Name", "n");
	assert_int_equal(docker_request(d, "POST", "/networks/create/echo", body, &status, &resp, &err), 0);
	assert_int_equal(status, 201);
	assert_string_equal(json_string_value(json_object_get(resp, "content_type")), "application/json");
	json_t *sent = json_loads(json_string_value(json_object_get(resp, "body")), 0, NULL);
	assert_true(json_equal(sent, body));
	json_decref(sent);
	json_decref(resp);
	json_decref(body);
	assert_int_equal(docker_request(d, "GET", "/nope", NULL, &status, &resp, &err), BERTH_ENOTFOUND);
	assert_int_equal(status, 404);
	assert_string_equal(err, "HTTP 404: page not found");
	free(err);
	err = NULL;
	json_decref(resp);
	assert_int_equal(docker_request(d, "DELETE", "/x/echo", NULL, &status, NULL, &err), 0);
	assert_int_equal(status, 200);

	/* one connection for all four requests, so one ssh, with the docker CLI's flags */
	pthread_mutex_lock(&h.f.mu);
	assert_int_equal(h.f.accepts, 1);
	assert_int_equal(h.f.requests, 4);
	pthread_mutex_unlock(&h.f.mu);
	char argv[1024] = "";
	assert_int_equal(ssh_starts(fx, argv, sizeof(argv)), 1);
	assert_string_equal(argv, "ssh -F /etc/berth/ssh_config -l azureuser -p 2200 -o ConnectTimeout=30 "
				  "-o BatchMode=yes -T -- swarm.example docker system dial-stdio");

	/* closing ends and reaps it, and removes the private directory */
	docker_close(d);
	assert_no_children();
	assert_int_equal(dir_entries(fx->tmp, NULL, 0), 0);
	fake_stop(&h);
}

static void test_ssh_failure_is_the_error(void **state)
{
	ssh_fixture *fx = *state;
	setenv("FAKE_SSH_MODE", "fail", 1);
	/* the last two lines, the banner and the terminal escape (from the remote side) gone */
	setenv("FAKE_SSH_STDERR",
	       "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
	       "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
	       "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
	       "Offending ED25519 key in /root/.ssh/known_hosts:3\n"
	       "Host key for [h]:2222 has changed and you have \x1b[31mrequested strict checking.\n"
	       "Host key verification failed.\n\n",
	       1);
	docker_config c;
	docker_config_init(&c, "ssh://h:2222", NULL, NULL, NULL);
	expect_open_error(&c, "cannot reach the Docker engine at ssh://h:2222: ssh exited with status 255: Host key "
			      "for [h]:2222 has changed and you have ?[31mrequested strict checking. Host key "
			      "verification failed.");
	assert_no_children();

	/* the remote command failing, with nothing on stderr */
	setenv("FAKE_SSH_STDERR", "", 1);
	setenv("FAKE_SSH_STATUS", "127", 1);
	expect_open_error(&c, "cannot reach the Docker engine at ssh://h:2222: ssh exited with status 127");
	assert_no_children();
	/* a banner alone says nothing */
	setenv("FAKE_SSH_STDERR", "@@@@@@@@@@\n@ @\n", 1);
	expect_open_error(&c, "cannot reach the Docker engine at ssh://h:2222: ssh exited with status 127");
	assert_no_children();
	assert_int_equal(ssh_starts(fx, NULL, 0), 3);
	assert_int_equal(dir_entries(fx->tmp, NULL, 0), 0);

	/* a TMPDIR too deep for a unix socket's path */
	char deep[256];
	snprintf(deep, sizeof(deep), "%s/%0100d", fx->tmp, 0);
	assert_int_equal(mkdir(deep, 0700), 0);
	setenv("TMPDIR", deep, 1);
	char *err = NULL;
	docker_config_init(&c, "ssh://h:2222", NULL, NULL, NULL);
	assert_null(docker_open(&c, &err));
	const char *want = "cannot reach the Docker engine at ssh://h:2222: cannot listen for ssh at ";
	if (!err || strncmp(err, want, strlen(want)) != 0 || !strstr(err, ": the path is too long for a unix socket"))
		print_error("got: %s\n", err ? err : "NULL");
	assert_non_null(err);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "/0: the path is too long for a unix socket"));
	free(err);
	assert_int_equal(dir_entries(deep, NULL, 0), 0);
	assert_int_equal(rmdir(deep), 0);
	setenv("TMPDIR", fx->tmp, 1);
	assert_int_equal(ssh_starts(fx, NULL, 0), 3);

	/* no ssh on PATH */
	setenv("PATH", fx->tmp, 1);
	expect_open_error(&c, "cannot reach the Docker engine at ssh://h:2222: cannot run ssh: it is not on PATH "
			      "(install an OpenSSH client)");
	assert_int_equal(ssh_starts(fx, NULL, 0), 3);
	assert_int_equal(dir_entries(fx->tmp, NULL, 0), 0);
}

static void test_ssh_stale_connection_is_replaced(void **state)
{
	ssh_fixture *fx = *state;
	fake_handle h;
	fake_start(&h, "1.41", 0);
	setenv("FAKE_SSH_MODE", "relay", 1);
	setenv("FAKE_SSH_PORT", strrchr(h.host, ':') + 1, 1);
	setenv("FAKE_SSH_EOF_STATUS", "255", 1); /* as ssh does when the far side goes away */
	docker_config c;
	docker_config_init(&c, "ssh://h", NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	assert_non_null(d);
	long status = 0;
	/* the engine drops the kept-alive connection after this answer, and its ssh exits 255 */
	assert_int_equal(docker_request(d, "GET", "/x/bye", NULL, &status, NULL, &err), 0);
	assert_int_equal(status, 200);
	/* the next request notices, reaps that ssh and starts another: no error comes through */
	assert_int_equal(docker_request(d, "GET", "/x/echo", NULL, &status, NULL, &err), 0);
	assert_int_equal(status, 200);
	assert_null(err);
	assert_int_equal(ssh_starts(fx, NULL, 0), 2);
	/* the dead one is already reaped: the one child left is the live ssh */
	pid_t r = waitpid(-1, NULL, WNOHANG);
	assert_int_equal(r, 0);
	docker_close(d);
	assert_no_children();
	pthread_mutex_lock(&h.f.mu);
	assert_int_equal(h.f.accepts, 2);
	pthread_mutex_unlock(&h.f.mu);
	fake_stop(&h);
}

static void test_ssh_connection_lost_mid_answer(void **state)
{
	ssh_fixture *fx = *state;
	fake_handle h;
	fake_start(&h, "1.41", 0);
	setenv("FAKE_SSH_MODE", "relay", 1);
	setenv("FAKE_SSH_PORT", strrchr(h.host, ':') + 1, 1);
	setenv("FAKE_SSH_CUT_ON", "/x/cut", 1);
	docker_config c;
	docker_config_init(&c, "ssh://h", NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	assert_non_null(d);
	/* on the kept-alive connection, part of an answer then nothing: not "cannot reach" */
	long status = 0;
	assert_int_equal(docker_request(d, "GET", "/x/cut", NULL, &status, NULL, &err), BERTH_EUNREACHABLE);
	assert_string_equal(err, "GET /v1.41/x/cut: the connection to the Docker engine at ssh://h failed: ssh exited "
				 "with status 255: Connection to fakehost closed by remote host.");
	free(err);
	err = NULL;
	assert_no_children(); /* reaped when libcurl dropped the connection */
	/* the next request gets a new ssh */
	unsetenv("FAKE_SSH_CUT_ON");
	assert_int_equal(docker_request(d, "GET", "/x/echo", NULL, &status, NULL, &err), 0);
	assert_int_equal(status, 200);
	assert_int_equal(ssh_starts(fx, NULL, 0), 2);
	docker_close(d);
	assert_no_children();
	fake_stop(&h);
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_ssh_stubborn_process_is_killed(void **state)
{
	fake_handle h;
	fake_start(&h, "1.41", 0);
	setenv("FAKE_SSH_MODE", "stubborn", 1);
	setenv("FAKE_SSH_PORT", strrchr(h.host, ':') + 1, 1);
	docker_config c;
	docker_config_init(&c, "ssh://h", NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&c, &err);
	assert_non_null(d);
	/* ignores SIGTERM and its stdin closing: killed after the grace period, and reaped */
	long t0 = mono_ms();
	docker_close(d);
	long took = mono_ms() - t0;
	assert_no_children();
	assert_true(took >= 2900);
	assert_true(took < 10000);
	fake_stop(&h);
}

/* Several threads over ssh to the real engine (the fake ssh relays to its unix socket): every
 * connection has its own ssh, and every ssh is reaped. */
static void test_ssh_real_engine_threads(void **state)
{
	ssh_fixture *fx = *state;
	const char *host = real_engine();
	if (!host || strncmp(host, "unix://", 7) != 0) {
		print_message("needs BERTH_TEST_DOCKER_HOST=unix://...: skipping\n");
		skip();
		return;
	}
	setenv("FAKE_SSH_MODE", "relay", 1);
	setenv("FAKE_SSH_UNIX", host + 7, 1);
	docker *d = open_real("ssh://root@manager");
	assert_string_equal(docker_api_version(d), "1.41");
	char st[32];
	local_node_state(d, st, sizeof(st));
	pthread_t th[8];
	thread_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (thread_arg){d, 0};
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(docker_requests(d), 2 + 80);
	int starts = ssh_starts(fx, NULL, 0);
	assert_true(starts >= 1);
	assert_true(starts <= 9); /* at most one connection per pooled handle */
	docker_close(d);
	assert_no_children();
	assert_int_equal(dir_entries(fx->tmp, NULL, 0), 0);
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	if (strcmp(name ? name + 1 : argv[0], "ssh") == 0)
		return fake_ssh_main(argc, argv);
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 99;
	self_exe[n] = '\0';
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_host_precedence, env_setup),
		cmocka_unit_test_setup(test_config_tls, env_setup),
		cmocka_unit_test_setup(test_filters_encoding, env_setup),
		cmocka_unit_test_setup(test_unreachable, env_setup),
		cmocka_unit_test_setup(test_bad_hosts, env_setup),
		cmocka_unit_test_setup(test_tls_errors, env_setup),
		cmocka_unit_test_setup(test_negotiation, env_setup),
		cmocka_unit_test_setup(test_requests_keepalive_and_errors, env_setup),
		cmocka_unit_test_setup(test_real_engine, env_setup),
		cmocka_unit_test_setup(test_real_engine_swarm, env_setup),
		cmocka_unit_test_setup_teardown(test_ssh_requests_one_process_per_connection, ssh_setup, ssh_teardown),
		cmocka_unit_test_setup_teardown(test_ssh_failure_is_the_error, ssh_setup, ssh_teardown),
		cmocka_unit_test_setup_teardown(test_ssh_stale_connection_is_replaced, ssh_setup, ssh_teardown),
		cmocka_unit_test_setup_teardown(test_ssh_connection_lost_mid_answer, ssh_setup, ssh_teardown),
		cmocka_unit_test_setup_teardown(test_ssh_stubborn_process_is_killed, ssh_setup, ssh_teardown),
		cmocka_unit_test_setup_teardown(test_ssh_real_engine_threads, ssh_setup, ssh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
