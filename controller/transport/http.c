#include "transport/http.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "spec/xalloc.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void init_once(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode http_global_init(void)
{
	pthread_once(&once, init_once);
	return init_rc;
}

#define HTTP_BUFFER_DEFAULT_MAX (64u * 1024 * 1024)

size_t http_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	http_buffer *b = userdata;
	size_t n = size * nmemb;
	size_t max = b->max ? b->max : HTTP_BUFFER_DEFAULT_MAX;
	if (b->len + n + 1 > max) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		/* no realloc: the old block is wiped before it is freed */
		char *d = xmalloc(cap);
		if (b->data) {
			memcpy(d, b->data, b->len);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

void http_buffer_wipe(http_buffer *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void http_pool_init(http_pool *p)
{
	pthread_mutex_init(&p->mu, NULL);
	p->idle = NULL;
	p->n = p->cap = 0;
}

CURL *http_pool_get(http_pool *p)
{
	CURL *c = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		c = p->idle[--p->n];
	pthread_mutex_unlock(&p->mu);
	return c ? c : curl_easy_init();
}

void http_pool_put(http_pool *p, CURL *c)
{
	pthread_mutex_lock(&p->mu);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		p->idle = xrealloc(p->idle, cap * sizeof(*p->idle));
		p->cap = cap;
	}
	p->idle[p->n++] = c;
	pthread_mutex_unlock(&p->mu);
}

void http_pool_destroy(http_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	free(p->idle);
	pthread_mutex_destroy(&p->mu);
}

static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return berth_cancel_fired(data) ? 1 : 0; /* non-zero aborts the transfer */
}

void http_easy_setup(CURL *c, const http_setup *s)
{
	curl_easy_reset(c); /* keeps the live connections */
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	if (s->errbuf) {
		s->errbuf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	long connect = s->connect_timeout_ms > 0 && (s->timeout_ms <= 0 || s->connect_timeout_ms < s->timeout_ms)
			       ? s->connect_timeout_ms
			       : s->timeout_ms;
	if (connect > 0)
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect);
	if (s->timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (s->no_proxy)
		curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (s->web_only)
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (s->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "berth");
	if (s->out) {
		s->out->max = s->max_body;
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_buffer_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, s->out);
	}
	if (s->header_fn) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s->header_fn);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, s->header_data);
	}
	if (s->cancel) {
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, s->cancel);
	}
	const char *m = s->method ? s->method : "GET";
	if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
		if (s->body || strcmp(m, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->body ? s->body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(s->body ? strlen(s->body) : 0));
		}
	}
	if (s->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
}

void http_easy_release(CURL *c)
{
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, NULL);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
}

bool http_canceled(CURLcode rc, const berth_cancel *cancel)
{
	return rc == CURLE_ABORTED_BY_CALLBACK && berth_cancel_fired(cancel);
}
