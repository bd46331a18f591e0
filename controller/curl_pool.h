/* Idle libcurl easy handles, shared by the threads of one client so that connections are kept
 * alive and reused (the Docker client and the ARM client each have one). */
#ifndef BERTH_CURL_POOL_H
#define BERTH_CURL_POOL_H
#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

typedef struct curl_pool {
	pthread_mutex_t mu;
	CURL **idle;
	size_t n, cap;
} curl_pool;

void curl_pool_init(curl_pool *p);
/* An idle handle, or a new one; NULL only if libcurl cannot make one. */
CURL *curl_pool_get(curl_pool *p);
void curl_pool_put(curl_pool *p, CURL *c);
/* Cleans up every idle handle. */
void curl_pool_destroy(curl_pool *p);

#endif
