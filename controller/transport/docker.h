/* A client for the Docker Engine API (swarm mode) over libcurl: unix socket, TCP with TLS or ssh,
 * API version negotiated with /_ping, JSON bodies with jansson.
 *
 * One docker handle may be used from several threads at once: requests borrow a libcurl handle
 * from a pool, so connections are kept alive and reused. */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H
#include <jansson.h>
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"

typedef struct docker_config {
	const char *host;      /* unix:///path, tcp://host:port or ssh://[user@]host[:port]; NULL: DOCKER_HOST, else unix:///var/run/docker.sock */
	const char *ca_file;   /* TLS: CA, client certificate and key (PEM); NULL: from DOCKER_CERT_PATH if TLS is on */
	const char *cert_file;
	const char *key_file;
	bool tls;              /* use https:// for tcp hosts (on when DOCKER_TLS_VERIFY is non-empty or ca/cert given) */
	bool tls_verify;       /* verify the peer (DOCKER_TLS_VERIFY semantics) */
	const char *api_version; /* NULL: negotiate; DOCKER_API_VERSION pins it */
	long timeout_ms;         /* per request; 0: 60 s */
	berth_cancel *cancel;    /* borrowed: once fired, transfers in flight stop and new ones fail */
} docker_config;

/* Fills cfg from the spec's endpoint/tls (may be NULL) and the environment (DOCKER_HOST,
 * DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION). Strings point into the arguments or
 * the environment, or to static storage. */
void docker_config_init(docker_config *cfg, const char *spec_endpoint, const char *ca, const char *cert,
			const char *key);

typedef struct docker docker;

/* Connects and negotiates the API version (GET /_ping). On failure returns NULL and sets *err
 * (malloc'd) to a message naming the endpoint, e.g. "cannot reach the Docker engine at
 * unix:///var/run/docker.sock: Couldn't connect to server". */
docker *docker_open(const docker_config *cfg, char **err);
void docker_close(docker *d);
const char *docker_endpoint(const docker *d);  /* as configured, for messages */
const char *docker_api_version(const docker *d); /* e.g. "1.41" */

/* One request. path is relative to the versioned base and starts with '/', e.g.
 * "/services?status=true". body may be NULL (borrowed, not stolen).
 *
 * Returns 0 only for a 2xx answer. Otherwise a berth_error_code with *err set: BERTH_EUNREACHABLE
 * (or BERTH_ECANCELED) when no answer came; for an error answer the code of its status
 * (berth_error_from_http: ENOTFOUND, ECONFLICT, ETRANSIENT, ...) and *err "HTTP <status>:
 * <engine message>". Whenever an answer came, *status is set and *response gets its parsed JSON
 * body (NULL if empty or not JSON; caller owns it), so callers can read the engine's details. */
int docker_request(docker *d, const char *method, const char *path, json_t *body, long *status, json_t **response,
		   char **err);

/* The same with its own timeout (0: the handle's), for calls that must never stall a plan. */
int docker_request_timeout(docker *d, long timeout_ms, const char *method, const char *path, json_t *body,
			   long *status, json_t **response, char **err);

/* Requests made so far, by kind: for benchmarks and for the "no-op plan makes N requests" test. */
unsigned long docker_requests(const docker *d);
unsigned long docker_writes(const docker *d); /* POST, PUT, DELETE */

/* URL-encodes filters {"label":["a=b"]} for a query string; caller frees. */
char *docker_filters(const char *key, const char *value);

#endif
