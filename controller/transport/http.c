#include "transport/http.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void init_once(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode curl_global_once(void)
{
	pthread_once(&once, init_once);
	return init_rc;
}

#define CURL_BUFFER_DEFAULT_MAX (64u * 1024 * 1024)

size_t curl_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	curl_buffer *b = userdata;
	size_t n = size * nmemb;
	size_t max = b->max ? b->max : CURL_BUFFER_DEFAULT_MAX;
	if (b->len + n + 1 > max) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		/* no realloc: the old block is wiped before it is freed */
		char *d = malloc(cap);
		if (!d)
			abort();
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

void curl_buffer_wipe(curl_buffer *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void curl_pool_init(curl_pool *p)
{
	pthread_mutex_init(&p->mu, NULL);
	p->idle = NULL;
	p->n = p->cap = 0;
}

CURL *curl_pool_get(curl_pool *p)
{
	CURL *c = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		c = p->idle[--p->n];
	pthread_mutex_unlock(&p->mu);
	return c ? c : curl_easy_init();
}

void curl_pool_put(curl_pool *p, CURL *c)
{
	pthread_mutex_lock(&p->mu);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		CURL **idle = realloc(p->idle, cap * sizeof(*idle));
		if (!idle)
			abort();
		p->idle = idle;
		p->cap = cap;
	}
	p->idle[p->n++] = c;
	pthread_mutex_unlock(&p->mu);
}

void curl_pool_destroy(curl_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		curl_easy_cleanup(p->idle[i]);
	free(p->idle);
	pthread_mutex_destroy(&p->mu);
}
