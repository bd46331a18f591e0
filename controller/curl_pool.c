#include "curl_pool.h"

#include <stdlib.h>

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
