/* The Docker Engine API client: libcurl over a unix socket or TCP (optionally TLS), jansson for
 * JSON. See docker.h and /work/shared/api/docker/README.md sections 1-3.
 *
 * Threads: a docker handle owns a mutex-protected pool of curl easy handles. A request borrows
 * one (or makes a new one when all are busy) and gives it back, so keep-alive connections are
 * reused and several threads can make requests at once. Counters are atomics. */
#include "transport/docker.h"
#include "core/util.h"
#include "transport/docker_ssh.h"
#include "transport/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define DOCKER_CLIENT_MAX_API "1.41"
#define DOCKER_API_NO_HEADER "1.24" /* the Go client's assumption when /_ping has no Api-Version */
#define DOCKER_CONNECT_TIMEOUT_MS 5000L
#define DOCKER_DEFAULT_TIMEOUT_MS 60000L
#define DOCKER_MAX_RESPONSE ((size_t)512 << 20)
#define DOCKER_MAX_ERR_TEXT 512

struct docker {
	char *endpoint;    /* as configured, for messages */
	char *base_url;    /* http://localhost, http://host:port or https://host:port */
	char *socket_path; /* unix sockets only */
	docker_ssh *ssh;   /* ssh:// hosts only: one ssh process per connection */
	char *ca_file, *cert_file, *key_file;
	bool tls, tls_verify;
	long timeout_ms;
	char api_version[16];
	struct curl_slist *json_headers; /* Content-Type: application/json, Expect: (read-only) */
	struct curl_slist *plain_headers; /* Expect: */

	http_pool pool; /* idle easy handles */

	atomic_ulong requests;
	atomic_ulong writes;
	berth_cancel *cancel; /* borrowed */
};

/* ---- small helpers ---- */

/* ---- configuration ---- */

/* Strings made from the environment (DOCKER_CERT_PATH/ca.pem, ...) live here for the rest of the
 * process, deduplicated, so docker_config's pointers stay valid whatever the caller does later. */
typedef struct interned {
	struct interned *next;
	char s[];
} interned;
static interned *interned_strings;
static pthread_mutex_t interned_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *intern_join(const char *dir, const char *file)
{
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	size_t fl = strlen(file);
	pthread_mutex_lock(&interned_mu);
	for (interned *i = interned_strings; i; i = i->next)
		if (strlen(i->s) == dl + 1 + fl && strncmp(i->s, dir, dl) == 0 && i->s[dl] == '/' &&
		    strcmp(i->s + dl + 1, file) == 0) {
			pthread_mutex_unlock(&interned_mu);
			return i->s;
		}
	interned *n = xmalloc(sizeof(*n) + dl + 1 + fl + 1);
	if (!n)
		abort();
	memcpy(n->s, dir, dl);
	n->s[dl] = '/';
	memcpy(n->s + dl + 1, file, fl + 1);
	n->next = interned_strings;
	interned_strings = n;
	pthread_mutex_unlock(&interned_mu);
	return n->s;
}

void docker_config_init(docker_config *cfg, const char *spec_endpoint, const char *ca, const char *cert,
			const char *key)
{
	memset(cfg, 0, sizeof(*cfg));
	const char *env_host = getenv("DOCKER_HOST");
	if (nonempty(spec_endpoint))
		cfg->host = spec_endpoint;
	else if (nonempty(env_host))
		cfg->host = env_host;
	else
		cfg->host = DOCKER_DEFAULT_HOST;

	/* DOCKER_TLS_VERIFY: any non-empty value, even "0", means TLS with verification. */
	const char *verify = getenv("DOCKER_TLS_VERIFY");
	if (nonempty(verify)) {
		cfg->tls = true;
		cfg->tls_verify = true;
	}
	/* Certificates named in the spec: TLS, verifying the engine against that CA. */
	if (nonempty(ca) || nonempty(cert)) {
		cfg->tls = true;
		cfg->tls_verify = true;
	}
	cfg->ca_file = nonempty(ca) ? ca : NULL;
	cfg->cert_file = nonempty(cert) ? cert : NULL;
	cfg->key_file = nonempty(key) ? key : NULL;
	const char *cert_path = getenv("DOCKER_CERT_PATH");
	if (cfg->tls && nonempty(cert_path)) {
		if (!cfg->ca_file)
			cfg->ca_file = intern_join(cert_path, "ca.pem");
		if (!cfg->cert_file)
			cfg->cert_file = intern_join(cert_path, "cert.pem");
		if (!cfg->key_file)
			cfg->key_file = intern_join(cert_path, "key.pem");
	}
	const char *pinned = getenv("DOCKER_API_VERSION");
	cfg->api_version = nonempty(pinned) ? pinned : NULL;
	cfg->timeout_ms = 0;
}

/* ---- API versions ---- */

/* "1.41" (or "v1.41") -> 1, 41. Returns false if it is not MAJOR.MINOR. */
static bool parse_version(const char *s, long *major, long *minor)
{
	if (!s)
		return false;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == 'v')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	char *end;
	errno = 0;
	long a = strtol(s, &end, 10);
	if (errno || *end != '.' || !isdigit((unsigned char)end[1]))
		return false;
	long b = strtol(end + 1, &end, 10);
	if (errno)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end || a > 999 || b > 999)
		return false;
	*major = a;
	*minor = b;
	return true;
}

/* ---- libcurl plumbing ---- */

typedef http_buffer buffer;

/* Keeps the Api-Version header (names are matched case-insensitively; Go writes "Api-Version"). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	char *ver = userdata; /* char[16] */
	size_t n = size * nmemb;
	static const char name[] = "api-version:";
	if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		const char *v = ptr + sizeof(name) - 1;
		const char *end = ptr + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		size_t l = (size_t)(end - v);
		if (l < 16) {
			memcpy(ver, v, l);
			ver[l] = '\0';
		}
	}
	return n;
}

static bool is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
#if LIBCURL_VERSION_NUM >= 0x074D00
	case CURLE_SSL_CLIENTCERT:
#endif
		return true;
	default:
		return false;
	}
}

/* The one place that talks to the engine. full_path is the path after the base URL (with the
 * version prefix, or "/_ping"). Returns 0 with *status and *out filled, or -1 with *err set. */
static int perform(docker *d, const char *method, const char *full_path, const char *body, long *status,
		   buffer *out, char *api_version_hdr, long timeout_ms, char **err)
{
	if (timeout_ms <= 0)
		timeout_ms = d->timeout_ms;
	atomic_fetch_add(&d->requests, 1);
	bool write = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
		     strcmp(method, "PATCH") == 0;
	if (write)
		atomic_fetch_add(&d->writes, 1);

	CURL *c = http_pool_get(&d->pool);
	if (!c) {
		set_err(err, xasprintf("%s %s: cannot create a libcurl handle for the Docker engine at %s", method,
				       full_path, d->endpoint));
		return -1;
	}
	char *url = xasprintf("%s%s", d->base_url, full_path);
	char errbuf[CURL_ERROR_SIZE];
	http_setup setup = {
		.url = url,
		.method = method,
		.body = body,
		.headers = body ? d->json_headers : d->plain_headers,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = DOCKER_CONNECT_TIMEOUT_MS,
		.no_proxy = true, /* the engine is talked to directly, never via *_proxy */
		.out = out,
		.max_body = DOCKER_MAX_RESPONSE,
		.header_fn = api_version_hdr ? on_header : NULL,
		.header_data = api_version_hdr,
		.cancel = d->cancel,
		.errbuf = errbuf,
	};
	http_easy_setup(c, &setup);
	if (d->socket_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	if (d->ssh)
		docker_ssh_setopt(d->ssh, c);
	if (d->tls) {
		if (d->ca_file)
			curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
		if (d->cert_file) {
			curl_easy_setopt(c, CURLOPT_SSLCERT, d->cert_file);
			curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		}
		if (d->key_file) {
			curl_easy_setopt(c, CURLOPT_SSLKEY, d->key_file);
			curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
		}
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, d->tls_verify ? 1L : 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, d->tls_verify ? 2L : 0L);
	}

	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc == CURLE_OK) {
		long code = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		*status = code;
	} else {
		const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
		curl_off_t pretransfer = 0;
		curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
		/* ssh's own account (exit status, stderr) says more than "Empty reply from server". */
		bool ssh_fresh = false;
		char *ssh_why = d->ssh ? docker_ssh_failure(d->ssh, c, &ssh_fresh) : NULL;
		if (http_canceled(rc, d->cancel))
			set_err(err, xasprintf("%s %s: cancelled", method, full_path));
		else if (out->too_big)
			set_err(err, xasprintf("%s %s: the Docker engine at %s sent a response larger than %zu MiB",
					       method, full_path, d->endpoint, DOCKER_MAX_RESPONSE >> 20));
		else if (ssh_why && ssh_fresh)
			set_err(err, xasprintf("cannot reach the Docker engine at %s: %s", d->endpoint, ssh_why));
		else if (ssh_why)
			set_err(err, xasprintf("%s %s: the connection to the Docker engine at %s failed: %s", method,
					       full_path, d->endpoint, ssh_why));
		else if (is_tls_error(rc))
			set_err(err, xasprintf("TLS handshake with the Docker engine at %s failed: %s", d->endpoint,
					       detail));
		else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
			 (rc == CURLE_OPERATION_TIMEDOUT && pretransfer == 0))
			set_err(err, xasprintf("cannot reach the Docker engine at %s: %s", d->endpoint,
					       curl_easy_strerror(rc)));
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			set_err(err, xasprintf("%s %s: the Docker engine at %s did not answer within %ld ms", method,
					       full_path, d->endpoint, timeout_ms));
		else
			set_err(err, xasprintf("%s %s: request to the Docker engine at %s failed: %s", method,
					       full_path, d->endpoint, detail));
		free(ssh_why);
		ret = http_canceled(rc, d->cancel) ? BERTH_ECANCELED : BERTH_EUNREACHABLE;
	}
	http_easy_release(c); /* errbuf goes out of scope */
	http_pool_put(&d->pool, c);
	free(url);
	return ret;
}

/* ---- open and close ---- */

/* Fills d->base_url and d->socket_path from d->endpoint. */
static int parse_endpoint(docker *d, char **err)
{
	const char *h = d->endpoint;
	if (strncmp(h, "unix://", 7) == 0) {
		if (!h[7]) {
			set_err(err, xasprintf("invalid Docker host %s: the unix socket path is empty", h));
			return -1;
		}
		d->socket_path = xstrdup(h + 7);
		d->base_url = xstrdup("http://localhost");
		d->tls = false; /* TLS applies to TCP only */
		return 0;
	}
	if (strncmp(h, "tcp://", 6) == 0) {
		const char *hp = h + 6;
		size_t len = strcspn(hp, "/?#");
		if (len == 0) {
			set_err(err, xasprintf("invalid Docker host %s: the host is empty", h));
			return -1;
		}
		bool has_port;
		if (hp[0] == '[') {
			const char *close = memchr(hp, ']', len);
			if (!close) {
				set_err(err, xasprintf("invalid Docker host %s: unterminated IPv6 address", h));
				return -1;
			}
			has_port = (size_t)(close - hp) + 1 < len && close[1] == ':';
		} else {
			has_port = memchr(hp, ':', len) != NULL;
		}
		const char *scheme = d->tls ? "https" : "http";
		if (has_port)
			d->base_url = xasprintf("%s://%.*s", scheme, (int)len, hp);
		else
			d->base_url = xasprintf("%s://%.*s:%d", scheme, (int)len, hp, d->tls ? 2376 : 2375);
		return 0;
	}
	if (strncmp(h, "ssh://", 6) == 0) {
		d->ssh = docker_ssh_open(h, err);
		if (!d->ssh)
			return -1;
		d->base_url = xstrdup(DOCKER_SSH_BASE_URL);
		d->tls = false; /* ssh is the secure channel */
		return 0;
	}
	if (strncmp(h, "npipe://", 8) == 0) {
		set_err(err, xasprintf("unsupported Docker host %s: only unix://, tcp:// and ssh:// endpoints are "
				       "supported",
				       h));
		return -1;
	}
	set_err(err, xasprintf("invalid Docker host %s: expected unix:///path, tcp://host:port or "
			       "ssh://[user@]host[:port]",
			       h));
	return -1;
}

static int check_readable(const char *what, const char *path, char **err)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		set_err(err, xasprintf("cannot read TLS %s %s: %s", what, path, strerror(errno)));
		return -1;
	}
	fclose(f);
	return 0;
}

docker *docker_open(const docker_config *cfg, char **err)
{
	if (err)
		*err = NULL;
	CURLcode curl_init_rc = http_global_init();
	if (curl_init_rc != CURLE_OK) {
		set_err(err, xasprintf("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc)));
		return NULL;
	}
	docker *d = xcalloc(1, sizeof(*d));
	if (!d)
		abort();
	http_pool_init(&d->pool);
	atomic_init(&d->requests, 0);
	atomic_init(&d->writes, 0);
	d->endpoint = xstrdup(nonempty(cfg->host) ? cfg->host : (nonempty(getenv("DOCKER_HOST"))
								     ? getenv("DOCKER_HOST")
								     : DOCKER_DEFAULT_HOST));
	d->tls = cfg->tls;
	d->tls_verify = cfg->tls_verify;
	d->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DOCKER_DEFAULT_TIMEOUT_MS;
	d->cancel = cfg->cancel;
	if (parse_endpoint(d, err) < 0)
		goto fail;
	if (d->tls) {
		d->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
		d->cert_file = cfg->cert_file ? xstrdup(cfg->cert_file) : NULL;
		d->key_file = cfg->key_file ? xstrdup(cfg->key_file) : NULL;
		if (check_readable("certificate", d->cert_file, err) < 0 || check_readable("key", d->key_file, err) < 0 ||
		    check_readable("CA certificate", d->ca_file, err) < 0)
			goto fail;
	}
	long pin_major = 0, pin_minor = 0;
	if (cfg->api_version && !parse_version(cfg->api_version, &pin_major, &pin_minor)) {
		set_err(err, xasprintf("invalid Docker API version '%s' (expected e.g. 1.41)", cfg->api_version));
		goto fail;
	}
	d->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	d->json_headers = curl_slist_append(d->json_headers, "Expect:");
	d->plain_headers = curl_slist_append(NULL, "Expect:");
	if (!d->json_headers || !d->plain_headers)
		abort();

	/* Connect and negotiate: min(client max, the engine's Api-Version); 1.24 without the header. */
	char hdr[16] = "";
	buffer body = {0};
	long status = 0;
	if (perform(d, "GET", "/_ping", NULL, &status, &body, hdr, 0, err) < 0) {
		free(body.data);
		goto fail;
	}
	long smaj, smin;
	bool have_hdr = parse_version(hdr, &smaj, &smin);
	if (!have_hdr && (status < 200 || status >= 300)) {
		char *text = body.data ? body.data : "";
		size_t l = strnlen(text, DOCKER_MAX_ERR_TEXT);
		while (l > 0 && isspace((unsigned char)text[l - 1]))
			l--;
		set_err(err, xasprintf("the Docker engine at %s answered /_ping with HTTP %ld%s%.*s", d->endpoint, status,
				       l ? ": " : "", (int)l, text));
		free(body.data);
		goto fail;
	}
	free(body.data);
	if (cfg->api_version) {
		snprintf(d->api_version, sizeof(d->api_version), "%ld.%ld", pin_major, pin_minor);
	} else {
		long cmaj, cmin;
		parse_version(DOCKER_CLIENT_MAX_API, &cmaj, &cmin);
		if (!have_hdr)
			parse_version(DOCKER_API_NO_HEADER, &smaj, &smin);
		if (smaj < cmaj || (smaj == cmaj && smin < cmin))
			snprintf(d->api_version, sizeof(d->api_version), "%ld.%ld", smaj, smin);
		else
			snprintf(d->api_version, sizeof(d->api_version), "%ld.%ld", cmaj, cmin);
	}
	return d;
fail:
	docker_close(d);
	return NULL;
}

void docker_close(docker *d)
{
	if (!d)
		return;
	http_pool_destroy(&d->pool);
	docker_ssh_close(d->ssh); /* after the pool: closing its connections ends their ssh */
	curl_slist_free_all(d->json_headers);
	curl_slist_free_all(d->plain_headers);
	free(d->endpoint);
	free(d->base_url);
	free(d->socket_path);
	free(d->ca_file);
	free(d->cert_file);
	free(d->key_file);
	free(d);
}

const char *docker_endpoint(const docker *d)
{
	return d->endpoint;
}

const char *docker_api_version(const docker *d)
{
	return d->api_version;
}

unsigned long docker_requests(const docker *d)
{
	return atomic_load(&((docker *)d)->requests);
}

unsigned long docker_writes(const docker *d)
{
	return atomic_load(&((docker *)d)->writes);
}

/* ---- requests ---- */

/* The engine's message for an error response: {"message":...}, or the text of a text/plain body
 * (a too-old API version), trimmed and bounded. */
static char *error_text(json_t *js, const buffer *b)
{
	if (json_is_object(js)) {
		const char *m = json_string_value(json_object_get(js, "message"));
		if (m && *m)
			return xstrdup(m);
	}
	const char *t = b->data ? b->data : "";
	while (isspace((unsigned char)*t))
		t++;
	size_t l = strnlen(t, DOCKER_MAX_ERR_TEXT);
	while (l > 0 && isspace((unsigned char)t[l - 1]))
		l--;
	if (l == 0)
		return xstrdup("(empty response body)");
	return xasprintf("%.*s%s", (int)l, t, l == DOCKER_MAX_ERR_TEXT ? "..." : "");
}

int docker_request(docker *d, const char *method, const char *path, json_t *body, long *status, json_t **response,
		   char **err)
{
	return docker_request_timeout(d, 0, method, path, body, status, response, err);
}

int docker_request_timeout(docker *d, long timeout_ms, const char *method, const char *path, json_t *body,
			   long *status, json_t **response, char **err)
{
	if (err)
		*err = NULL;
	if (response)
		*response = NULL;
	if (status)
		*status = 0;
	if (!method || !path || path[0] != '/') {
		set_err(err, xasprintf("%s %s: the request path must start with '/'", method ? method : "?",
				       path ? path : "(null)"));
		return BERTH_EINVALID;
	}
	char *body_text = NULL;
	if (body) {
		body_text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!body_text) {
			set_err(err, xasprintf("%s %s: cannot encode the request body as JSON", method, path));
			return BERTH_EINVALID;
		}
	}
	char *full = xasprintf("/v%s%s", d->api_version, path);
	buffer out = {0};
	long code = 0;
	int rc = perform(d, method, full, body_text, &code, &out, NULL, timeout_ms, err);
	free(body_text);
	free(full);
	if (rc < 0) {
		free(out.data);
		return rc;
	}
	json_t *js = NULL;
	if (out.len > 0)
		js = json_loadb(out.data, out.len, JSON_DECODE_ANY, NULL);
	int ret = 0;
	if (code >= 300) {
		char *text = error_text(js, &out);
		set_err(err, xasprintf("HTTP %ld: %s", code, text));
		free(text);
		ret = code >= 400 ? berth_error_from_http(code) : BERTH_EGENERIC;
	}
	free(out.data);
	if (status)
		*status = code;
	if (response)
		*response = js;
	else
		json_decref(js);
	return ret;
}

/* ---- filters ---- */

char *docker_filters(const char *key, const char *value)
{
	json_t *f = json_pack("{s:[s]}", key ? key : "", value ? value : "");
	if (!f)
		abort();
	char *js = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	if (!js)
		abort();
	size_t n = strlen(js);
	char *out = xmalloc(3 * n + 1);
	static const char hex[] = "0123456789ABCDEF";
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)js; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	free(js);
	return out;
}
