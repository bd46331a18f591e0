/* The libcurl plumbing the Docker client, the ARM client and the credential code share: one
 * global initialisation, the one easy-handle setup (method and body, timeouts, no redirects,
 * bounded response buffers, cancellation), pools of idle easy handles (kept-alive connections
 * reused across threads), and response buffers that never leave a copy of a body in freed memory
 * (ARM answers can hold storage keys, token answers hold tokens). */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/clock.h"

/* curl_global_init, once per process; its result. */
CURLcode http_global_init(void);

typedef struct http_buffer {
	char *data; /* NUL-terminated */
	size_t len, cap;
	size_t max;   /* the largest body accepted; 0: 64 MiB */
	bool too_big; /* the body was larger: the transfer was aborted */
} http_buffer;

/* CURLOPT_WRITEFUNCTION for an http_buffer (also usable to fill one from any source). */
size_t http_buffer_write(char *ptr, size_t size, size_t nmemb, void *userdata);
/* Wipes and frees the body; the buffer is empty again. */
void http_buffer_wipe(http_buffer *b);

/* One request's settings, for http_easy_setup. */
typedef struct http_setup {
	const char *url;
	const char *method;           /* GET, HEAD, POST, PUT, PATCH, DELETE */
	const char *body;             /* NULL: none (a POST then sends an empty body) */
	struct curl_slist *headers;   /* borrowed */
	long timeout_ms, connect_timeout_ms;
	bool no_proxy;                /* ignore *_proxy (the Docker engine, IMDS) */
	bool web_only;                /* only http:// and https:// */
	const char *ca_file;          /* PEM CAs trusted instead of the system's; NULL: the system's */
	http_buffer *out;             /* the body goes here */
	size_t max_body;              /* out->max */
	size_t (*header_fn)(char *buffer, size_t size, size_t n, void *data); /* may be NULL */
	void *header_data;
	berth_cancel *cancel;         /* once fired the transfer stops (CURLE_ABORTED_BY_CALLBACK) */
	char *errbuf;                 /* CURL_ERROR_SIZE bytes, or NULL */
} http_setup;

/* Resets c (its live connections stay) and applies s: the one place berth sets up a transfer. */
void http_easy_setup(CURL *c, const http_setup *s);
/* Forgets what the setup lent c (error buffer, headers, header data), so that a pooled handle
 * keeps no pointer into a finished request and no credential. */
void http_easy_release(CURL *c);
/* The transfer failed because s.cancel fired. */
bool http_canceled(CURLcode rc, const berth_cancel *cancel);

typedef struct http_pool {
	pthread_mutex_t mu;
	CURL **idle;
	size_t n, cap;
} http_pool;

void http_pool_init(http_pool *p);
/* An idle handle, or a new one; NULL only if libcurl cannot make one. */
CURL *http_pool_get(http_pool *p);
void http_pool_put(http_pool *p, CURL *c);
/* Cleans up every idle handle. */
void http_pool_destroy(http_pool *p);

#endif
