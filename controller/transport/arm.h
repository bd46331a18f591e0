/* The Azure Resource Manager client every Azure provider speaks through: endpoints, credentials
 * (azure_auth.h), one api-version per resource type, retries with backoff, throttling (429
 * Retry-After, a per-subscription request budget, x-ms-ratelimit-remaining-*), long-running
 * operations and paging. See /work/shared/api/azure/README.md.
 *
 * One arm handle may be used from several threads at once (a pool of libcurl handles, a locked
 * token cache and a locked budget). Errors are malloc'd strings the caller frees; nothing here
 * exits or prints except through the log hook. */
#ifndef BERTH_ARM_H
#define BERTH_ARM_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/clock.h"
#include "transport/azure_auth.h"

/* The resource types berth manages; each has one api-version (arm_api_version). */
typedef enum arm_api {
	ARM_API_NONE = 0,           /* the URL already carries api-version (nextLink, operation URLs) */
	ARM_API_CONTAINER_INSTANCE, /* Microsoft.ContainerInstance: 2023-05-01 */
	ARM_API_TRAFFIC_MANAGER,    /* Microsoft.Network/trafficmanagerprofiles: 2022-04-01 */
	ARM_API_STORAGE,            /* Microsoft.Storage (accounts, listKeys, file shares): 2023-05-01 */
	ARM_API_COMPUTE,            /* Microsoft.Compute (scale sets): 2024-11-01 */
	ARM_API_RESOURCES,          /* resource groups: 2021-04-01 */
	ARM_API_COUNT
} arm_api;

/* "2023-05-01" etc.; NULL for ARM_API_NONE or an unknown value. */
const char *arm_api_version(arm_api api);

/* A request budget: a token bucket of burst requests refilled at per_second. */
typedef struct arm_budget {
	double burst;
	double per_second;
} arm_budget;

typedef struct arm_config {
	const char *resource_manager; /* the spec's azure.endpoints.resource_manager; NULL: public cloud */
	const char *active_directory; /* the spec's azure.endpoints.active_directory; NULL: public cloud */
	azure_hooks hooks;            /* log, sleep, clock; zero: stderr, nanosleep, CLOCK_MONOTONIC */
	long timeout_ms;              /* per attempt (never spans a Retry-After wait); 0: 120 s */
	int max_retries;              /* after 5xx and connection errors; 0: 4; -1: none */
	int max_throttle_retries;     /* after 429; 0: 10; -1: none */
	double max_retry_after_s;     /* a longer Retry-After fails the request; 0: 3600 */
	double backoff_base_s;        /* first backoff before jitter; 0: 1 s (doubles, capped) */
	double backoff_max_s;         /* 0: 60 s */
	double lro_poll_s;            /* poll interval until the operation sends Retry-After; 0: 5 s */
	double lro_timeout_s;         /* give up on an operation after; 0: 3600 s */
	/* Per subscription; zero members: ARM's documented per-region buckets (reads 250 refilled at
	 * 25/s, writes and deletes 200 at 10/s). */
	arm_budget reads, writes, deletes;
	long low_remaining;           /* x-ms-ratelimit-remaining-* below this slows down; 0: 50 */
	double low_remaining_delay_s; /* the delay when 0 remain (linear above); 0: 2 s */
	/* Borrowed: once fired, no attempt starts, waits (retries, throttling, operations) end and
	 * transfers in flight stop; the call fails with "cancelled" and arm_canceled() is true. */
	berth_cancel *cancel;
} arm_config;

typedef struct arm arm;

/* Resolves the endpoints (azure_endpoints_resolve), then finds a credential
 * (azure_credential_open, which fetches a first token). cfg may be NULL (all defaults); its
 * strings are copied. Returns NULL with *err on failure. */
arm *arm_open(const arm_config *cfg, char **err);
void arm_close(arm *a);

const char *arm_endpoint(const arm *a);         /* e.g. https://management.azure.com */
const char *arm_authority(const arm *a);        /* e.g. https://login.microsoftonline.com/ */
const char *arm_audience(const arm *a);         /* the token audience, e.g. https://management.azure.com/ */
const char *arm_credential_name(const arm *a);  /* azure_credential_name */
azure_credential *arm_credential(arm *a);       /* borrowed */
unsigned long arm_requests(const arm *a);       /* HTTP attempts sent to ARM so far */
bool arm_canceled(const arm *a);                /* its cancel has fired */
#define ARM_STATUS_SLOTS 600
/* Attempts that were answered with this HTTP status (0: no answer), for metrics. */
unsigned long arm_requests_with_status(const arm *a, long status);

/* A header ARM sent that berth reads: x-ms-ratelimit-remaining-* with its value. */
typedef struct arm_header {
	char *name; /* lower-case */
	char *value;
} arm_header;

/* What came back. Every member is owned by the response; arm_response_free releases them. */
typedef struct arm_response {
	long status;                 /* HTTP status; 0 if no response arrived */
	json_t *body;                /* parsed JSON body, NULL if empty or not JSON */
	char *client_request_id;     /* the x-ms-client-request-id berth sent (last attempt) */
	char *request_id;            /* x-ms-request-id */
	char *correlation_id;        /* x-ms-correlation-request-id */
	char *async_operation;       /* Azure-AsyncOperation */
	char *location;              /* Location */
	char *etag;                  /* ETag */
	double retry_after;          /* Retry-After (or retry-after-ms) in seconds; -1 if absent */
	arm_header *ratelimits;      /* every x-ms-ratelimit-remaining-* header */
	size_t n_ratelimits;
	long remaining;              /* the lowest count in them; -1 if none */
	char *error_code;            /* ARM's error.code for status >= 400 (or a failed operation) */
	char *error_message;         /* ARM's error.message */
	/* the request, for arm_wait_lro and messages */
	char *method;
	char *path;                  /* as passed (path or absolute URL) */
	arm_api api;
} arm_response;

void arm_response_free(arm_response *r); /* frees the members and zeroes *r; NULL is fine */

/* One ARM call. path_or_url is a path ("/subscriptions/..."; "?api-version=" for api is appended,
 * after any query it has) or an absolute URL that ARM gave (nextLink, Azure-AsyncOperation,
 * Location: used verbatim; it must be on the resource manager's scheme, host and port, so the
 * token never goes elsewhere). body may be NULL (borrowed, not stolen).
 *
 * Sends Authorization, a fresh x-ms-client-request-id per attempt, and Content-Type with bodies.
 * Waits for the subscription's budget first. Retries 5xx (and 408) and connection errors with
 * exponential backoff and jitter (whatever the method: ARM's PUT and DELETE are idempotent, and
 * the POST actions berth uses are safe to repeat), 429 after Retry-After (the whole subscription
 * waits), and a 401 InvalidAuthenticationToken/ExpiredAuthenticationToken once with a fresh
 * token. Each retry and each failure (but a 404: absence is an answer) is logged with the client
 * request id and correlation id; the token is never in a message.
 *
 * *out is always initialised (call arm_response_free on it, whatever the result). Returns 0 for a
 * 2xx answer. Otherwise -1 with *err, e.g. "PUT /subscriptions/.../containerGroups/web: 409
 * Conflict: Conflict: <message> (client request id ..., correlation id ...)"; if an answer came,
 * out->status, error_code and error_message say what it was (a caller may treat 404 as absence). */
int arm_request(arm *a, const char *method, const char *path_or_url, arm_api api, json_t *body, arm_response *out,
		char **err);

/* Follows the long-running operation that *resp (from arm_request) started, until Succeeded,
 * Failed or Canceled: polls Azure-AsyncOperation if present, else Location, else (for PUT/PATCH
 * answering a non-terminal properties.provisioningState) the resource itself; honours Retry-After
 * (the last one sent; lro_poll_s until one is).
 * On success *resp is replaced by the final answer: for PUT/PATCH the resource (GET at the end),
 * else the last poll. A response that started no operation is left as it is. A failed or
 * canceled operation returns -1 with *err carrying ARM's error code and message (also in
 * resp->error_code/error_message). */
int arm_wait_lro(arm *a, arm_response *resp, char **err);

/* arm_request, then arm_wait_lro if it succeeded. */
int arm_call(arm *a, const char *method, const char *path_or_url, arm_api api, json_t *body, arm_response *out,
	     char **err);

/* GETs path and every nextLink after it (verbatim, until absent or null) and returns all the
 * "value" items in *items (a new JSON array; caller owns it). If any page fails, or a page is
 * malformed, returns -1 with *err and *items NULL: never a partial list, so callers never act
 * (delete) on an incomplete observation. */
int arm_list(arm *a, const char *path, arm_api api, json_t **items, char **err);

#endif
