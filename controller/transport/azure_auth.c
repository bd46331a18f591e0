/* Azure endpoints and the credential chain. See azure_auth.h and /work/shared/api/azure/README.md
 * "Auth".
 *
 * Secrets: the client secret is copied from the environment once and wiped on close; the
 * federated assertion is read from its file for every token request and wiped after use; tokens
 * are wiped when replaced. Every message built from what a server or the az CLI said goes through
 * scrub(), which blanks any of those values, so even a server that echoes them cannot leak them. */
#include "transport/azure_auth.h"
#include "core/util.h"
#include "transport/http.h"
#include "core/backoff.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

extern char **environ;

#define TOKEN_TIMEOUT_MS 30000L
#define TOKEN_CONNECT_TIMEOUT_MS 10000L
#define IMDS_PROBE_CONNECT_MS 1000L
#define CLI_TIMEOUT_S 60
#define TOKEN_ATTEMPTS 3
#define MAX_TOKEN_RESPONSE ((size_t)1 << 20)
#define MAX_SERVER_TEXT 300
#define REFRESH_MARGIN_S 300.0

/* ---- small helpers ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return nonempty(v) ? v : NULL;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* Replaces every occurrence of secret in s (in place) with "***" (s only shrinks). */
static void scrub_one(char *s, const char *secret)
{
	if (!s || !secret)
		return;
	size_t sl = strlen(secret);
	if (sl < 4) /* a 1-3 character "secret" would blank ordinary text; such values are not secrets */
		return;
	char *p;
	while ((p = strstr(s, secret)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + sl, strlen(p + sl) + 1);
	}
}

/* ---- hooks ---- */

void azure_log(const azure_hooks *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	if (h && h->log)
		h->log(h->ctx, line);
	else
		fprintf(stderr, "berth: %s\n", line);
	free(line);
}

void azure_sleep(const azure_hooks *h, double seconds)
{
	if (!(seconds > 0))
		return;
	if (h && h->sleep) {
		h->sleep(h->ctx, seconds);
		return;
	}
	struct timespec ts;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

double azure_now(const azure_hooks *h)
{
	if (h && h->now)
		return h->now(h->ctx);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void azure_uuid(char buf[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1) {
		/* the CSPRNG failed: fall back on something unique enough for a request id */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		static atomic_ulong counter;
		unsigned long c = atomic_fetch_add(&counter, 1);
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(((unsigned long)ts.tv_nsec >> (i % 4 * 8)) ^ (c >> (i % 8 * 8)) ^
					       ((unsigned long)getpid() >> (i % 3 * 8)) ^ (i * 37));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- endpoints ---- */

static bool is_loopback_host(const char *host, size_t len)
{
	if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	if (len == 5 && memcmp(host, "[::1]", 5) == 0)
		return true;
	char h[64];
	if (len == 0 || len >= sizeof(h))
		return false;
	memcpy(h, host, len);
	h[len] = '\0';
	struct in_addr a;
	if (inet_pton(AF_INET, h, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return false;
}

int azure_check_url(const char *what, const char *url, char **err)
{
	if (!nonempty(url)) {
		set_err(err, xasprintf("%s: the URL is empty", what));
		return -1;
	}
	const char *sep = strstr(url, "://");
	if (!sep) {
		set_err(err, xasprintf("%s: %s is not a URL (expected https://HOST)", what, url));
		return -1;
	}
	size_t slen = (size_t)(sep - url);
	bool https = slen == 5 && strncasecmp(url, "https", 5) == 0;
	bool http = slen == 4 && strncasecmp(url, "http", 4) == 0;
	if (!https && !http) {
		set_err(err, xasprintf("%s: %s: only https:// URLs are accepted", what, url));
		return -1;
	}
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen)) {
		set_err(err, xasprintf("%s: %s: a URL with credentials in it is not accepted", what, url));
		return -1;
	}
	size_t hlen;
	if (alen > 0 && auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close) {
			set_err(err, xasprintf("%s: %s: unterminated IPv6 address", what, url));
			return -1;
		}
		hlen = (size_t)(close - auth) + 1;
	} else {
		const char *colon = memchr(auth, ':', alen);
		hlen = colon ? (size_t)(colon - auth) : alen;
	}
	if (hlen == 0) {
		set_err(err, xasprintf("%s: %s: the host is empty", what, url));
		return -1;
	}
	if (http && !is_loopback_host(auth, hlen)) {
		set_err(err, xasprintf("%s: %s: plain http:// is accepted only for a loopback host (127.0.0.1, "
				       "localhost, [::1]); use https://",
				       what, url));
		return -1;
	}
	return 0;
}

void azure_endpoints_free(azure_endpoints *e)
{
	if (!e)
		return;
	free(e->resource_manager);
	free(e->authority);
	free(e->audience);
	e->resource_manager = e->authority = e->audience = NULL;
}

static int pick_endpoint(const char *env_name, const char *spec_name, const char *spec_value, const char *def,
			 bool trailing_slash, char **out, char **err)
{
	const char *v = env(env_name);
	const char *what = env_name;
	if (!v && nonempty(spec_value)) {
		v = spec_value;
		what = spec_name;
	}
	if (!v) {
		v = def;
		what = "default";
	}
	if (azure_check_url(what, v, err) < 0)
		return -1;
	if (strpbrk(v, "?#")) {
		set_err(err, xasprintf("%s: %s: an endpoint cannot have a query or fragment", what, v));
		return -1;
	}
	size_t n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	*out = trailing_slash ? xasprintf("%.*s/", (int)n, v) : xasprintf("%.*s", (int)n, v);
	return 0;
}

int azure_endpoints_resolve(const char *resource_manager, const char *active_directory, azure_endpoints *out,
			    char **err)
{
	if (err)
		*err = NULL;
	memset(out, 0, sizeof(*out));
	if (pick_endpoint("AZURE_RESOURCE_MANAGER_ENDPOINT", "azure.endpoints.resource_manager", resource_manager,
			  AZURE_DEFAULT_RESOURCE_MANAGER, false, &out->resource_manager, err) < 0 ||
	    pick_endpoint("AZURE_AUTHORITY_HOST", "azure.endpoints.active_directory", active_directory,
			  AZURE_DEFAULT_AUTHORITY, true, &out->authority, err) < 0) {
		azure_endpoints_free(out);
		return -1;
	}
	const char *aud = env("AZURE_RESOURCE_MANAGER_AUDIENCE");
	if (aud) {
		if (azure_check_url("AZURE_RESOURCE_MANAGER_AUDIENCE", aud, err) < 0) {
			azure_endpoints_free(out);
			return -1;
		}
		out->audience = xstrdup(aud);
	} else {
		const char *h = strstr(out->resource_manager, "://") + 3;
		size_t alen = strcspn(h, "/?#");
		size_t hlen = alen;
		if (h[0] != '[') {
			const char *colon = memchr(h, ':', alen);
			if (colon)
				hlen = (size_t)(colon - h);
		} else {
			hlen = (size_t)((const char *)memchr(h, ']', alen) - h) + 1;
		}
		out->audience = is_loopback_host(h, hlen) ? xstrdup(AZURE_PUBLIC_AUDIENCE)
							  : xasprintf("%s/", out->resource_manager);
	}
	return 0;
}

/* ---- HTTP for token requests ---- */

typedef http_buffer buffer;

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	double *retry_after = userdata;
	size_t n = size * nmemb;
	if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0)
		*retry_after = -1;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
		char v[64];
		size_t l = n - (sizeof(name) - 1);
		if (l >= sizeof(v))
			l = sizeof(v) - 1;
		memcpy(v, ptr + sizeof(name) - 1, l);
		v[l] = '\0';
		char *end;
		double d = strtod(v, &end);
		if (end != v && d >= 0)
			*retry_after = d;
	}
	return n;
}

typedef struct {
	long status;
	buffer body;
	double retry_after;
	char curl_error[CURL_ERROR_SIZE + 64];
	bool connect_failed; /* nothing listened / no route: the endpoint is absent */
} http_result;

/* One HTTP exchange. form (may be NULL) is POSTed as application/x-www-form-urlencoded. Returns 0
 * when an answer arrived, -1 on a transport error (r->curl_error says which). */
static int http_do(const char *url, struct curl_slist *headers, const char *form, long timeout_ms, long connect_ms,
		   bool no_proxy, http_result *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(r->curl_error, sizeof(r->curl_error), "cannot create a libcurl handle");
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE];
	http_setup setup = {
		.url = url,
		.method = form ? "POST" : "GET",
		.body = form,
		.headers = headers,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = connect_ms,
		.no_proxy = no_proxy,
		.web_only = true,
		.out = &r->body,
		.max_body = MAX_TOKEN_RESPONSE,
		.header_fn = on_header,
		.header_data = &r->retry_after,
		.errbuf = errbuf,
	};
	http_easy_setup(c, &setup);
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	} else {
		snprintf(r->curl_error, sizeof(r->curl_error), "%s",
			 r->body.too_big ? "the response is too large" : errbuf[0] ? errbuf : curl_easy_strerror(rc));
		curl_off_t pretransfer = 0;
		curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
		r->connect_failed = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
				    (rc == CURLE_OPERATION_TIMEDOUT && pretransfer == 0);
		ret = -1;
	}
	curl_easy_cleanup(c);
	return ret;
}

/* ---- the credential ---- */

struct azure_credential {
	azure_credential_kind kind;
	char *name;
	char *authority;        /* trailing slash */
	char *scope;            /* AUDIENCE/.default (v2 token endpoint) */
	char *resource;         /* the audience (IMDS, az) */
	azure_hooks hooks;
	long timeout_ms;

	char *tenant, *client_id; /* not secrets */
	char *client_secret;      /* wiped on close */
	char *federated_file;
	char *imds_endpoint;

	pthread_mutex_t mu;
	char *token;        /* wiped when replaced */
	double expires_at;  /* hooks clock */
	double refresh_at;
	atomic_ulong token_requests;
};

azure_credential_kind azure_credential_kind_of(const azure_credential *c)
{
	return c->kind;
}

const char *azure_credential_name(const azure_credential *c)
{
	return c->name;
}

unsigned long azure_credential_token_requests(const azure_credential *c)
{
	return atomic_load(&((azure_credential *)c)->token_requests);
}

void azure_token_free(char *token)
{
	wipe_free(token);
}

void azure_credential_close(azure_credential *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->authority);
	free(c->scope);
	free(c->resource);
	free(c->tenant);
	free(c->client_id);
	wipe_free(c->client_secret);
	free(c->federated_file);
	free(c->imds_endpoint);
	wipe_free(c->token);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* A fetched token: value and remaining lifetime in seconds. */
typedef struct {
	char *token;
	double lifetime;
} fetched;

static void scrub(const azure_credential *c, char *msg, const char *extra)
{
	scrub_one(msg, c->client_secret);
	scrub_one(msg, c->token);
	scrub_one(msg, extra);
}

/* A short, single-line, scrubbed excerpt of what a server said. */
static char *server_text(const azure_credential *c, const buffer *b, const char *extra)
{
	json_t *js = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	char *text = NULL;
	if (json_is_object(js)) {
		json_t *e = json_object_get(js, "error");
		const char *code = json_string_value(e);
		const char *desc = json_string_value(json_object_get(js, "error_description"));
		if (json_is_object(e)) { /* an ARM-style {"error":{"code","message"}} */
			code = json_string_value(json_object_get(e, "code"));
			desc = json_string_value(json_object_get(e, "message"));
		}
		if (!desc)
			desc = json_string_value(json_object_get(js, "message"));
		if (code || desc)
			text = xasprintf("%s%s%s", code ? code : "", code && desc ? ": " : "", desc ? desc : "");
	}
	json_decref(js);
	if (!text) {
		const char *t = b->data ? b->data : "";
		while (isspace((unsigned char)*t))
			t++;
		text = xstrdup(t);
	}
	for (char *p = text; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	size_t tl = strlen(text);
	while (tl > 0 && text[tl - 1] == ' ')
		text[--tl] = '\0';
	scrub(c, text, extra);
	if (strlen(text) > MAX_SERVER_TEXT)
		strcpy(text + MAX_SERVER_TEXT - 3, "...");
	return text;
}

/* Seconds from a JSON number or a numeric string; NAN if neither. */
static double json_seconds(json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	const char *s = json_string_value(v);
	if (s && *s) {
		char *end;
		double d = strtod(s, &end);
		if (*end == '\0')
			return d;
	}
	return NAN;
}

/* Reads {"access_token", "expires_in" | "expires_on"} (AAD and IMDS). */
static int parse_token_json(const buffer *b, fetched *out, char **why)
{
	json_error_t je;
	json_t *js = b->len ? json_loadb(b->data, b->len, 0, &je) : NULL;
	const char *tok = json_string_value(json_object_get(js, "access_token"));
	if (!tok || !*tok) {
		*why = xstrdup(js ? "the answer has no access_token" : "the answer is not JSON");
		json_decref(js);
		return -1;
	}
	double lifetime = json_seconds(json_object_get(js, "expires_in"));
	if (isnan(lifetime)) {
		double on = json_seconds(json_object_get(js, "expires_on"));
		if (!isnan(on))
			lifetime = on - (double)time(NULL);
	}
	if (isnan(lifetime)) {
		*why = xstrdup("the answer has neither expires_in nor expires_on");
		json_decref(js);
		return -1;
	}
	out->token = xstrdup(tok);
	out->lifetime = lifetime;
	/* the string inside js is wiped too */
	OPENSSL_cleanse((char *)tok, strlen(tok));
	json_decref(js);
	return 0;
}

static bool retryable_status(long s, bool imds)
{
	return s == 429 || s >= 500 || (imds && (s == 404 || s == 410));
}

/* Token requests back off from half a second, doubling up to 32 s. */
static double backoff(int attempt)
{
	return berth_backoff(0.5, 32, attempt);
}

/* Outcome of one credential's attempt: OK, ABSENT (pass to the next) or FAILED (stop). */
enum { GOT_TOKEN = 0, CRED_ABSENT = 1, CRED_FAILED = -1 };

/* POSTs form to the authority's token endpoint. extra: another value to scrub (the assertion). */
static int fetch_aad(azure_credential *c, const char *form, const char *extra, fetched *out, char **why)
{
	char *url = xasprintf("%s%s/oauth2/v2.0/token", c->authority, c->tenant);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	int ret = CRED_FAILED;
	for (int attempt = 0;; attempt++) {
		http_result r;
		atomic_fetch_add(&c->token_requests, 1);
		int rc = http_do(url, h, form, c->timeout_ms, TOKEN_CONNECT_TIMEOUT_MS, false, &r);
		if (rc == 0 && r.status == 200) {
			ret = parse_token_json(&r.body, out, why) == 0 ? GOT_TOKEN : CRED_FAILED;
			http_buffer_wipe(&r.body);
			break;
		}
		char *detail = rc < 0 ? xasprintf("%s", r.curl_error) : NULL;
		if (rc == 0) {
			char *t = server_text(c, &r.body, extra);
			detail = xasprintf("%ld%s%s", r.status, *t ? " " : "", t);
			free(t);
		}
		scrub(c, detail, extra);
		bool again = (rc < 0 || retryable_status(r.status, false)) && attempt + 1 < TOKEN_ATTEMPTS;
		http_buffer_wipe(&r.body);
		if (!again) {
			*why = xasprintf("the token request to %s failed: %s", url, detail);
			free(detail);
			break;
		}
		double wait = r.retry_after >= 0 ? r.retry_after : backoff(attempt);
		if (wait > 60)
			wait = 60;
		azure_log(&c->hooks, "azure: token request to %s failed (%s), retrying in %.1f s", url, detail, wait);
		free(detail);
		azure_sleep(&c->hooks, wait);
	}
	curl_slist_free_all(h);
	free(url);
	return ret;
}

static char *form_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		abort();
	char *r = xstrdup(e);
	OPENSSL_cleanse(e, strlen(e));
	curl_free(e);
	return r;
}

static int fetch_service_principal(azure_credential *c, fetched *out, char **why)
{
	char *id = form_escape(c->client_id), *sec = form_escape(c->client_secret), *scope = form_escape(c->scope);
	char *form = xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s", id, sec, scope);
	wipe_free(sec);
	free(id);
	free(scope);
	int rc = fetch_aad(c, form, NULL, out, why);
	wipe_free(form);
	return rc;
}

/* Reads the federated token file (it rotates: read for every token request). */
static char *read_assertion(const char *path, char **why)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*why = xasprintf("cannot read AZURE_FEDERATED_TOKEN_FILE %s: %s", path, strerror(errno));
		return NULL;
	}
	buffer b = {.max = MAX_TOKEN_RESPONSE};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (http_buffer_write(chunk, 1, n, &b) != n)
			break;
	OPENSSL_cleanse(chunk, sizeof(chunk));
	bool bad = ferror(f) || b.too_big;
	fclose(f);
	if (bad) {
		http_buffer_wipe(&b);
		*why = xasprintf("cannot read AZURE_FEDERATED_TOKEN_FILE %s", path);
		return NULL;
	}
	/* trim surrounding white space (files written with echo end in a newline) */
	size_t len = b.len;
	while (len > 0 && isspace((unsigned char)b.data[len - 1]))
		b.data[--len] = '\0';
	size_t start = 0;
	while (start < len && isspace((unsigned char)b.data[start]))
		start++;
	if (start == len) {
		http_buffer_wipe(&b);
		*why = xasprintf("AZURE_FEDERATED_TOKEN_FILE %s is empty", path);
		return NULL;
	}
	char *r = xstrdup(b.data + start);
	http_buffer_wipe(&b);
	return r;
}

static int fetch_workload_identity(azure_credential *c, fetched *out, char **why)
{
	char *assertion = read_assertion(c->federated_file, why);
	if (!assertion)
		return CRED_FAILED;
	char *id = form_escape(c->client_id), *as = form_escape(assertion), *scope = form_escape(c->scope);
	char *form = xasprintf("grant_type=client_credentials&client_id=%s&client_assertion_type="
			       "urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
			       "&client_assertion=%s&scope=%s",
			       id, as, scope);
	wipe_free(as);
	free(id);
	free(scope);
	int rc = fetch_aad(c, form, assertion, out, why);
	wipe_free(form);
	wipe_free(assertion);
	return rc;
}

/* probing: the first request, where "nothing there" means this credential is absent. */
static int fetch_managed_identity(azure_credential *c, bool probing, fetched *out, char **why)
{
	char *res = form_escape(c->resource);
	char *cid = c->client_id ? form_escape(c->client_id) : NULL;
	char *url = xasprintf("%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=%s%s%s",
			      c->imds_endpoint, res, cid ? "&client_id=" : "", cid ? cid : "");
	free(res);
	free(cid);
	struct curl_slist *h = curl_slist_append(NULL, "Metadata: true");
	h = curl_slist_append(h, "Accept: application/json");
	int ret = CRED_FAILED;
	for (int attempt = 0;; attempt++) {
		http_result r;
		atomic_fetch_add(&c->token_requests, 1);
		int rc = http_do(url, h, NULL, c->timeout_ms, probing ? IMDS_PROBE_CONNECT_MS : TOKEN_CONNECT_TIMEOUT_MS,
				 true, &r);
		if (rc == 0 && r.status == 200) {
			ret = parse_token_json(&r.body, out, why) == 0 ? GOT_TOKEN : CRED_FAILED;
			http_buffer_wipe(&r.body);
			break;
		}
		if (rc < 0 && probing && r.connect_failed) {
			*why = xasprintf("no IMDS answers at %s (%s)", c->imds_endpoint, r.curl_error);
			ret = CRED_ABSENT;
			http_buffer_wipe(&r.body);
			break;
		}
		char *detail;
		if (rc < 0) {
			detail = xasprintf("%s", r.curl_error);
		} else {
			char *t = server_text(c, &r.body, NULL);
			detail = xasprintf("%ld%s%s", r.status, *t ? " " : "", t);
			free(t);
		}
		bool again = (rc < 0 || retryable_status(r.status, true)) && attempt + 1 < TOKEN_ATTEMPTS;
		http_buffer_wipe(&r.body);
		if (!again) {
			*why = xasprintf("IMDS at %s gave no token: %s", c->imds_endpoint, detail);
			free(detail);
			/* while probing, an IMDS without an identity for us means: not this credential */
			ret = probing ? CRED_ABSENT : CRED_FAILED;
			break;
		}
		double wait = r.retry_after >= 0 ? r.retry_after : backoff(attempt);
		if (wait > 60)
			wait = 60;
		azure_log(&c->hooks, "azure: managed identity token request to %s failed (%s), retrying in %.1f s",
			  c->imds_endpoint, detail, wait);
		free(detail);
		azure_sleep(&c->hooks, wait);
	}
	curl_slist_free_all(h);
	free(url);
	return ret;
}

/* Runs argv (PATH lookup), collecting stdout and stderr, within timeout_s. Returns the exit
 * status (>= 0), -1 if it could not start (errno-style reason in *why), -2 on timeout. */
static int run_capture(char *const argv[], buffer *out, buffer *errout, int timeout_s, char **why)
{
	int op[2], ep[2];
	if (pipe2(op, O_CLOEXEC) < 0) {
		*why = xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		*why = xasprintf("cannot create a pipe: %s", strerror(errno));
		close(op[0]);
		close(op[1]);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(op[1]);
	close(ep[1]);
	if (rc != 0) {
		*why = xasprintf("%s", rc == ENOENT ? "az is not installed (not found on PATH)" : strerror(rc));
		close(op[0]);
		close(ep[0]);
		return -1;
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct pollfd p[2] = {{.fd = op[0], .events = POLLIN}, {.fd = ep[0], .events = POLLIN}};
	bool timed_out = false;
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		long left = (long)timeout_s * 1000 - spent;
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char chunk[4096];
			ssize_t r = read(p[i].fd, chunk, sizeof(chunk));
			if (r > 0) {
				http_buffer_write(chunk, 1, (size_t)r, i == 0 ? out : errout);
			} else if (r == 0 || errno != EINTR) {
				close(p[i].fd);
				p[i].fd = -1;
			}
			OPENSSL_cleanse(chunk, sizeof(chunk));
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	if (timed_out)
		kill(pid, SIGKILL); /* our own child, by its pid */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		*why = xasprintf("az did not finish within %d s", timeout_s);
		return -2;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* "2024-05-01 12:34:56.123456" (local time, as az prints expiresOn) -> epoch seconds, or NAN. */
static double parse_local_time(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!end)
		end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return NAN;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	return t == (time_t)-1 ? NAN : (double)t;
}

static int fetch_azure_cli(azure_credential *c, fetched *out, char **why)
{
	char *argv[] = {"az", "account", "get-access-token", "--resource", c->resource, "--output", "json", NULL};
	buffer o = {.max = MAX_TOKEN_RESPONSE}, e = {.max = MAX_TOKEN_RESPONSE};
	int rc = run_capture(argv, &o, &e, CLI_TIMEOUT_S, why);
	atomic_fetch_add(&c->token_requests, 1);
	if (rc == -1) {
		http_buffer_wipe(&o);
		http_buffer_wipe(&e);
		return CRED_ABSENT;
	}
	if (rc != 0) {
		if (rc > 0) {
			char *t = server_text(c, &e, NULL);
			*why = xasprintf("az account get-access-token failed (exit status %d)%s%s", rc, *t ? ": " : "", t);
			free(t);
		}
		http_buffer_wipe(&o);
		http_buffer_wipe(&e);
		return CRED_ABSENT;
	}
	http_buffer_wipe(&e);
	json_t *js = o.len ? json_loadb(o.data, o.len, 0, NULL) : NULL;
	http_buffer_wipe(&o);
	const char *tok = json_string_value(json_object_get(js, "accessToken"));
	if (!tok || !*tok) {
		*why = xstrdup("az account get-access-token printed no accessToken");
		json_decref(js);
		return CRED_FAILED;
	}
	double on = json_seconds(json_object_get(js, "expires_on"));
	if (isnan(on)) {
		const char *s = json_string_value(json_object_get(js, "expiresOn"));
		if (s)
			on = parse_local_time(s);
	}
	if (isnan(on)) {
		*why = xstrdup("az account get-access-token printed neither expires_on nor expiresOn");
		OPENSSL_cleanse((char *)tok, strlen(tok));
		json_decref(js);
		return CRED_FAILED;
	}
	out->token = xstrdup(tok);
	out->lifetime = on - (double)time(NULL);
	OPENSSL_cleanse((char *)tok, strlen(tok));
	json_decref(js);
	return GOT_TOKEN;
}

static int fetch(azure_credential *c, bool probing, fetched *out, char **why)
{
	switch (c->kind) {
	case AZURE_CRED_SERVICE_PRINCIPAL:
		return fetch_service_principal(c, out, why);
	case AZURE_CRED_WORKLOAD_IDENTITY:
		return fetch_workload_identity(c, out, why);
	case AZURE_CRED_MANAGED_IDENTITY:
		return fetch_managed_identity(c, probing, out, why);
	case AZURE_CRED_AZURE_CLI:
		return fetch_azure_cli(c, out, why);
	}
	*why = xstrdup("unknown credential kind");
	return CRED_FAILED;
}

/* Caches a fetched token (c->mu held or not yet shared). */
static void store(azure_credential *c, fetched *f)
{
	wipe_free(c->token);
	c->token = f->token;
	double now = azure_now(&c->hooks);
	double life = f->lifetime > 0 ? f->lifetime : 0;
	double margin = life >= 2 * REFRESH_MARGIN_S ? REFRESH_MARGIN_S : life / 2;
	c->expires_at = now + life;
	c->refresh_at = now + life - margin;
}

int azure_credential_token(azure_credential *c, bool refresh, char **token, char **err)
{
	if (err)
		*err = NULL;
	*token = NULL;
	pthread_mutex_lock(&c->mu);
	double now = azure_now(&c->hooks);
	if (!refresh && c->token && now < c->refresh_at) {
		*token = xstrdup(c->token);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	fetched f = {0};
	char *why = NULL;
	int rc = fetch(c, false, &f, &why);
	if (rc == GOT_TOKEN) {
		store(c, &f);
		*token = xstrdup(c->token);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	if (!why)
		why = xstrdup("no token");
	scrub(c, why, NULL);
	if (!refresh && c->token && now < c->expires_at) {
		/* the cached token still works for a while: use it and try again next time */
		azure_log(&c->hooks, "azure: refreshing the token of %s failed (%s); the current one is still valid",
			  c->name, why);
		free(why);
		*token = xstrdup(c->token);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	set_err(err, xasprintf("%s: %s", c->name, why));
	free(why);
	pthread_mutex_unlock(&c->mu);
	return -1;
}

void azure_credential_reject(azure_credential *c, const char *token)
{
	pthread_mutex_lock(&c->mu);
	if (c->token && token && strcmp(c->token, token) == 0) {
		wipe_free(c->token);
		c->token = NULL;
		c->refresh_at = c->expires_at = 0;
	}
	pthread_mutex_unlock(&c->mu);
}

static bool valid_tenant(const char *t)
{
	for (const char *p = t; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
	return true;
}

/* A human list of the variables among names[] that are not set: "AZURE_TENANT_ID and AZURE_CLIENT_ID". */
static char *missing_list(const char *const names[], size_t n)
{
	char *r = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&r, &len);
	size_t miss = 0, total = 0;
	for (size_t i = 0; i < n; i++)
		if (!env(names[i]))
			total++;
	for (size_t i = 0; i < n; i++) {
		if (env(names[i]))
			continue;
		miss++;
		fprintf(f, "%s%s", miss == 1 ? "" : miss == total ? " and " : ", ", names[i]);
	}
	fprintf(f, " %s not set", total == 1 ? "is" : "are");
	fclose(f);
	return r;
}

azure_credential *azure_credential_open(const azure_credential_config *cfg, char **err)
{
	if (err)
		*err = NULL;
	CURLcode curl_init_rc = http_global_init();
	if (curl_init_rc != CURLE_OK) {
		set_err(err, xasprintf("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc)));
		return NULL;
	}
	if (!nonempty(cfg->audience) || !nonempty(cfg->authority)) {
		set_err(err, xstrdup("azure credentials: the audience and authority must be resolved first"));
		return NULL;
	}
	azure_credential *c = xcalloc(1, sizeof(*c));
	if (!c)
		abort();
	pthread_mutex_init(&c->mu, NULL);
	atomic_init(&c->token_requests, 0);
	size_t n = strlen(cfg->audience);
	while (n > 0 && cfg->audience[n - 1] == '/')
		n--;
	c->scope = xasprintf("%.*s/.default", (int)n, cfg->audience);
	c->resource = xstrdup(cfg->audience);
	n = strlen(cfg->authority);
	while (n > 0 && cfg->authority[n - 1] == '/')
		n--;
	c->authority = xasprintf("%.*s/", (int)n, cfg->authority);
	c->hooks = cfg->hooks;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : TOKEN_TIMEOUT_MS;

	const char *tenant = env("AZURE_TENANT_ID"), *client = env("AZURE_CLIENT_ID");
	const char *secret = env("AZURE_CLIENT_SECRET"), *fed = env("AZURE_FEDERATED_TOKEN_FILE");
	char *reasons[4] = {0};
	fetched f = {0};
	char *why = NULL;
	int rc;

	/* 1. service principal */
	static const char *const sp_vars[] = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"};
	if (tenant && client && secret) {
		if (!valid_tenant(tenant)) {
			set_err(err, xstrdup("service principal: AZURE_TENANT_ID is not a tenant id or domain name"));
			goto fail;
		}
		c->kind = AZURE_CRED_SERVICE_PRINCIPAL;
		c->tenant = xstrdup(tenant);
		c->client_id = xstrdup(client);
		c->client_secret = xstrdup(secret);
		c->name = xasprintf("service principal (AZURE_CLIENT_ID=%s)", client);
		rc = fetch(c, true, &f, &why);
		if (rc == GOT_TOKEN)
			goto done;
		scrub(c, why, NULL);
		set_err(err, xasprintf("%s: %s", c->name, why));
		free(why);
		goto fail;
	}
	reasons[0] = missing_list(sp_vars, 3);
	if (secret)
		azure_log(&c->hooks, "azure: AZURE_CLIENT_SECRET is set but %s: not using the service principal",
			  reasons[0]);

	/* 2. workload identity */
	if (fed) {
		if (!tenant || !client) {
			static const char *const wi_vars[] = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID"};
			reasons[1] = missing_list(wi_vars, 2);
			azure_log(&c->hooks, "azure: AZURE_FEDERATED_TOKEN_FILE is set but %s: not using workload identity",
				  reasons[1]);
		} else if (!valid_tenant(tenant)) {
			set_err(err, xstrdup("workload identity: AZURE_TENANT_ID is not a tenant id or domain name"));
			goto fail;
		} else {
			c->kind = AZURE_CRED_WORKLOAD_IDENTITY;
			c->tenant = xstrdup(tenant);
			c->client_id = xstrdup(client);
			c->federated_file = xstrdup(fed);
			c->name = xasprintf("workload identity (AZURE_CLIENT_ID=%s)", client);
			rc = fetch(c, true, &f, &why);
			if (rc == GOT_TOKEN)
				goto done;
			scrub(c, why, NULL);
			set_err(err, xasprintf("%s: %s", c->name, why));
			free(why);
			goto fail;
		}
	} else {
		reasons[1] = xstrdup("AZURE_FEDERATED_TOKEN_FILE is not set");
	}

	/* 3. managed identity */
	free(c->tenant);
	c->tenant = NULL;
	free(c->client_id);
	c->client_id = client ? xstrdup(client) : NULL;
	const char *imds = env("AZURE_IMDS_ENDPOINT");
	n = strlen(imds ? imds : AZURE_DEFAULT_IMDS);
	while (n > 0 && (imds ? imds : AZURE_DEFAULT_IMDS)[n - 1] == '/')
		n--;
	c->imds_endpoint = xasprintf("%.*s", (int)n, imds ? imds : AZURE_DEFAULT_IMDS);
	c->kind = AZURE_CRED_MANAGED_IDENTITY;
	c->name = client ? xasprintf("managed identity (AZURE_CLIENT_ID=%s)", client) : xstrdup("managed identity");
	rc = fetch(c, true, &f, &why);
	if (rc == GOT_TOKEN)
		goto done;
	scrub(c, why, NULL);
	if (rc == CRED_FAILED) {
		set_err(err, xasprintf("%s: %s", c->name, why));
		free(why);
		goto fail;
	}
	reasons[2] = why;
	why = NULL;
	free(c->name);

	/* 4. Azure CLI */
	free(c->client_id);
	c->client_id = NULL;
	c->kind = AZURE_CRED_AZURE_CLI;
	c->name = xstrdup("Azure CLI");
	rc = fetch(c, true, &f, &why);
	if (rc == GOT_TOKEN)
		goto done;
	scrub(c, why, NULL);
	if (rc == CRED_FAILED) {
		set_err(err, xasprintf("%s: %s", c->name, why));
		free(why);
		goto fail;
	}
	reasons[3] = why;
	set_err(err, xasprintf("no Azure credential works: service principal: %s; workload identity: %s; "
			       "managed identity: %s; Azure CLI: %s",
			       reasons[0], reasons[1], reasons[2], reasons[3]));
fail:
	for (int i = 0; i < 4; i++)
		free(reasons[i]);
	azure_credential_close(c);
	return NULL;
done:
	for (int i = 0; i < 4; i++)
		free(reasons[i]);
	store(c, &f);
	return c;
}
