/* Webhook deliveries from git hosts, judged: is this a signed push to the watched ref? A pure
 * function of the request (headers, raw body), the secret and the watched ref — no I/O, no
 * clock, no global state — so the server stays a thin shell around it and a fuzzer can drive it.
 *
 *   provider  signature header                          delivery id header   event header
 *   github    X-Hub-Signature-256: sha256=<hex HMAC>    X-GitHub-Delivery    X-GitHub-Event: push
 *   gitlab    X-Gitlab-Token: <the secret itself>       X-Gitlab-Event-UUID  X-Gitlab-Event: Push Hook
 *                                                                                  | Tag Push Hook
 *   gitea     X-Gitea-Signature: <hex HMAC>             X-Gitea-Delivery     X-Gitea-Event: push
 *   generic   X-Signature-256: sha256=<hex HMAC>        X-Delivery-Id        (none: every delivery
 *                                                                             is a push)
 * HMAC is HMAC-SHA256 of the raw body keyed with the secret; hex in either case. Every comparison
 * with the secret takes the same time whatever the input (CRYPTO_memcmp of equal-length digests;
 * the GitLab token is hashed first so that its length does not leak either).
 *
 * The signature is checked before anything else of the request is believed: the event, the body
 * and the delivery id of an unsigned request are never parsed (a request with a valid signature
 * is from someone who knows the secret). The body is JSON, or a form whose "payload" field is
 * the JSON (GitHub's and Gitea's "application/x-www-form-urlencoded" content type; a body that
 * starts with "{" is JSON whatever its Content-Type says, as curl -d labels it a form); its "ref"
 * names what was pushed ("refs/heads/main", "refs/tags/v1") and "after" the new commit.
 *
 * Reasons are short, printable, and never hold the secret or a signature: what they quote of
 * the request (an event name, a ref) is cut short, control bytes replaced, and left out if the
 * secret occurs in it. The delivery id is checked (1..127 bytes of printable ASCII, no space),
 * as callers remember and may log it. */
#ifndef BERTH_WEBHOOK_H
#define BERTH_WEBHOOK_H
#include <stdbool.h>
#include <stddef.h>

typedef enum webhook_verdict {
	WEBHOOK_VALID_PUSH,   /* signed, a push event, "ref" is the watched ref: wake the loop */
	WEBHOOK_IGNORED,      /* signed, but another ref, a deleted ref, or not a push (a ping) */
	WEBHOOK_UNAUTHORIZED, /* signature or token missing, malformed or wrong; no secret; unknown provider */
	WEBHOOK_BAD_REQUEST,  /* signed, a push event, but the body is not JSON, has no "ref", or a
			       * malformed "after" or delivery id */
} webhook_verdict;

/* Returns a header's value by its name (to be compared case-insensitively), or NULL. */
typedef const char *(*webhook_header_fn)(void *ctx, const char *name);

/* Headers as a plain array, for webhook_headers_lookup (tests, the fuzzer). */
typedef struct webhook_header {
	const char *name, *value;
} webhook_header;
typedef struct webhook_headers {
	const webhook_header *v;
	size_t n;
} webhook_headers;
/* A webhook_header_fn over a webhook_headers (ctx): the first header whose name matches. */
const char *webhook_headers_lookup(void *ctx, const char *name);

typedef struct webhook_request {
	const char *provider;     /* "github", "gitlab", "gitea", "generic" */
	webhook_header_fn header; /* with header_ctx; NULL: no headers at all */
	void *header_ctx;
	const char *body; /* the raw body exactly as received, not NUL-terminated (NULL if body_len is 0) */
	size_t body_len;
	const char *secret; /* NULL or "": every request is UNAUTHORIZED */
	/* A full ref ("refs/heads/main", "refs/tags/v1") must be named exactly; a short name ("main",
	 * "v1") matches the branch or the tag of that name. NULL or "": every push is IGNORED. */
	const char *watched_ref;
} webhook_request;

#define WEBHOOK_DELIVERY_MAX 128 /* with the NUL */
#define WEBHOOK_AFTER_MAX 65     /* a SHA-1 (40) or SHA-256 (64) commit id in lower-case hex, a NUL */
#define WEBHOOK_REASON_MAX 160

typedef struct webhook_result {
	webhook_verdict verdict;
	/* The delivery id, or "" (none, malformed, or the request is not signed: unsigned ids are
	 * not worth remembering, and remembering them would let anyone block a future delivery). */
	char delivery[WEBHOOK_DELIVERY_MAX];
	char after[WEBHOOK_AFTER_MAX]; /* VALID_PUSH: the new commit, or "" if the body has none */
	char reason[WEBHOOK_REASON_MAX]; /* always set: why, for the response and the logs */
} webhook_result;

/* Judges one delivery into *out (every field set) and returns out->verdict. */
webhook_verdict webhook_verify(const webhook_request *req, webhook_result *out);

/* Whether provider is one webhook_verify knows (the server answers 404 for the others). */
bool webhook_provider_known(const char *provider);

/* "valid_push", "ignored", "unauthorized", "bad_request". */
const char *webhook_verdict_name(webhook_verdict v);

#endif
