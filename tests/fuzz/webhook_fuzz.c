/* libFuzzer target: the webhook verifier (controller/server/webhook.c) on arbitrary deliveries.
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined from the verifier's
 * source; what it calls (util.c, xalloc) from build/libberth.a.
 *
 * An input is
 *   byte 0    the provider: github, gitlab, gitea, generic (mod 4)
 *   byte 1    flags: 1 sign the body correctly (a right signature or token header goes first),
 *             2 the watched ref is the tag v1 (else the branch main), 4 it is given short ("v1",
 *             "main"), 8 no secret configured, 16 the signature's hex in upper case, 32 add the
 *             provider's push event header, 64 the tag push event (GitLab's "Tag Push Hook")
 *   then      header lines "Name: value", each ended by a NUL, up to an empty line (a second NUL)
 *   the rest  the body, byte for byte
 * so that the fuzzer gets past the signature on purpose (flag 1), and learns the rest itself.
 *
 * Besides crashes, sanitizer reports, leaks and timeouts, it traps on a broken promise of
 * webhook.h, checked against an oracle written here independently of webhook.c:
 *   - the verdict is UNAUTHORIZED exactly when the oracle finds no secret or no right signature
 *     (the first header of that name, any case; HMAC-SHA256 hex or the token itself);
 *   - the reason is set, printable and short, and never holds the secret;
 *   - the delivery id is "" or printable, without spaces, and "" when unauthorized;
 *   - "after" is "" or a lower-case commit id, and set only on a VALID_PUSH;
 *   - a VALID_PUSH of a JSON body names the watched ref;
 *   - the same request twice, or with its header names in another case, is judged the same. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/webhook.h"

#define SECRET "fz-K3y-9q2" /* in no fixed text of webhook.c, so a reason holding it quoted the input */
#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const provider_names[] = {"github", "gitlab", "gitea", "generic"};
static const char *const sig_headers[] = {"X-Hub-Signature-256", "X-Gitlab-Token", "X-Gitea-Signature", "X-Signature-256"};
static const char *const sig_prefixes[] = {"sha256=", NULL, "", "sha256="};
static const char *const event_headers[] = {"X-GitHub-Event", "X-Gitlab-Event", "X-Gitea-Event", NULL};

static void hmac_hex(const char *key, const char *body, size_t len, bool upper, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)(len ? body : ""), len, md, &n) || n != 32)
		__builtin_trap();
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

static const char *first(const webhook_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

/* The oracle: is this request signed with SECRET? */
static bool oracle_signed(int p, const webhook_header *h, size_t n, const char *secret, const char *body, size_t len)
{
	if (!secret || !*secret)
		return false;
	const char *v = first(h, n, sig_headers[p]);
	if (!v || !*v)
		return false;
	if (!sig_prefixes[p])
		return strcmp(v, secret) == 0;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	size_t pl = strlen(sig_prefixes[p]);
	if (vl != pl + 64 || strncasecmp(v, sig_prefixes[p], pl))
		return false;
	char want[65];
	hmac_hex(secret, body, len, false, want);
	return strncasecmp(v + pl, want, 64) == 0;
}

static bool printable(const char *s, bool space)
{
	for (; *s; s++)
		if ((unsigned char)*s < (space ? 0x20 : 0x21) || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void check(const webhook_result *r, bool signed_, const char *watched, const char *body, size_t len)
{
	if (r->verdict < WEBHOOK_VALID_PUSH || r->verdict > WEBHOOK_BAD_REQUEST ||
	    !strcmp(webhook_verdict_name(r->verdict), "unknown"))
		__builtin_trap();
	if ((r->verdict == WEBHOOK_UNAUTHORIZED) == signed_)
		__builtin_trap();
	size_t rl = strnlen(r->reason, sizeof(r->reason));
	if (rl == 0 || rl >= sizeof(r->reason) || !printable(r->reason, true) || strstr(r->reason, SECRET))
		__builtin_trap();
	size_t dl = strnlen(r->delivery, sizeof(r->delivery));
	if (dl >= sizeof(r->delivery) || !printable(r->delivery, false) || (dl && r->verdict == WEBHOOK_UNAUTHORIZED))
		__builtin_trap();
	size_t al = strnlen(r->after, sizeof(r->after));
	if (al && (r->verdict != WEBHOOK_VALID_PUSH || (al != 40 && al != 64) || strspn(r->after, "0123456789abcdef") != al))
		__builtin_trap();
	if (r->verdict != WEBHOOK_VALID_PUSH)
		return;
	/* A push to the watched ref: look at the body again, with jansson directly. */
	json_t *root = json_loadb(len ? body : "", len, 0, NULL);
	if (!root) /* a form payload; the verifier decoded it */
		return;
	const char *ref = json_string_value(json_object_get(root, "ref"));
	if (!ref)
		__builtin_trap();
	char full[64];
	bool ok = !strcmp(ref, watched);
	snprintf(full, sizeof(full), "refs/heads/%s", watched);
	ok = ok || (strncmp(watched, "refs/", 5) && !strcmp(ref, full));
	snprintf(full, sizeof(full), "refs/tags/%s", watched);
	ok = ok || (strncmp(watched, "refs/", 5) && !strcmp(ref, full));
	json_decref(root);
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int p = data[0] % 4;
	unsigned flags = data[1];
	const char *secret = (flags & 8) ? NULL : SECRET;
	const char *watched = (flags & 2) ? ((flags & 4) ? "v1" : "refs/tags/v1") : ((flags & 4) ? "main" : "refs/heads/main");

	/* Headers: NUL-ended lines up to an empty one; the copy keeps them NUL-terminated. */
	char *copy = malloc(size - 2 + 1);
	memcpy(copy, data + 2, size - 2);
	copy[size - 2] = '\0';
	webhook_header h[MAX_HEADERS + 2];
	size_t n = 0, off = 0, rest = size - 2;
	char sig[80], hex[65];
	const char *body;
	size_t body_len;
	/* The body starts after the empty line; find it first, as the signature covers it. */
	size_t scan = 0;
	while (scan < rest && copy[scan] != '\0')
		scan += strlen(copy + scan) + 1;
	size_t body_off = scan < rest ? scan + 1 : rest;
	body = copy + body_off;
	body_len = rest - body_off;

	if (flags & 1) {
		if (sig_prefixes[p]) {
			hmac_hex(secret ? secret : "", body, body_len, flags & 16, hex);
			snprintf(sig, sizeof(sig), "%s%s", sig_prefixes[p], hex);
			h[n++] = (webhook_header){sig_headers[p], sig};
		} else {
			h[n++] = (webhook_header){sig_headers[p], secret ? secret : ""};
		}
	}
	if ((flags & 32) && event_headers[p])
		h[n++] = (webhook_header){event_headers[p], p == 1 ? ((flags & 64) ? "Tag Push Hook" : "Push Hook") : "push"};
	while (off < scan && n < MAX_HEADERS + 2) {
		char *line = copy + off;
		off += strlen(line) + 1;
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			h[n++] = (webhook_header){line, v};
		} else {
			h[n++] = (webhook_header){line, ""};
		}
	}

	webhook_headers hs = {h, n};
	webhook_request req = {
		.provider = provider_names[p],
		.header = webhook_headers_lookup,
		.header_ctx = &hs,
		.body = body_len ? body : NULL,
		.body_len = body_len,
		.secret = secret,
		.watched_ref = watched,
	};
	webhook_result r, again;
	if (webhook_verify(&req, &r) != r.verdict)
		__builtin_trap();
	bool signed_ = oracle_signed(p, h, n, secret, body, body_len);
	check(&r, signed_, watched, body, body_len);
	webhook_verify(&req, &again);
	if (memcmp(&r, &again, sizeof(r)))
		__builtin_trap();

	/* The header names in swapped case: the same judgement. */
	char *names[MAX_HEADERS + 2];
	webhook_header swapped[MAX_HEADERS + 2];
	for (size_t i = 0; i < n; i++) {
		names[i] = strdup(h[i].name);
		for (char *c = names[i]; *c; c++)
			if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))
				*c ^= 0x20;
		swapped[i] = (webhook_header){names[i], h[i].value};
	}
	webhook_headers ss = {swapped, n};
	req.header_ctx = &ss;
	webhook_verify(&req, &again);
	if (memcmp(&r, &again, sizeof(r)))
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(copy);
	return 0;
}
