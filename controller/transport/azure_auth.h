/* Azure endpoints and credentials: which cloud berth talks to, and the chain of credentials that
 * gets it a bearer token for Azure Resource Manager. See /work/shared/api/azure/README.md "Auth".
 *
 * Secrets (client secret, federated assertion, access tokens) never appear in a message: errors
 * and log lines name the variable or file, never the value. Anything a server sends back is
 * scrubbed of them too. */
#ifndef BERTH_AZURE_AUTH_H
#define BERTH_AZURE_AUTH_H
#include <stdbool.h>

#define AZURE_DEFAULT_RESOURCE_MANAGER "https://management.azure.com"
#define AZURE_DEFAULT_AUTHORITY "https://login.microsoftonline.com/"
#define AZURE_DEFAULT_IMDS "http://169.254.169.254"
#define AZURE_PUBLIC_AUDIENCE "https://management.azure.com/"

/* What berth does instead of printing, sleeping and reading the clock. Any member may be NULL
 * (zero-initialised): log lines go to stderr as "berth: LINE", sleep is nanosleep, now is
 * CLOCK_MONOTONIC in seconds. Tests inject them to capture the log and to turn a 300 s wait into
 * a counted, instant one (a fake clock advanced by the fake sleep keeps token caching and the
 * request budget consistent). The functions may be called from several threads at once. */
typedef struct azure_hooks {
	void (*log)(void *ctx, const char *line); /* one line, no trailing newline */
	void (*sleep)(void *ctx, double seconds);
	double (*now)(void *ctx); /* seconds, monotonic */
	void *ctx;
} azure_hooks;

/* The hooks with their defaults filled in, for code that shares them (arm.c, providers). */
void azure_log(const azure_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void azure_sleep(const azure_hooks *h, double seconds);
double azure_now(const azure_hooks *h);

/* ---- endpoints ---- */

typedef struct azure_endpoints {
	char *resource_manager; /* no trailing slash, e.g. https://management.azure.com */
	char *authority;        /* with a trailing slash, e.g. https://login.microsoftonline.com/ */
	char *audience;         /* the ARM token audience (resource id), e.g. https://management.azure.com/ */
} azure_endpoints;

/* Resolves the endpoints: the environment (AZURE_RESOURCE_MANAGER_ENDPOINT, AZURE_AUTHORITY_HOST)
 * wins over the caller's values (the spec's azure.endpoints.resource_manager / active_directory;
 * NULL or "" for none), which win over the public cloud. Each must be an https:// URL, or http://
 * for a loopback host (127.0.0.0/8, localhost, [::1]) only. Returns 0, or -1 with *err (malloc'd)
 * naming where the bad value came from. Free the result with azure_endpoints_free.
 *
 * The token audience is the resource manager endpoint with a trailing slash (as for every Azure
 * cloud: https://management.azure.com/, https://management.usgovcloudapi.net/, ...), except for a
 * loopback endpoint, which is a stand-in for public ARM (a simulator, a tunnel): there it is
 * https://management.azure.com/. AZURE_RESOURCE_MANAGER_AUDIENCE (berth's own) overrides it, for
 * clouds whose audience differs from the endpoint (Azure Stack). */
int azure_endpoints_resolve(const char *resource_manager, const char *active_directory, azure_endpoints *out,
			    char **err);
void azure_endpoints_free(azure_endpoints *e);

/* 0 if url is https://HOST... or http://LOOPBACK...; else -1 with *err "WHAT: ..." (malloc'd). */
int azure_check_url(const char *what, const char *url, char **err);

/* ---- credentials ---- */

typedef enum azure_credential_kind {
	AZURE_CRED_SERVICE_PRINCIPAL = 1, /* AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET */
	AZURE_CRED_WORKLOAD_IDENTITY,     /* AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_FEDERATED_TOKEN_FILE */
	AZURE_CRED_MANAGED_IDENTITY,      /* IMDS (AZURE_IMDS_ENDPOINT, default http://169.254.169.254) */
	AZURE_CRED_AZURE_CLI,             /* az account get-access-token */
} azure_credential_kind;

typedef struct azure_credential_config {
	const char *audience;  /* resolved (azure_endpoints): e.g. https://management.azure.com/; the scope
				* asked for is AUDIENCE/.default (without a doubled slash) */
	const char *authority; /* resolved: the Entra ID authority host */
	azure_hooks hooks;
	long timeout_ms; /* per token request; 0: 30 s */
} azure_credential_config;

typedef struct azure_credential azure_credential;

/* Walks the chain and keeps the first credential that works, in this order:
 *   1. service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET all set;
 *   2. workload identity: AZURE_FEDERATED_TOKEN_FILE set (with AZURE_TENANT_ID, AZURE_CLIENT_ID);
 *      the file is re-read for every token request, as it rotates;
 *   3. managed identity: IMDS answers with a token (AZURE_CLIENT_ID, if set, picks a user-assigned
 *      identity);
 *   4. Azure CLI: `az account get-access-token --resource AUDIENCE --output json` succeeds.
 * "Works" means a first token was obtained. A credential that is configured by the environment (1
 * and 2) but is refused stops the chain with that error, rather than silently acting as another
 * identity; a managed identity or CLI that is absent or not signed in passes to the next. On
 * failure returns NULL and sets *err to a message that says, for each credential, why it was not
 * used. cfg's strings are copied. */
azure_credential *azure_credential_open(const azure_credential_config *cfg, char **err);
void azure_credential_close(azure_credential *c);

azure_credential_kind azure_credential_kind_of(const azure_credential *c);
/* Which credential is used, for messages: "service principal (AZURE_CLIENT_ID=<id>)",
 * "workload identity (AZURE_CLIENT_ID=<id>)", "managed identity", "managed identity
 * (AZURE_CLIENT_ID=<id>)" (user-assigned) or "Azure CLI". Never a secret. Owned by c. */
const char *azure_credential_name(const azure_credential *c);

/* A bearer token for the resource manager: the cached one until 5 minutes before it expires
 * (half its lifetime for tokens that live less than 10 minutes), else a new one. refresh forces
 * a new one (after ARM answered 401 InvalidAuthenticationToken/ExpiredAuthenticationToken).
 * Returns 0 with *token (malloc'd; free it with azure_token_free, which wipes it), or -1 with
 * *err. Thread-safe. */
int azure_credential_token(azure_credential *c, bool refresh, char **token, char **err);
void azure_token_free(char *token);

/* The resource manager refused token (401 InvalidAuthenticationToken/ExpiredAuthenticationToken):
 * if it is still the cached one, it is dropped, so the next azure_credential_token fetches a new
 * one. When several threads are refused at once, only the first causes a token request. */
void azure_credential_reject(azure_credential *c, const char *token);

/* Token requests made so far (cache misses), for tests and statistics. */
unsigned long azure_credential_token_requests(const azure_credential *c);

/* A fresh random (version 4) UUID, lower-case, into buf (at least 37 bytes). */
void azure_uuid(char buf[37]);

#endif
