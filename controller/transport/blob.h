/* The few Azure Blob service REST calls a leader election needs: Create Container, Put Blob (an
 * empty block blob), Lease Blob (acquire, renew, change, release, break), Set Blob Metadata and
 * Get Blob Properties, against one blob named by its URL:
 *   https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB       (any https host: ACCOUNT.HOST...)
 *   http://127.0.0.1:10000/ACCOUNT/CONTAINER/BLOB              (path style: Azurite, a loopback host)
 * Authorization, first that applies: a SAS (the URL's query string, sent as it is), a storage
 * account key (Shared Key, the string-to-sign of version 2009-09-19 and later), or a bearer token
 * from the Azure credential chain for https://storage.azure.com/.
 *
 * The key, the SAS and tokens never appear in a message: errors name the operation, the blob
 * without its query and the service's error code (x-ms-error-code). */
#ifndef BERTH_BLOB_H
#define BERTH_BLOB_H
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"
#include "transport/azure_auth.h"

#define BLOB_API_VERSION "2021-12-02"
#define BLOB_STORAGE_AUDIENCE "https://storage.azure.com/"

typedef struct blob_config {
	const char *url;              /* the blob, as above (a SAS query allowed) */
	const char *account_key;      /* base64 storage account key; NULL: none */
	azure_credential *credential; /* borrowed; used without SAS and key; NULL: none */
	const char *ca_file;          /* PEM CAs for https (a private or test CA); NULL: the system's */
	long timeout_ms;              /* per request; 0: 10 s */
	berth_cancel *cancel;         /* stops a request in flight; may be NULL */
} blob_config;

typedef struct blob_client blob_client;

/* Parses the URL (EINVALID with the reason: not http(s), http to a host that is not loopback, no
 * container or blob, a key that is not base64) and keeps copies. */
int blob_open(const blob_config *cfg, blob_client **out, berth_error *err);
void blob_close(blob_client *b);
/* The blob's URL without its query (never the SAS), for messages. */
const char *blob_url_shown(const blob_client *b);

/* Creates the container and then the blob (empty) when either is missing; 0 when both exist. */
int blob_ensure(blob_client *b, berth_error *err);

typedef enum { BLOB_ACQUIRE, BLOB_RENEW, BLOB_CHANGE, BLOB_RELEASE, BLOB_BREAK } blob_lease_action;

typedef struct blob_lease_request {
	blob_lease_action action;
	const char *lease_id;    /* renew, change, release (and optionally break) */
	const char *proposed_id; /* acquire, change */
	int duration_s;          /* acquire: 15..60, or -1 (infinite) */
	int break_period_s;      /* break: 0..60; < 0: none sent (the lease's remaining time) */
	long timeout_ms;         /* this request only; 0: the client's */
} blob_lease_request;

/* One Lease Blob call. 0 on success; ECONFLICT when the service refuses it because of the lease's
 * state (409: leased by someone else, another lease id, expired, broken); ENOTFOUND (404), EAUTH
 * (401, 403), ETRANSIENT (5xx, no answer), ECANCELED, EINVALID (400) otherwise. */
int blob_lease(blob_client *b, const blob_lease_request *rq, berth_error *err);

/* Set Blob Metadata: replaces the metadata with pairs (NULL-terminated name, value, ...; names
 * are C identifiers), under lease_id when given. */
int blob_set_metadata(blob_client *b, const char *lease_id, const char *const *pairs, berth_error *err);

typedef struct blob_properties {
	char *lease_state; /* available, leased, expired, breaking, broken */
	char **meta;       /* NULL-terminated name, value pairs (names lower-case, without x-ms-meta-) */
} blob_properties;

/* Get Blob Properties (HEAD). */
int blob_get_properties(blob_client *b, blob_properties *out, berth_error *err);
/* The value of metadata name, or NULL. */
const char *blob_meta(const blob_properties *p, const char *name);
void blob_properties_free(blob_properties *p);

/* The Shared Key signature of a string-to-sign (base64 of HMAC-SHA256 with the decoded key), for
 * the unit tests; *out malloc'd. -1 when the key is not base64. */
int blob_shared_key_sign(const char *key_b64, const char *string_to_sign, char **out);

#endif
