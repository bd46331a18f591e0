/* Webhook deliveries judged (see webhook.h): the signature first, in constant time, then the
 * delivery id, the event, and only then the body. Nothing here does I/O or keeps state; what is
 * allocated (the decoded form payload, the JSON tree) is freed before returning. */
#include "server/webhook.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/util.h"

#define SHA256_LEN 32
#define QUOTE_MAX 48 /* bytes of a ref or an event name shown in a reason */

typedef struct provider_def {
	const char *name;
	const char *sig_header;
	const char *sig_prefix; /* before the hex ("sha256=" or ""); NULL: the header is the token */
	const char *delivery_header;
	const char *event_header;   /* NULL: the provider has none, every delivery is a push */
	const char *push_events[3]; /* the values of event_header that are pushes */
} provider_def;

static const provider_def providers[] = {
	{"github", "X-Hub-Signature-256", "sha256=", "X-GitHub-Delivery", "X-GitHub-Event", {"push"}},
	{"gitlab", "X-Gitlab-Token", NULL, "X-Gitlab-Event-UUID", "X-Gitlab-Event", {"Push Hook", "Tag Push Hook"}},
	{"gitea", "X-Gitea-Signature", "", "X-Gitea-Delivery", "X-Gitea-Event", {"push"}},
	{"generic", "X-Signature-256", "sha256=", "X-Delivery-Id", NULL, {NULL}},
};

static const provider_def *find_provider(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (!strcmp(providers[i].name, name))
			return &providers[i];
	return NULL;
}

bool webhook_provider_known(const char *provider)
{
	return find_provider(provider) != NULL;
}

const char *webhook_verdict_name(webhook_verdict v)
{
	switch (v) {
	case WEBHOOK_VALID_PUSH:
		return "valid_push";
	case WEBHOOK_IGNORED:
		return "ignored";
	case WEBHOOK_UNAUTHORIZED:
		return "unauthorized";
	case WEBHOOK_BAD_REQUEST:
		return "bad_request";
	}
	return "unknown";
}

const char *webhook_headers_lookup(void *ctx, const char *name)
{
	const webhook_headers *h = ctx;
	if (!h || !name)
		return NULL;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].name && h->v[i].value && !strcasecmp(h->v[i].name, name))
			return h->v[i].value;
	return NULL;
}

static const char *header(const webhook_request *req, const char *name)
{
	return req->header ? req->header(req->header_ctx, name) : NULL;
}


static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	return k && k <= n && memmem(hay, n, needle, k) != NULL;
}

/* The reason, formatted; a quoted fragment of the request goes in as the one %s. If the secret
 * ends up in the text (it was in the fragment, or the cut or the replaced bytes made it), the
 * reason falls back to plain, which quotes nothing. */
static webhook_verdict verdict(webhook_result *out, webhook_verdict v, const char *secret, const char *plain,
			       const char *fmt, const char *frag, size_t frag_len)
{
	out->verdict = v;
	if (fmt) {
		char q[QUOTE_MAX + 4];
		size_t n = 0;
		for (size_t i = 0; i < frag_len && n < QUOTE_MAX; i++) {
			unsigned char c = (unsigned char)frag[i];
			q[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
		}
		if (frag_len > QUOTE_MAX) {
			memcpy(q + n, "...", 3);
			n += 3;
		}
		q[n] = '\0';
		snprintf(out->reason, sizeof(out->reason), fmt, q);
		if (!(secret && (contains(frag, frag_len, secret) || strstr(out->reason, secret))))
			return v;
	}
	snprintf(out->reason, sizeof(out->reason), "%s", plain);
	return v;
}

#define PLAIN(out, v, text) verdict((out), (v), NULL, (text), NULL, NULL, 0)

/* "sha256=<64 hex>" (prefix as the provider has it, any case; blanks around allowed) into md. */
static bool parse_hex_signature(const char *value, const char *prefix, unsigned char md[SHA256_LEN])
{
	while (is_ows(*value))
		value++;
	size_t len = strlen(value);
	while (len && is_ows(value[len - 1]))
		len--;
	size_t plen = strlen(prefix);
	if (len != plen + 2 * SHA256_LEN || strncasecmp(value, prefix, plen))
		return false;
	const unsigned char *hex = (const unsigned char *)value + plen;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static void sha256(const void *data, size_t n, unsigned char md[SHA256_LEN])
{
	unsigned int len = 0;
	if (EVP_Digest(n ? data : "", n, md, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN)
		abort(); /* only on out of memory: SHA-256 is always there */
}

/* 1 signed, 0 not; *why says how not. */
static bool signature_ok(const provider_def *p, const char *value, const webhook_request *req, const char **why)
{
	size_t secret_len = strlen(req->secret);
	unsigned char want[SHA256_LEN], got[SHA256_LEN];
	if (!p->sig_prefix) {
		/* A plain token: compare digests, so that neither the bytes nor the length of the
		 * secret show in the time taken. */
		sha256(value, strlen(value), got);
		sha256(req->secret, secret_len, want);
		*why = "does not match";
		return CRYPTO_memcmp(want, got, SHA256_LEN) == 0;
	}
	if (!parse_hex_signature(value, p->sig_prefix, got)) {
		*why = "is malformed";
		return false;
	}
	unsigned int len = 0;
	if (secret_len > INT_MAX ||
	    !HMAC(EVP_sha256(), req->secret, (int)secret_len, (const unsigned char *)(req->body_len ? req->body : ""),
		  req->body_len, want, &len) ||
	    len != SHA256_LEN)
		abort(); /* only on out of memory */
	*why = "does not match the body";
	return CRYPTO_memcmp(want, got, SHA256_LEN) == 0;
}

/* The form field "payload" of an application/x-www-form-urlencoded body, decoded (malloc'd,
 * NUL-terminated, *n its length), or NULL when there is none or it is badly escaped. */
static char *form_payload(const char *body, size_t len, size_t *n)
{
	static const char key[] = "payload=";
	const char *p = body, *end = body + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *field_end = amp ? amp : end;
		if ((size_t)(field_end - p) >= sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1)) {
			const char *v = p + sizeof(key) - 1;
			char *out = xmalloc((size_t)(field_end - v) + 1), *o = out;
			while (v < field_end) {
				if (*v == '+') {
					*o++ = ' ';
					v++;
				} else if (*v == '%') {
					int hi = field_end - v > 2 ? hex_digit((unsigned char)v[1]) : -1;
					int lo = hi >= 0 ? hex_digit((unsigned char)v[2]) : -1;
					if (lo < 0) {
						free(out);
						return NULL;
					}
					*o++ = (char)(hi << 4 | lo);
					v += 3;
				} else {
					*o++ = *v++;
				}
			}
			*o = '\0';
			*n = (size_t)(o - out);
			return out;
		}
		p = field_end + 1;
	}
	return NULL;
}

static bool is_form(const char *content_type)
{
	static const char form[] = "application/x-www-form-urlencoded";
	if (!content_type)
		return false;
	while (is_ows(*content_type))
		content_type++;
	if (strncasecmp(content_type, form, sizeof(form) - 1))
		return false;
	const char *rest = content_type + sizeof(form) - 1;
	while (is_ows(*rest))
		rest++;
	return *rest == '\0' || *rest == ';';
}

static bool ref_matches(const char *watched, const char *ref)
{
	if (!strncmp(watched, "refs/", 5))
		return !strcmp(watched, ref);
	/* A short name, as a source's ref is usually given: the branch or the tag. */
	static const char *const kinds[] = {"refs/heads/", "refs/tags/"};
	for (size_t i = 0; i < 2; i++) {
		size_t k = strlen(kinds[i]);
		if (!strncmp(ref, kinds[i], k) && !strcmp(ref + k, watched))
			return true;
	}
	return false;
}

/* A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, lower-cased into out. */
static bool parse_commit(const char *s, size_t n, char out[WEBHOOK_AFTER_MAX])
{
	if (n != 40 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (hex_digit((unsigned char)s[i]) < 0)
			return false;
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
	}
	out[n] = '\0';
	return true;
}

/* "after" absent, null or "" (out stays ""), or a commit id into out; false if it is anything else. */
static bool parse_after(const json_t *after, char out[WEBHOOK_AFTER_MAX])
{
	if (!after || json_is_null(after) || (json_is_string(after) && json_string_length(after) == 0))
		return true;
	if (json_is_string(after) && parse_commit(json_string_value(after), json_string_length(after), out))
		return true;
	out[0] = '\0';
	return false;
}

/* After the signature and the event: the body's ref and after. */
static webhook_verdict judge_body(const webhook_request *req, webhook_result *out, const char *json, size_t len)
{
	const char *secret = req->secret;
	json_error_t jerr;
	json_t *root = json_loadb(len ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char text[80];
		snprintf(text, sizeof(text), "the body is not JSON (line %d, column %d)", jerr.line, jerr.column);
		return PLAIN(out, WEBHOOK_BAD_REQUEST, text);
	}
	webhook_verdict v;
	json_t *ref = json_object_get(root, "ref"), *after = json_object_get(root, "after");
	if (!json_is_object(root)) {
		v = PLAIN(out, WEBHOOK_BAD_REQUEST, "the body is not a JSON object");
	} else if (!json_is_string(ref)) {
		v = PLAIN(out, WEBHOOK_BAD_REQUEST, "the body has no \"ref\" string");
	} else if (!nonempty(req->watched_ref)) {
		v = PLAIN(out, WEBHOOK_IGNORED, "no watched ref is configured");
	} else if (!ref_matches(req->watched_ref, json_string_value(ref))) {
		v = verdict(out, WEBHOOK_IGNORED, secret, "a push to another ref", "a push to %s, not the watched ref",
			    json_string_value(ref), json_string_length(ref));
	} else if (!parse_after(after, out->after)) {
		v = PLAIN(out, WEBHOOK_BAD_REQUEST, "\"after\" is not a commit id");
	} else if (json_is_true(json_object_get(root, "deleted")) ||
		   (out->after[0] && strspn(out->after, "0") == strlen(out->after))) {
		out->after[0] = '\0';
		v = verdict(out, WEBHOOK_IGNORED, secret, "the watched ref was deleted", "%s was deleted",
			    json_string_value(ref), json_string_length(ref));
	} else {
		v = verdict(out, WEBHOOK_VALID_PUSH, secret, "a push to the watched ref", "a push to %s",
			    json_string_value(ref), json_string_length(ref));
	}
	json_decref(root);
	return v;
}

webhook_verdict webhook_verify(const webhook_request *req, webhook_result *out)
{
	memset(out, 0, sizeof(*out));
	const provider_def *p = find_provider(req->provider);
	if (!p)
		return PLAIN(out, WEBHOOK_UNAUTHORIZED, "unknown webhook provider");
	if (!nonempty(req->secret))
		return PLAIN(out, WEBHOOK_UNAUTHORIZED, "no webhook secret is configured");
	const char *secret = req->secret;
	char text[WEBHOOK_REASON_MAX];

	/* ---- the signature: nothing else of the request is read before it holds ---- */
	const char *sig = header(req, p->sig_header);
	if (!nonempty(sig)) {
		bool sha1 = !strcmp(p->name, "github") && nonempty(header(req, "X-Hub-Signature"));
		snprintf(text, sizeof(text), "no %s header%s", p->sig_header,
			 sha1 ? " (SHA-1 X-Hub-Signature is not accepted)" : "");
		return PLAIN(out, WEBHOOK_UNAUTHORIZED, text);
	}
	const char *why = "";
	if (!signature_ok(p, sig, req, &why)) {
		snprintf(text, sizeof(text), "%s %s", p->sig_header, why);
		return PLAIN(out, WEBHOOK_UNAUTHORIZED, text);
	}

	/* ---- signed: the delivery id, the event ---- */
	const char *delivery = header(req, p->delivery_header);
	if (nonempty(delivery)) {
		size_t n = strlen(delivery);
		bool ok = n < sizeof(out->delivery);
		for (size_t i = 0; ok && i < n; i++)
			ok = delivery[i] > 0x20 && delivery[i] < 0x7f;
		if (!ok) {
			snprintf(text, sizeof(text), "malformed %s", p->delivery_header);
			return PLAIN(out, WEBHOOK_BAD_REQUEST, text);
		}
		memcpy(out->delivery, delivery, n + 1);
	}
	if (p->event_header) {
		const char *event = header(req, p->event_header);
		if (!event) {
			snprintf(text, sizeof(text), "no %s header: not a push", p->event_header);
			return PLAIN(out, WEBHOOK_IGNORED, text);
		}
		bool push = false;
		for (size_t i = 0; i < sizeof(p->push_events) / sizeof(p->push_events[0]) && p->push_events[i]; i++)
			push = push || !strcasecmp(event, p->push_events[i]);
		if (!push)
			return verdict(out, WEBHOOK_IGNORED, secret, "not a push event", "event %s is not a push", event,
				       strlen(event));
	}

	/* ---- a signed push: the body ---- */
	/* A form only when it says so and is not plainly JSON: curl -d, as a generic sender's
	 * script would use, labels JSON as a form. */
	size_t lead = 0;
	while (lead < req->body_len && req->body[lead] && strchr(" \t\r\n", req->body[lead]))
		lead++;
	bool json = lead < req->body_len && req->body[lead] == '{';
	if (json || !is_form(header(req, "Content-Type")))
		return judge_body(req, out, req->body, req->body_len);
	size_t n = 0;
	char *payload = form_payload(req->body_len ? req->body : "", req->body_len, &n);
	if (!payload)
		return PLAIN(out, WEBHOOK_BAD_REQUEST, "a form body without a well-escaped \"payload\" field");
	webhook_verdict v = judge_body(req, out, payload, n);
	free(payload);
	return v;
}
