/* The libcurl plumbing the Docker client, the ARM client and the credential code share: one
 * global initialisation, pools of idle easy handles (kept-alive connections reused across
 * threads), and bounded response buffers that never leave a copy of a body in freed memory
 * (ARM answers can hold storage keys, token answers hold tokens). */
#ifndef BERTH_CURL_POOL_H
#define BERTH_CURL_POOL_H
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* curl_global_init, once per process; its result. */
CURLcode curl_global_once(void);

typedef struct curl_buffer {
	char *data; /* NUL-terminated */
	size_t len, cap;
	size_t max;   /* the largest body accepted; 0: 64 MiB */
	bool too_big; /* the body was larger: the transfer was aborted */
} curl_buffer;

/* CURLOPT_WRITEFUNCTION for a curl_buffer (also usable to fill one from any source). */
size_t curl_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata);
/* Wipes and frees the body; the buffer is empty again. */
void curl_buffer_wipe(curl_buffer *b);

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
