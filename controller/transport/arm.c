/* The Azure Resource Manager client: libcurl + jansson. See arm.h and
 * /work/shared/api/azure/README.md ("Common ARM behaviour").
 *
 * Threads: an arm handle owns a mutex-protected pool of curl easy handles (as docker.c), the
 * credential has its own lock, and the per-subscription budgets share one lock that is never held
 * while sleeping.
 *
 * Throttling has three layers, all waiting through the sleep hook:
 *  - a token bucket per subscription and kind (reads, writes, deletes) that every attempt passes,
 *    so berth never sends more than ARM's documented rate even when it has much to do;
 *  - a 429 blocks its whole subscription until Retry-After has passed (other threads wait too),
 *    then the request is sent again; the per-attempt timeout does not run while waiting;
 *  - when an x-ms-ratelimit-remaining-* header falls below low_remaining, requests to that
 *    subscription are spaced out, more the fewer remain. */
#include "transport/arm.h"
#include "core/util.h"
#include "transport/http.h"
#include "core/backoff.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define ARM_DEFAULT_TIMEOUT_MS 120000L
#define ARM_CONNECT_TIMEOUT_MS 10000L
#define ARM_MAX_RESPONSE ((size_t)256 << 20)
#define ARM_MAX_ERR_TEXT 400
#define ARM_MAX_PAGES 100000

/* The one table of api-versions: one per resource type berth manages. */
static const char *const api_versions[ARM_API_COUNT] = {
	[ARM_API_NONE] = NULL,
	[ARM_API_CONTAINER_INSTANCE] = "2023-05-01",
	[ARM_API_TRAFFIC_MANAGER] = "2022-04-01",
	[ARM_API_STORAGE] = "2023-05-01",
	[ARM_API_COMPUTE] = "2024-11-01",
	[ARM_API_RESOURCES] = "2021-04-01",
};

const char *arm_api_version(arm_api api)
{
	if ((int)api < 0 || api >= ARM_API_COUNT)
		return NULL;
	return api_versions[api];
}

enum { KIND_READ, KIND_WRITE, KIND_DELETE, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"reads", "writes", "deletes"};

typedef struct subscription {
	struct subscription *next;
	char *id; /* lower-case; "" for tenant-level calls */
	double tokens[KIND_COUNT];
	double refilled[KIND_COUNT];
	double blocked_until; /* a 429's Retry-After */
	double pace;          /* seconds between requests while the remaining quota is low */
	double next_paced;
	long remaining;       /* the lowest x-ms-ratelimit-remaining-* last seen; -1: none */
} subscription;

struct arm {
	azure_endpoints ep;
	char *origin; /* scheme://host:port, lower-case, with the port spelled out */
	azure_credential *cred;
	azure_hooks hooks;
	long timeout_ms;
	int max_retries, max_throttle_retries;
	double max_retry_after, backoff_base, backoff_max, lro_poll, lro_timeout;
	arm_budget budget[KIND_COUNT];
	long low_remaining;
	double low_remaining_delay;

	http_pool pool; /* idle easy handles */

	pthread_mutex_t sub_mu;
	subscription *subs;

	atomic_ulong requests;
	atomic_ulong by_status[ARM_STATUS_SLOTS]; /* answers by HTTP status; 0: no answer */
	berth_cancel *cancel; /* borrowed */
};

/* ---- small helpers ---- */

/* Sleeps through the injected hook (whose owner makes it cancellable), else on the real clock
 * until the cancel fires. Returns false once cancelled. */
static bool arm_sleep(arm *a, double seconds)
{
	if (a->hooks.sleep)
		a->hooks.sleep(a->hooks.ctx, seconds);
	else
		berth_sleep(NULL, seconds, a->cancel);
	return !berth_cancel_fired(a->cancel);
}

unsigned long arm_requests_with_status(const arm *a, long status)
{
	if (!a || status < 0 || status >= ARM_STATUS_SLOTS)
		return 0;
	return atomic_load(&((arm *)a)->by_status[status]);
}

bool arm_canceled(const arm *a)
{
	return a && berth_cancel_fired(a->cancel);
}

static void scrub_one(char *s, const char *secret)
{
	if (!s || !secret)
		return;
	size_t sl = strlen(secret);
	if (sl < 4)
		return;
	char *p;
	while ((p = strstr(s, secret)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + sl, strlen(p + sl) + 1);
	}
}

static const char *reason_phrase(long s)
{
	switch (s) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return s >= 500 ? "Server Error" : s >= 400 ? "Client Error" : "";
	}
}

/* ---- URLs ---- */

/* "https://Host:443/x" -> "https://host:443"; NULL if it is not an absolute http(s) URL. */
static char *origin_of(const char *url, const char **rest)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return NULL;
	size_t slen = (size_t)(sep - url);
	bool https = slen == 5 && strncasecmp(url, "https", 5) == 0;
	bool http = slen == 4 && strncasecmp(url, "http", 4) == 0;
	if (!https && !http)
		return NULL;
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	if (alen == 0 || memchr(auth, '@', alen))
		return NULL;
	size_t hlen = alen;
	const char *port = NULL;
	if (auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);
		if (!close)
			return NULL;
		hlen = (size_t)(close - auth) + 1;
		if (hlen < alen && auth[hlen] == ':')
			port = auth + hlen + 1;
	} else {
		const char *colon = memchr(auth, ':', alen);
		if (colon) {
			hlen = (size_t)(colon - auth);
			port = colon + 1;
		}
	}
	if (rest)
		*rest = auth + alen;
	char *o = port && port < auth + alen
			  ? xasprintf("%s://%.*s:%.*s", https ? "https" : "http", (int)hlen, auth,
				      (int)(auth + alen - port), port)
			  : xasprintf("%s://%.*s:%s", https ? "https" : "http", (int)hlen, auth, https ? "443" : "80");
	for (char *p = o; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return o;
}

/* The path of a URL or path, without query or fragment, for messages (caller frees). */
static char *display_path(const char *path_or_url)
{
	const char *p = path_or_url;
	if (p[0] != '/') {
		const char *rest = NULL;
		char *o = origin_of(p, &rest);
		free(o);
		if (o && rest)
			p = rest;
	}
	return xstrndup(p, strcspn(p, "?#"));
}

/* The subscription id in a path ("/subscriptions/{id}/..."), lower-case; "" if none. */
static char *subscription_of(const char *path)
{
	const char *p = path;
	while ((p = strcasestr(p, "/subscriptions/")) != NULL) {
		p += strlen("/subscriptions/");
		size_t n = strcspn(p, "/?#");
		if (n > 0) {
			char *s = xstrndup(p, n);
			for (char *q = s; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			return s;
		}
	}
	return xstrdup("");
}

/* ---- open and close ---- */

static double pos_or(double v, double def)
{
	return v > 0 ? v : def;
}

arm *arm_open(const arm_config *cfg, char **err)
{
	if (err)
		*err = NULL;
	CURLcode curl_init_rc = http_global_init();
	if (curl_init_rc != CURLE_OK) {
		set_err(err, xasprintf("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc)));
		return NULL;
	}
	arm_config zero = {0};
	if (!cfg)
		cfg = &zero;
	arm *a = xcalloc(1, sizeof(*a));
	if (!a)
		abort();
	http_pool_init(&a->pool);
	pthread_mutex_init(&a->sub_mu, NULL);
	atomic_init(&a->requests, 0);
	a->hooks = cfg->hooks;
	a->cancel = cfg->cancel;
	a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : ARM_DEFAULT_TIMEOUT_MS;
	a->max_retries = cfg->max_retries < 0 ? 0 : cfg->max_retries ? cfg->max_retries : 4;
	a->max_throttle_retries = cfg->max_throttle_retries < 0 ? 0
				  : cfg->max_throttle_retries ? cfg->max_throttle_retries
							      : 10;
	a->max_retry_after = pos_or(cfg->max_retry_after_s, 3600);
	a->backoff_base = pos_or(cfg->backoff_base_s, 1);
	a->backoff_max = pos_or(cfg->backoff_max_s, 60);
	a->lro_poll = pos_or(cfg->lro_poll_s, 5);
	a->lro_timeout = pos_or(cfg->lro_timeout_s, 3600);
	const arm_budget defaults[KIND_COUNT] = {{250, 25}, {200, 10}, {200, 10}};
	const arm_budget *given[KIND_COUNT] = {&cfg->reads, &cfg->writes, &cfg->deletes};
	for (int k = 0; k < KIND_COUNT; k++) {
		a->budget[k].burst = given[k]->burst >= 1 ? given[k]->burst : defaults[k].burst;
		a->budget[k].per_second = given[k]->per_second > 0 ? given[k]->per_second : defaults[k].per_second;
	}
	a->low_remaining = cfg->low_remaining > 0 ? cfg->low_remaining : 50;
	a->low_remaining_delay = pos_or(cfg->low_remaining_delay_s, 2);

	if (azure_endpoints_resolve(cfg->resource_manager, cfg->active_directory, &a->ep, err) < 0)
		goto fail;
	a->origin = origin_of(a->ep.resource_manager, NULL);
	if (!a->origin) {
		set_err(err, xasprintf("invalid resource manager endpoint %s", a->ep.resource_manager));
		goto fail;
	}
	azure_credential_config cc = {
		.audience = a->ep.audience,
		.authority = a->ep.authority,
		.hooks = cfg->hooks,
	};
	a->cred = azure_credential_open(&cc, err);
	if (!a->cred)
		goto fail;
	return a;
fail:
	arm_close(a);
	return NULL;
}

void arm_close(arm *a)
{
	if (!a)
		return;
	http_pool_destroy(&a->pool);
	for (subscription *s = a->subs, *n; s; s = n) {
		n = s->next;
		free(s->id);
		free(s);
	}
	pthread_mutex_destroy(&a->sub_mu);
	azure_credential_close(a->cred);
	azure_endpoints_free(&a->ep);
	free(a->origin);
	free(a);
}

const char *arm_endpoint(const arm *a)
{
	return a->ep.resource_manager;
}

const char *arm_authority(const arm *a)
{
	return a->ep.authority;
}

const char *arm_audience(const arm *a)
{
	return a->ep.audience;
}

const char *arm_credential_name(const arm *a)
{
	return azure_credential_name(a->cred);
}

azure_credential *arm_credential(arm *a)
{
	return a->cred;
}

unsigned long arm_requests(const arm *a)
{
	return atomic_load(&((arm *)a)->requests);
}

void arm_response_free(arm_response *r)
{
	if (!r)
		return;
	json_decref(r->body);
	free(r->client_request_id);
	free(r->request_id);
	free(r->correlation_id);
	free(r->async_operation);
	free(r->location);
	free(r->etag);
	for (size_t i = 0; i < r->n_ratelimits; i++) {
		free(r->ratelimits[i].name);
		free(r->ratelimits[i].value);
	}
	free(r->ratelimits);
	free(r->error_code);
	free(r->error_message);
	free(r->method);
	free(r->path);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	r->remaining = -1;
}

/* Clears what one attempt's answer fills in (the request members stay). */
static void response_reset_answer(arm_response *r)
{
	char *method = r->method, *path = r->path, *crid = r->client_request_id;
	arm_api api = r->api;
	r->method = r->path = r->client_request_id = NULL;
	arm_response_free(r);
	r->method = method;
	r->path = path;
	r->client_request_id = crid;
	r->api = api;
}

static long lowest_count(const char *v);

/* ---- budgets ---- */

static subscription *sub_get(arm *a, const char *id)
{
	/* sub_mu held */
	for (subscription *s = a->subs; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	subscription *s = xcalloc(1, sizeof(*s));
	if (!s)
		abort();
	s->id = xstrdup(id);
	double now = azure_now(&a->hooks);
	for (int k = 0; k < KIND_COUNT; k++) {
		s->tokens[k] = a->budget[k].burst;
		s->refilled[k] = now;
	}
	s->remaining = -1;
	s->next = a->subs;
	a->subs = s;
	return s;
}

/* Waits until the subscription may take one more request of this kind, and takes it; false when
 * cancelled while waiting. */
static bool budget_take(arm *a, const char *sub, int kind, const char *method, const char *shown)
{
	for (;;) {
		pthread_mutex_lock(&a->sub_mu);
		subscription *s = sub_get(a, sub);
		double now = azure_now(&a->hooks);
		const arm_budget *b = &a->budget[kind];
		double t = s->tokens[kind] + (now - s->refilled[kind]) * b->per_second;
		s->tokens[kind] = t > b->burst ? b->burst : t;
		s->refilled[kind] = now;
		double wait = 0;
		const char *why = NULL;
		if (s->blocked_until > now) {
			wait = s->blocked_until - now;
			why = NULL; /* the 429 that set it was logged */
		} else if (s->tokens[kind] < 1) {
			wait = (1 - s->tokens[kind]) / b->per_second;
			why = "the request budget";
		} else if (s->pace > 0 && s->next_paced > now) {
			wait = s->next_paced - now;
			why = "the low remaining quota";
		} else {
			s->tokens[kind] -= 1;
			if (s->pace > 0)
				s->next_paced = now + s->pace;
		}
		pthread_mutex_unlock(&a->sub_mu);
		if (wait <= 0)
			return true;
		if (why && wait >= 1)
			azure_log(&a->hooks, "arm: %s %s: waiting %.1f s for %s of subscription %s (%s)", method, shown,
				  wait, why, *sub ? sub : "(none)", kind_names[kind]);
		if (!arm_sleep(a, wait))
			return false;
	}
}

static void budget_block(arm *a, const char *sub, double seconds)
{
	pthread_mutex_lock(&a->sub_mu);
	subscription *s = sub_get(a, sub);
	double until = azure_now(&a->hooks) + seconds;
	if (until > s->blocked_until)
		s->blocked_until = until;
	pthread_mutex_unlock(&a->sub_mu);
}

/* Reads the remaining quota an answer reported and sets the subscription's pace. */
static void budget_observe(arm *a, const char *sub, const arm_response *r, const char *method, const char *shown)
{
	if (r->remaining < 0)
		return;
	pthread_mutex_lock(&a->sub_mu);
	subscription *s = sub_get(a, sub);
	long was = s->remaining;
	s->remaining = r->remaining;
	double pace = 0;
	if (r->remaining < a->low_remaining)
		pace = a->low_remaining_delay * (double)(a->low_remaining - r->remaining) / (double)a->low_remaining;
	bool started = pace > 0 && s->pace == 0;
	bool ended = pace == 0 && s->pace > 0;
	s->pace = pace;
	if (pace > 0) /* the next request goes pace seconds after this answer */
		s->next_paced = azure_now(&a->hooks) + pace;
	pthread_mutex_unlock(&a->sub_mu);
	if (started) {
		const char *name = "x-ms-ratelimit-remaining";
		for (size_t i = 0; i < r->n_ratelimits; i++)
			if (lowest_count(r->ratelimits[i].value) == r->remaining)
				name = r->ratelimits[i].name;
		azure_log(&a->hooks,
			  "arm: %s %s: %s is %ld (below %ld): spacing requests to subscription %s by %.2f s "
			  "(client request id %s, correlation id %s)",
			  method, shown, name, r->remaining, a->low_remaining, *sub ? sub : "(none)", pace,
			  r->client_request_id ? r->client_request_id : "-", r->correlation_id ? r->correlation_id : "-");
	} else if (ended && was >= 0) {
		azure_log(&a->hooks, "arm: subscription %s: remaining quota is %ld again, no more spacing",
			  *sub ? sub : "(none)", r->remaining);
	}
}

/* ---- libcurl plumbing ---- */

typedef http_buffer buffer;

typedef struct {
	arm_response *r;
	double retry_after_s, retry_after_ms;
} header_state;

static void set_str(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = xstrndup(v, n);
}

/* "Microsoft.Compute/HighCostGet3Min;107,Microsoft.Compute/HighCostGet30Min;587" -> 107; "1199" -> 1199. */
static long lowest_count(const char *v)
{
	long low = -1;
	const char *p = v;
	while (*p) {
		const char *item_end = p + strcspn(p, ",");
		const char *semi = memchr(p, ';', (size_t)(item_end - p));
		const char *num = semi ? semi + 1 : p;
		while (num < item_end && isspace((unsigned char)*num))
			num++;
		if (num < item_end && isdigit((unsigned char)*num)) {
			long n = strtol(num, NULL, 10);
			if (low < 0 || n < low)
				low = n;
		}
		p = *item_end ? item_end + 1 : item_end;
	}
	return low;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	header_state *h = userdata;
	size_t n = size * nmemb;
	if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0) { /* a new answer (after 100 Continue, say) */
		response_reset_answer(h->r);
		h->retry_after_s = h->retry_after_ms = -1;
		return n;
	}
	const char *colon = memchr(ptr, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - ptr);
	const char *v = colon + 1, *end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	size_t vl = (size_t)(end - v);
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(ptr, name, nl) == 0)
	arm_response *r = h->r;
	if (IS("x-ms-request-id")) {
		set_str(&r->request_id, v, vl);
	} else if (IS("x-ms-correlation-request-id")) {
		set_str(&r->correlation_id, v, vl);
	} else if (IS("azure-asyncoperation")) {
		set_str(&r->async_operation, v, vl);
	} else if (IS("location")) {
		set_str(&r->location, v, vl);
	} else if (IS("etag")) {
		set_str(&r->etag, v, vl);
	} else if (IS("retry-after") || IS("retry-after-ms") || IS("x-ms-retry-after-ms")) {
		char *s = xstrndup(v, vl);
		char *e;
		double d = strtod(s, &e);
		bool ms = !IS("retry-after");
		if (e != s && *e == '\0' && d >= 0) {
			if (ms)
				h->retry_after_ms = d / 1000.0;
			else
				h->retry_after_s = d;
		} else if (!ms) {
			time_t t = curl_getdate(s, NULL); /* an HTTP-date */
			if (t != (time_t)-1) {
				double left = difftime(t, time(NULL));
				h->retry_after_s = left > 0 ? left : 0;
			}
		}
		free(s);
	} else if (nl > 25 && strncasecmp(ptr, "x-ms-ratelimit-remaining-", 25) == 0) {
		arm_header *nh = xrealloc(r->ratelimits, (r->n_ratelimits + 1) * sizeof(*nh));
		if (!nh)
			abort();
		r->ratelimits = nh;
		char *name = xstrndup(ptr, nl);
		for (char *q = name; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		nh[r->n_ratelimits].name = name;
		nh[r->n_ratelimits].value = xstrndup(v, vl);
		r->n_ratelimits++;
		long low = lowest_count(nh[r->n_ratelimits - 1].value);
		if (low >= 0 && (r->remaining < 0 || low < r->remaining))
			r->remaining = low;
	}
#undef IS
	return n;
}

/* One attempt. Fills r (status, headers) and body. Returns 0 when an answer arrived, else -1 with
 * *transport set to curl's words. */
static int perform(arm *a, const char *method, const char *url, const char *body, const char *token,
		   arm_response *r, buffer *out, char **transport)
{
	atomic_fetch_add(&a->requests, 1);
	CURL *c = http_pool_get(&a->pool);
	if (!c) {
		*transport = xstrdup("cannot create a libcurl handle");
		return -1;
	}
	char errbuf[CURL_ERROR_SIZE];
	header_state hs = {.r = r, .retry_after_s = -1, .retry_after_ms = -1};
	struct curl_slist *h = NULL;
	char *crid = xasprintf("x-ms-client-request-id: %s", r->client_request_id);
	h = curl_slist_append(h, crid);
	free(crid);
	h = curl_slist_append(h, "x-ms-return-client-request-id: true");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (!h)
		abort();
	http_setup setup = {
		.url = url,
		.method = method,
		.body = body ? body : "",
		.headers = h,
		.timeout_ms = a->timeout_ms,
		.connect_timeout_ms = ARM_CONNECT_TIMEOUT_MS,
		.web_only = true,
		.out = out,
		.max_body = ARM_MAX_RESPONSE,
		.header_fn = on_header,
		.header_data = &hs,
		.cancel = a->cancel,
		.errbuf = errbuf,
	};
	http_easy_setup(c, &setup);
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, token);
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		atomic_fetch_add(&a->by_status[r->status > 0 && r->status < ARM_STATUS_SLOTS ? r->status : 0], 1);
		r->retry_after = hs.retry_after_ms >= 0 ? hs.retry_after_ms : hs.retry_after_s;
	} else {
		if (http_canceled(rc, a->cancel))
			*transport = xstrdup("cancelled");
		else if (out->too_big)
			*transport = xasprintf("the response is larger than %zu MiB", ARM_MAX_RESPONSE >> 20);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			*transport = xasprintf("no answer within %ld ms", a->timeout_ms);
		else
			*transport = xasprintf("%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r->status = 0;
		atomic_fetch_add(&a->by_status[0], 1);
		ret = -1;
	}
	http_easy_release(c); /* the token must not stay in the pooled handle */
	curl_slist_free_all(h);
	http_pool_put(&a->pool, c);
	return ret;
}

/* ---- errors ---- */

/* "code: message [details: code: message; ...]" from ARM's error body, or a bounded excerpt of
 * the body. NULL if there is nothing to say. Fills r->error_code/error_message. */
static char *error_detail(arm_response *r, const buffer *raw)
{
	json_t *e = json_object_get(r->body, "error");
	if (json_is_object(e)) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		free(r->error_code);
		free(r->error_message);
		r->error_code = code ? xstrdup(code) : NULL;
		r->error_message = msg ? xstrdup(msg) : NULL;
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		fprintf(f, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
		json_t *details = json_object_get(e, "details");
		if (json_is_array(details) && json_array_size(details) > 0) {
			fputs(" [details: ", f);
			size_t i;
			json_t *d;
			json_array_foreach(details, i, d)
			{
				const char *dc = json_string_value(json_object_get(d, "code"));
				const char *dm = json_string_value(json_object_get(d, "message"));
				fprintf(f, "%s%s%s%s", i ? "; " : "", dc ? dc : "", dc && dm ? ": " : "", dm ? dm : "");
				if (i >= 9 && json_array_size(details) > 10) {
					fprintf(f, "; and %zu more", json_array_size(details) - 10);
					break;
				}
			}
			fputc(']', f);
		}
		fclose(f);
		if (!*buf) {
			free(buf);
			return NULL;
		}
		return buf;
	}
	const char *t = raw->data ? raw->data : "";
	while (isspace((unsigned char)*t))
		t++;
	size_t l = strnlen(t, ARM_MAX_ERR_TEXT);
	while (l > 0 && isspace((unsigned char)t[l - 1]))
		l--;
	if (l == 0)
		return NULL;
	char *s = xasprintf("%.*s%s", (int)l, t, l == ARM_MAX_ERR_TEXT ? "..." : "");
	for (char *p = s; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	return s;
}

static char *ids(const arm_response *r)
{
	if (r->correlation_id)
		return xasprintf("client request id %s, correlation id %s", r->client_request_id, r->correlation_id);
	return xasprintf("client request id %s", r->client_request_id);
}

static bool is_retryable_5xx(long s)
{
	return s == 408 || (s >= 500 && s != 501 && s != 505);
}

static bool is_token_rejected(const arm_response *r)
{
	return r->status == 401 && r->error_code &&
	       (strcasecmp(r->error_code, "InvalidAuthenticationToken") == 0 ||
		strcasecmp(r->error_code, "ExpiredAuthenticationToken") == 0 ||
		strcasecmp(r->error_code, "InvalidAuthenticationTokenAudience") == 0);
}

static double backoff(const arm *a, int attempt)
{
	return berth_backoff(a->backoff_base, a->backoff_max, attempt);
}

/* ---- requests ---- */

int arm_request(arm *a, const char *method, const char *path_or_url, arm_api api, json_t *body, arm_response *out,
		char **err)
{
	if (err)
		*err = NULL;
	memset(out, 0, sizeof(*out));
	arm_response_free(out);
	if (!nonempty(method) || !nonempty(path_or_url)) {
		set_err(err, xstrdup("arm_request: a method and a path are required"));
		return -1;
	}
	out->method = xstrdup(method);
	out->path = xstrdup(path_or_url);
	out->api = api;
	char *shown = display_path(path_or_url);
	char *url = NULL;
	if (path_or_url[0] == '/') {
		const char *ver = arm_api_version(api);
		if (api != ARM_API_NONE && !ver) {
			set_err(err, xasprintf("%s %s: unknown api kind %d", method, shown, (int)api));
			free(shown);
			return -1;
		}
		bool has_ver = strcasestr(path_or_url, "api-version=") != NULL;
		if (ver && !has_ver)
			url = xasprintf("%s%s%capi-version=%s", a->ep.resource_manager, path_or_url,
					strchr(path_or_url, '?') ? '&' : '?', ver);
		else
			url = xasprintf("%s%s", a->ep.resource_manager, path_or_url);
	} else {
		char *o = origin_of(path_or_url, NULL);
		bool same = o && strcmp(o, a->origin) == 0;
		free(o);
		if (!same) {
			set_err(err, xasprintf("%s %s: refusing to send the ARM token to a URL outside %s", method,
					       shown, a->ep.resource_manager));
			free(shown);
			return -1;
		}
		url = xstrdup(path_or_url);
	}
	char *body_text = NULL;
	if (body) {
		body_text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!body_text) {
			set_err(err, xasprintf("%s %s: cannot encode the request body as JSON", method, shown));
			free(shown);
			free(url);
			return -1;
		}
	}
	char *sub = subscription_of(path_or_url);
	int kind = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? KIND_READ
		   : strcmp(method, "DELETE") == 0			      ? KIND_DELETE
									      : KIND_WRITE;
	char *token = NULL;
	char *terr = NULL;
	int ret = -1;
	if (azure_credential_token(a->cred, false, &token, &terr) < 0) {
		set_err(err, xasprintf("%s %s: cannot get a token: %s", method, shown, terr));
		free(terr);
		goto out;
	}
	int retries = 0, throttles = 0;
	bool refreshed = false;
	for (;;) {
		if (berth_cancel_fired(a->cancel) || !budget_take(a, sub, kind, method, shown)) {
			set_err(err, xasprintf("%s %s: cancelled", method, shown));
			goto out;
		}
		char crid[37];
		azure_uuid(crid);
		response_reset_answer(out);
		free(out->client_request_id);
		out->client_request_id = xstrdup(crid);
		buffer raw = {0};
		char *transport = NULL;
		if (perform(a, method, url, body_text, token, out, &raw, &transport) < 0) {
			http_buffer_wipe(&raw);
			if (retries < a->max_retries) {
				double w = backoff(a, retries);
				retries++;
				azure_log(&a->hooks, "arm: %s %s: %s; retry %d of %d in %.1f s (client request id %s)",
					  method, shown, transport, retries, a->max_retries, w, crid);
				free(transport);
				arm_sleep(a, w);
				continue;
			}
			char *msg = retries ? xasprintf("%s %s: %s, after %d retries (client request id %s)", method, shown,
						  transport, retries, crid)
				      : xasprintf("%s %s: %s (client request id %s)", method, shown, transport, crid);
			free(transport);
			azure_log(&a->hooks, "arm: %s", msg);
			set_err(err, msg);
			goto out;
		}
		if (raw.len > 0)
			out->body = json_loadb(raw.data, raw.len, JSON_DECODE_ANY, NULL);
		budget_observe(a, sub, out, method, shown);
		if (out->status >= 200 && out->status < 300) {
			http_buffer_wipe(&raw);
			ret = 0;
			goto out;
		}
		char *detail = error_detail(out, &raw);
		http_buffer_wipe(&raw);
		scrub_one(detail, token);
		char *idtext = ids(out);
		if (is_token_rejected(out) && !refreshed) {
			refreshed = true;
			azure_log(&a->hooks, "arm: %s %s: 401 %s: getting a new token and retrying (%s)", method, shown,
				  out->error_code, idtext);
			free(detail);
			free(idtext);
			/* drops the cached token unless another thread has replaced it already */
			azure_credential_reject(a->cred, token);
			azure_token_free(token);
			token = NULL;
			if (azure_credential_token(a->cred, false, &token, &terr) < 0) {
				set_err(err, xasprintf("%s %s: cannot get a new token: %s", method, shown, terr));
				free(terr);
				goto out;
			}
			continue;
		}
		if (out->status == 429 && throttles < a->max_throttle_retries &&
		    (out->retry_after < 0 || out->retry_after <= a->max_retry_after)) {
			double w = out->retry_after >= 0 ? out->retry_after : backoff(a, throttles);
			throttles++;
			azure_log(&a->hooks, "arm: %s %s: 429 Too Many Requests%s%s; throttle retry %d of %d in %.0f s (%s)",
				  method, shown, detail ? ": " : "", detail ? detail : "", throttles,
				  a->max_throttle_retries, w, idtext);
			free(detail);
			free(idtext);
			budget_block(a, sub, w); /* the next budget_take waits it out, with everyone else */
			continue;
		}
		if (is_retryable_5xx(out->status) && retries < a->max_retries) {
			double w = backoff(a, retries);
			if (out->retry_after > w && out->retry_after <= a->max_retry_after)
				w = out->retry_after;
			retries++;
			azure_log(&a->hooks, "arm: %s %s: %ld %s%s%s; retry %d of %d in %.1f s (%s)", method, shown,
				  out->status, reason_phrase(out->status), detail ? ": " : "", detail ? detail : "",
				  retries, a->max_retries, w, idtext);
			free(detail);
			free(idtext);
			arm_sleep(a, w);
			continue;
		}
		const char *rp = reason_phrase(out->status);
		char *after = NULL;
		if (out->status == 429 && out->retry_after > a->max_retry_after)
			after = xasprintf(" (Retry-After %.0f s is longer than the %.0f s berth waits)", out->retry_after,
					  a->max_retry_after);
		else if (out->status == 429 && throttles)
			after = xasprintf(", still throttled after %d retries", throttles);
		else if (retries)
			after = xasprintf(", after %d retries", retries);
		char *msg = xasprintf("%s %s: %ld%s%s%s%s%s (%s)", method, shown, out->status, *rp ? " " : "", rp,
				      detail ? ": " : "", detail ? detail : "", after ? after : "", idtext);
		free(after);
		free(detail);
		free(idtext);
		if (out->status != 404) /* absence is an answer, not a failure */
			azure_log(&a->hooks, "arm: %s", msg);
		set_err(err, msg);
		goto out;
	}
out:
	azure_token_free(token);
	free(sub);
	free(body_text);
	free(url);
	free(shown);
	return ret;
}

/* ---- long-running operations ---- */

static bool is_terminal(const char *s)
{
	return s && (strcasecmp(s, "Succeeded") == 0 || strcasecmp(s, "Failed") == 0 ||
		     strcasecmp(s, "Canceled") == 0 || strcasecmp(s, "Cancelled") == 0);
}

static const char *provisioning_state(const arm_response *r)
{
	return json_string_value(json_object_get(json_object_get(r->body, "properties"), "provisioningState"));
}

/* The failure of an operation: fills resp's error members and *err. */
static void op_failed(arm *a, arm_response *resp, const char *status, json_t *error, const char *shown, char **err)
{
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *msg = json_string_value(json_object_get(error, "message"));
	free(resp->error_code);
	free(resp->error_message);
	resp->error_code = code ? xstrdup(code) : NULL;
	resp->error_message = msg ? xstrdup(msg) : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *details = json_object_get(error, "details");
	if (json_is_array(details) && json_array_size(details) > 0) {
		fputs(" [details: ", f);
		size_t i;
		json_t *d;
		json_array_foreach(details, i, d)
		{
			const char *dc = json_string_value(json_object_get(d, "code"));
			const char *dm = json_string_value(json_object_get(d, "message"));
			fprintf(f, "%s%s%s%s", i ? "; " : "", dc ? dc : "", dc && dm ? ": " : "", dm ? dm : "");
		}
		fputc(']', f);
	}
	fclose(f);
	char *idtext = ids(resp);
	char *m = xasprintf("%s %s: the operation %s%s%s%s%s%s (%s)", resp->method, shown, status,
			    code || msg ? ": " : "", code ? code : "", code && msg ? ": " : "", msg ? msg : "", buf,
			    idtext);
	free(idtext);
	free(buf);
	azure_log(&a->hooks, "arm: %s", m);
	set_err(err, m);
}

int arm_wait_lro(arm *a, arm_response *resp, char **err)
{
	if (err)
		*err = NULL;
	if (!resp->method || !resp->path || resp->status < 200 || resp->status >= 300) {
		set_err(err, xasprintf("%s %s: no operation to wait for (HTTP %ld)", resp->method ? resp->method : "?",
				       resp->path ? resp->path : "?", resp->status));
		return -1;
	}
	const char *method = resp->method;
	bool put_like = strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	const char *ps = provisioning_state(resp);
	char *async = resp->async_operation ? xstrdup(resp->async_operation) : NULL;
	char *loc = resp->location ? xstrdup(resp->location) : NULL;
	/* a Location on a 200/201 of a PUT is just where the resource is; only 202 means "poll me" */
	if (loc && !async && resp->status != 202) {
		free(loc);
		loc = NULL;
	}
	bool poll_resource = !async && !loc && put_like && ps && !is_terminal(ps);
	if (!async && !loc && !poll_resource) {
		if (ps && (strcasecmp(ps, "Failed") == 0 || strcasecmp(ps, "Canceled") == 0)) {
			char *shown = display_path(resp->path);
			op_failed(a, resp, ps, json_object_get(json_object_get(resp->body, "properties"), "error"), shown,
				  err);
			free(shown);
			return -1;
		}
		return 0; /* synchronous, or already done */
	}
	char *shown = display_path(resp->path);
	double deadline = azure_now(&a->hooks) + a->lro_timeout;
	double wait = resp->retry_after >= 0 ? resp->retry_after : a->lro_poll;
	arm_response poll;
	memset(&poll, 0, sizeof(poll));
	arm_response_free(&poll);
	char *perr = NULL;
	int ret = -1;
	char *last = xstrdup(ps ? ps : "InProgress");
	for (;;) {
		if (azure_now(&a->hooks) + wait > deadline) {
			char *idtext = ids(resp);
			char *m = xasprintf("%s %s: the operation did not finish within %.0f s (last status %s; %s)",
					    method, shown, a->lro_timeout, last, idtext);
			free(idtext);
			azure_log(&a->hooks, "arm: %s", m);
			set_err(err, m);
			goto out;
		}
		if (!arm_sleep(a, wait)) {
			set_err(err, xasprintf("%s %s: cancelled while waiting for the operation (last status %s)", method, shown,
					       last));
			goto out;
		}
		arm_response_free(&poll);
		const char *url = async ? async : loc ? loc : resp->path;
		if (arm_request(a, "GET", url, async || loc ? ARM_API_NONE : resp->api, NULL, &poll, &perr) < 0) {
			if (loc && !async && poll.status >= 400 && (poll.error_code || poll.error_message)) {
				/* polling Location: the operation's failure comes as an error status */
				json_t *e = json_object_get(poll.body, "error");
				op_failed(a, resp, "Failed", e, shown, err);
				free(perr);
				goto out;
			}
			set_err(err, xasprintf("waiting for %s %s: %s", method, shown, perr));
			free(perr);
			goto out;
		}
		if (poll.retry_after >= 0) /* else the cadence the operation last asked for */
			wait = poll.retry_after;
		const char *st;
		if (async) {
			st = json_string_value(json_object_get(poll.body, "status"));
		} else if (loc) {
			st = poll.status == 202 ? "InProgress" : "Succeeded";
		} else {
			st = provisioning_state(&poll);
			if (!st)
				st = "Succeeded"; /* a resource without provisioningState is there */
		}
		free(last);
		last = xstrdup(st ? st : "InProgress");
		if (!is_terminal(st))
			continue;
		if (strcasecmp(st, "Succeeded") != 0) {
			json_t *e = async ? json_object_get(poll.body, "error")
				    : json_object_get(json_object_get(poll.body, "properties"), "error");
			if (!e)
				e = json_object_get(poll.body, "error");
			op_failed(a, resp, st, e, shown, err);
			goto out;
		}
		break;
	}
	/* Succeeded: the final answer */
	if (put_like && (async || (loc && (poll.status == 204 || !poll.body)))) {
		arm_response fin;
		if (arm_request(a, "GET", resp->path, resp->api, NULL, &fin, &perr) < 0) {
			set_err(err, xasprintf("%s %s succeeded, but reading the result failed: %s", method, shown, perr));
			free(perr);
			arm_response_free(&fin);
			goto out;
		}
		arm_response_free(&poll);
		poll = fin;
	} else if (strcmp(method, "POST") == 0 && async && loc) {
		arm_response fin;
		if (arm_request(a, "GET", loc, ARM_API_NONE, NULL, &fin, &perr) < 0) {
			set_err(err, xasprintf("%s %s succeeded, but reading the result failed: %s", method, shown, perr));
			free(perr);
			arm_response_free(&fin);
			goto out;
		}
		arm_response_free(&poll);
		poll = fin;
	}
	arm_response_free(resp);
	*resp = poll;
	memset(&poll, 0, sizeof(poll));
	ret = 0;
out:
	arm_response_free(&poll);
	free(last);
	free(async);
	free(loc);
	free(shown);
	return ret;
}

int arm_call(arm *a, const char *method, const char *path_or_url, arm_api api, json_t *body, arm_response *out,
	     char **err)
{
	if (arm_request(a, method, path_or_url, api, body, out, err) < 0)
		return -1;
	return arm_wait_lro(a, out, err);
}

/* ---- paging ---- */

int arm_list(arm *a, const char *path, arm_api api, json_t **items, char **err)
{
	if (err)
		*err = NULL;
	*items = NULL;
	json_t *all = json_array();
	if (!all)
		abort();
	char *next = xstrdup(path);
	char *prev = NULL;
	arm_api kind = api;
	char *shown = display_path(path);
	for (int page = 1;; page++) {
		if (page > ARM_MAX_PAGES) {
			set_err(err, xasprintf("listing %s: more than %d pages; giving up without a result", shown,
					       ARM_MAX_PAGES));
			goto fail;
		}
		arm_response r;
		char *perr = NULL;
		if (arm_request(a, "GET", next, kind, NULL, &r, &perr) < 0) {
			set_err(err, xasprintf("listing %s failed at page %d, so nothing is returned: %s", shown, page, perr));
			free(perr);
			arm_response_free(&r);
			goto fail;
		}
		json_t *value = json_object_get(r.body, "value");
		if (!json_is_array(value)) {
			char *idtext = ids(&r);
			set_err(err, xasprintf("listing %s: page %d has no \"value\" array, so nothing is returned (%s)",
					       shown, page, idtext));
			free(idtext);
			arm_response_free(&r);
			goto fail;
		}
		json_array_extend(all, value);
		json_t *nl = json_object_get(r.body, "nextLink");
		const char *link = json_string_value(nl);
		if (nl && !json_is_null(nl) && !json_is_string(nl)) {
			set_err(err, xasprintf("listing %s: page %d has a nextLink that is not a string", shown, page));
			arm_response_free(&r);
			goto fail;
		}
		if (!nonempty(link)) {
			arm_response_free(&r);
			break;
		}
		if (strcmp(link, next) == 0 || (prev && strcmp(link, prev) == 0)) {
			set_err(err, xasprintf("listing %s: page %d links back to an earlier page; giving up without a "
					       "result",
					       shown, page));
			arm_response_free(&r);
			goto fail;
		}
		free(prev);
		prev = next;
		next = xstrdup(link);
		kind = ARM_API_NONE;
		arm_response_free(&r);
	}
	free(next);
	free(prev);
	free(shown);
	*items = all;
	return 0;
fail:
	free(next);
	free(prev);
	free(shown);
	json_decref(all);
	return -1;
}
