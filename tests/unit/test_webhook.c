/* server/webhook: the pure verifier of webhook deliveries — every provider's signature (valid,
 * wrong, malformed, missing), events that are not pushes, refs and tags, bodies that are not
 * JSON after a good signature, header names in any case, and reasons that never hold a secret. */
#include "testutil.h"

#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/webhook.h"

#define SECRET "It5-a-s3cret!"
#define MAIN "refs/heads/main"
#define SHA "0123456789ABCDEF0123456789abcdef01234567"

static const char push_main[] = "{\"ref\":\"refs/heads/main\",\"before\":\"0000000000000000000000000000000000000001\","
				"\"after\":\"" SHA "\",\"repository\":{\"full_name\":\"o/r\"}}";

/* "<prefix><hex HMAC-SHA256 of body under key>" in a static buffer (one per call site is enough:
 * each test copies what it keeps). */
static const char *sign(const char *prefix, const char *key, const char *body, size_t len)
{
	static char out[8][128];
	static int next;
	char *o = out[next++ % 8];
	unsigned char md[32];
	unsigned int n = 0;
	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, md, &n));
	assert_int_equal(n, 32);
	size_t p = (size_t)snprintf(o, 128, "%s", prefix);
	for (unsigned i = 0; i < n; i++)
		p += (size_t)snprintf(o + p, 128 - p, "%02x", md[i]);
	return o;
}

/* Every reason: short, printable, never the secret nor a signature given. */
static void check_reason(const webhook_result *r, const webhook_header *h, size_t n, const char *secret)
{
	assert_true(r->reason[0] != '\0');
	for (const char *c = r->reason; *c; c++)
		assert_true(*c >= 0x20 && *c < 0x7f);
	if (secret && *secret)
		assert_null(strstr(r->reason, secret));
	static const char *const sigs[] = {"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitlab-Token", "X-Gitea-Signature",
					   "X-Signature-256"};
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
			if (!strcasecmp(h[i].name, sigs[k]) && strlen(h[i].value) >= 8)
				assert_null(strstr(r->reason, h[i].value));
}

static webhook_verdict judge(const char *provider, const webhook_header *h, size_t n, const char *body,
			     const char *secret, const char *watched, webhook_result *r)
{
	webhook_headers hs = {h, n};
	webhook_request req = {
		.provider = provider,
		.header = webhook_headers_lookup,
		.header_ctx = &hs,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.secret = secret,
		.watched_ref = watched,
	};
	webhook_verdict v = webhook_verify(&req, r);
	assert_int_equal(v, r->verdict);
	check_reason(r, h, n, secret);
	/* No state: the same request, the same verdict. */
	webhook_result again;
	assert_int_equal(webhook_verify(&req, &again), v);
	assert_string_equal(again.reason, r->reason);
	return v;
}

/* A GitHub delivery of body with the given signature value and event. */
static webhook_verdict github(const char *sig, const char *event, const char *body, const char *watched,
			      webhook_result *r)
{
	webhook_header h[] = {
		{"Content-Type", "application/json"},
		{"X-GitHub-Event", event},
		{"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{"X-Hub-Signature-256", sig},
	};
	size_t n = sizeof(h) / sizeof(h[0]) - (sig ? 0 : 1); /* the signature is last */
	if (!event) { /* drop the event header */
		h[1] = h[n - 1];
		n--;
	}
	return judge("github", h, n, body, SECRET, watched, r);
}

static void test_github_valid_push(void **state)
{
	(void)state;
	webhook_result r;
	assert_int_equal(github(sign("sha256=", SECRET, push_main, strlen(push_main)), "push", push_main, MAIN, &r),
			 WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
	assert_string_equal(r.after, "0123456789abcdef0123456789abcdef01234567"); /* lower-cased */
	assert_string_equal(r.reason, "a push to refs/heads/main");
	assert_string_equal(webhook_verdict_name(r.verdict), "valid_push");
}

static void test_github_bad_signatures(void **state)
{
	(void)state;
	webhook_result r;
	const char *good = sign("sha256=", SECRET, push_main, strlen(push_main));
	char s[128];

	/* One hex digit changed. */
	snprintf(s, sizeof(s), "%s", good);
	s[20] = s[20] == '0' ? '1' : '0';
	assert_int_equal(github(s, "push", push_main, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_string_equal(r.reason, "X-Hub-Signature-256 does not match the body");
	assert_string_equal(r.delivery, ""); /* unsigned: not worth remembering */

	/* The right signature of another body (the body was changed on the way). */
	const char *other = "{\"ref\":\"refs/heads/main\"}";
	assert_int_equal(github(good, "push", other, MAIN, &r), WEBHOOK_UNAUTHORIZED);

	/* Signed with another secret. */
	assert_int_equal(github(sign("sha256=", "not-it", push_main, strlen(push_main)), "push", push_main, MAIN, &r),
			 WEBHOOK_UNAUTHORIZED);

	/* Malformed: no prefix, SHA-1's prefix, a digit short, a digit more, a non-hex digit, empty hex. */
	const char *malformed[] = {good + 7, "sha1=0123456789012345678901234567890123456789", NULL, NULL, NULL, "sha256="};
	char short_[128], long_[128], nonhex[128];
	snprintf(short_, sizeof(short_), "%.*s", (int)strlen(good) - 1, good);
	snprintf(long_, sizeof(long_), "%s0", good);
	snprintf(nonhex, sizeof(nonhex), "%s", good);
	nonhex[30] = 'g';
	malformed[2] = short_, malformed[3] = long_, malformed[4] = nonhex;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		assert_int_equal(github(malformed[i], "push", push_main, MAIN, &r), WEBHOOK_UNAUTHORIZED);
		assert_string_equal(r.reason, "X-Hub-Signature-256 is malformed");
	}

	/* Missing; an empty header is missing too. */
	assert_int_equal(github(NULL, "push", push_main, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_string_equal(r.reason, "no X-Hub-Signature-256 header");
	assert_int_equal(github("", "push", push_main, MAIN, &r), WEBHOOK_UNAUTHORIZED);

	/* Only the SHA-1 signature: refused, and said so. */
	webhook_header h[] = {{"X-GitHub-Event", "push"}, {"X-Hub-Signature", "sha1=0123456789012345678901234567890123456789"}};
	assert_int_equal(judge("github", h, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_non_null(strstr(r.reason, "SHA-1"));

	/* A bad signature wins over a bad body: the body of an unsigned request is never read. */
	assert_int_equal(github(s, "push", "not json", MAIN, &r), WEBHOOK_UNAUTHORIZED);
}

static void test_hex_case_and_blanks(void **state)
{
	(void)state;
	webhook_result r;
	char upper[128];
	snprintf(upper, sizeof(upper), "%s", sign("SHA256=", SECRET, push_main, strlen(push_main)));
	for (char *c = upper; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	assert_int_equal(github(upper, "push", push_main, MAIN, &r), WEBHOOK_VALID_PUSH);
	char padded[140];
	snprintf(padded, sizeof(padded), " \t%s \t", sign("sha256=", SECRET, push_main, strlen(push_main)));
	assert_int_equal(github(padded, "push", push_main, MAIN, &r), WEBHOOK_VALID_PUSH);
}

static void test_header_names_any_case(void **state)
{
	(void)state;
	webhook_result r;
	const char *sig = sign("sha256=", SECRET, push_main, strlen(push_main));
	const char *names[][3] = {
		{"x-hub-signature-256", "x-github-event", "x-github-delivery"},
		{"X-HUB-SIGNATURE-256", "X-GITHUB-EVENT", "X-GITHUB-DELIVERY"},
		{"x-Hub-sIgnature-256", "X-Github-Event", "x-github-DELIVERY"},
	};
	for (size_t i = 0; i < 3; i++) {
		webhook_header h[] = {{names[i][0], sig}, {names[i][1], "push"}, {names[i][2], "d-1"}};
		assert_int_equal(judge("github", h, 3, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
		assert_string_equal(r.delivery, "d-1");
	}
	/* GitLab's token and Gitea's signature too. */
	webhook_header gl[] = {{"x-gitlab-token", SECRET}, {"X-GITLAB-EVENT", "Push Hook"}};
	assert_int_equal(judge("gitlab", gl, 2, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	webhook_header gt[] = {{"x-gitea-signature", sign("", SECRET, push_main, strlen(push_main))}, {"x-gitea-event", "push"}};
	assert_int_equal(judge("gitea", gt, 2, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	/* The first of two same-named headers counts (a second, valid one does not rescue a bad first). */
	webhook_header twice[] = {{"X-Hub-Signature-256", "sha256=00"}, {"x-hub-signature-256", sig}, {"X-GitHub-Event", "push"}};
	assert_int_equal(judge("github", twice, 3, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
}

static void test_refs_and_tags(void **state)
{
	(void)state;
	webhook_result r;
	const char *dev = "{\"ref\":\"refs/heads/dev\",\"after\":\"" SHA "\"}";
	assert_int_equal(github(sign("sha256=", SECRET, dev, strlen(dev)), "push", dev, MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "a push to refs/heads/dev, not the watched ref");
	assert_string_equal(r.after, "");

	const char *tag = "{\"ref\":\"refs/tags/v1\",\"after\":\"" SHA "\"}";
	const char *tag_sig = sign("sha256=", SECRET, tag, strlen(tag));
	assert_int_equal(github(tag_sig, "push", tag, "refs/tags/v1", &r), WEBHOOK_VALID_PUSH);
	assert_int_equal(github(tag_sig, "push", tag, MAIN, &r), WEBHOOK_IGNORED);
	assert_int_equal(github(tag_sig, "push", tag, "refs/heads/v1", &r), WEBHOOK_IGNORED); /* a branch named v1 */
	assert_int_equal(github(tag_sig, "push", tag, "refs/tags/v10", &r), WEBHOOK_IGNORED);
	/* Short names match the branch or the tag of that name, nothing longer. */
	assert_int_equal(github(tag_sig, "push", tag, "v1", &r), WEBHOOK_VALID_PUSH);
	const char *main_sig = sign("sha256=", SECRET, push_main, strlen(push_main));
	assert_int_equal(github(main_sig, "push", push_main, "main", &r), WEBHOOK_VALID_PUSH);
	assert_int_equal(github(main_sig, "push", push_main, "ain", &r), WEBHOOK_IGNORED);
	const char *nested = "{\"ref\":\"refs/heads/feature/main\"}";
	assert_int_equal(github(sign("sha256=", SECRET, nested, strlen(nested)), "push", nested, "main", &r), WEBHOOK_IGNORED);
	/* No watched ref: nothing is a push to it. */
	assert_int_equal(github(main_sig, "push", push_main, NULL, &r), WEBHOOK_IGNORED);
	assert_int_equal(github(main_sig, "push", push_main, "", &r), WEBHOOK_IGNORED);

	/* The watched branch deleted: nothing to fetch. */
	const char *del = "{\"ref\":\"refs/heads/main\",\"after\":\"0000000000000000000000000000000000000000\",\"deleted\":true}";
	assert_int_equal(github(sign("sha256=", SECRET, del, strlen(del)), "push", del, MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "refs/heads/main was deleted");
	assert_string_equal(r.after, "");

	/* No "after", or null: a push all the same, with after "". */
	const char *bare = "{\"ref\":\"refs/heads/main\",\"after\":null}";
	assert_int_equal(github(sign("sha256=", SECRET, bare, strlen(bare)), "push", bare, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.after, "");
	/* A SHA-256 repository's commit id. */
	const char *sha256 = "{\"ref\":\"refs/heads/main\",\"after\":\"" SHA "012345678901234567890123\"}";
	assert_int_equal(github(sign("sha256=", SECRET, sha256, strlen(sha256)), "push", sha256, MAIN, &r),
			 WEBHOOK_VALID_PUSH);
	assert_int_equal(strlen(r.after), 64);
}

static void test_not_push_events_ignored(void **state)
{
	(void)state;
	webhook_result r;
	/* GitHub's ping when the hook is created: valid, ignored, whatever its body. */
	const char *ping = "{\"zen\":\"Design for failure.\",\"hook_id\":1}";
	assert_int_equal(github(sign("sha256=", SECRET, ping, strlen(ping)), "ping", ping, MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "event ping is not a push");
	assert_string_equal(r.delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958"); /* signed: remembered */
	assert_int_equal(github(sign("sha256=", SECRET, "", 0), "pull_request", "", MAIN, &r), WEBHOOK_IGNORED);
	/* No event header at all. */
	assert_int_equal(github(sign("sha256=", SECRET, push_main, strlen(push_main)), NULL, push_main, MAIN, &r),
			 WEBHOOK_IGNORED);

	webhook_header gl[] = {{"X-Gitlab-Token", SECRET}, {"X-Gitlab-Event", "Merge Request Hook"}};
	assert_int_equal(judge("gitlab", gl, 2, push_main, SECRET, MAIN, &r), WEBHOOK_IGNORED);
	webhook_header gt[] = {{"X-Gitea-Signature", sign("", SECRET, push_main, strlen(push_main))}, {"X-Gitea-Event", "create"}};
	assert_int_equal(judge("gitea", gt, 2, push_main, SECRET, MAIN, &r), WEBHOOK_IGNORED);
	/* An event name with control bytes is shown without them. */
	webhook_header odd[] = {{"X-Gitlab-Token", SECRET}, {"X-Gitlab-Event", "Note\x01Hook\"\\"}};
	assert_int_equal(judge("gitlab", odd, 2, push_main, SECRET, MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "event Note?Hook?? is not a push");
}

static void test_gitlab(void **state)
{
	(void)state;
	webhook_result r;
	webhook_header h[] = {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event-UUID", "a2b4-c6"}, {"X-Gitlab-Token", SECRET}};
	assert_int_equal(judge("gitlab", h, 3, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, "a2b4-c6");

	const char *tag = "{\"object_kind\":\"tag_push\",\"ref\":\"refs/tags/v1\",\"after\":\"" SHA "\"}";
	webhook_header t[] = {{"X-Gitlab-Event", "Tag Push Hook"}, {"X-Gitlab-Token", SECRET}};
	assert_int_equal(judge("gitlab", t, 2, tag, SECRET, "refs/tags/v1", &r), WEBHOOK_VALID_PUSH);
	assert_int_equal(judge("gitlab", t, 2, tag, SECRET, MAIN, &r), WEBHOOK_IGNORED);

	/* Wrong tokens of every length relation to the secret: the compare is over digests, so
	 * none of them reads past anything or matches. */
	const char *wrong[] = {"", "I", "It5-a-s3cret", SECRET "!", SECRET SECRET SECRET SECRET, "it5-a-s3cret!",
			       "Xt5-a-s3cret!", " " SECRET};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		webhook_header w[] = {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", wrong[i]}};
		assert_int_equal(judge("gitlab", w, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
		assert_string_equal(r.delivery, "");
	}
	webhook_header w[] = {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Token", "wrong"}};
	judge("gitlab", w, 2, push_main, SECRET, MAIN, &r);
	assert_string_equal(r.reason, "X-Gitlab-Token does not match");
	/* Missing; a GitHub-style signature does not stand in for the token. */
	webhook_header m[] = {{"X-Gitlab-Event", "Push Hook"}, {"X-Hub-Signature-256", sign("sha256=", SECRET, push_main, strlen(push_main))}};
	assert_int_equal(judge("gitlab", m, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_string_equal(r.reason, "no X-Gitlab-Token header");
}

static void test_gitea_and_generic(void **state)
{
	(void)state;
	webhook_result r;
	const char *sig = sign("", SECRET, push_main, strlen(push_main));
	webhook_header g[] = {{"X-Gitea-Event", "push"}, {"X-Gitea-Delivery", "gd-9"}, {"X-Gitea-Signature", sig}};
	assert_int_equal(judge("gitea", g, 3, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, "gd-9");
	/* Gitea's signature has no prefix: one is malformed. */
	webhook_header p[] = {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", sign("sha256=", SECRET, push_main, strlen(push_main))}};
	assert_int_equal(judge("gitea", p, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	webhook_header bad[] = {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", sign("", "other", push_main, strlen(push_main))}};
	assert_int_equal(judge("gitea", bad, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	webhook_header none[] = {{"X-Gitea-Event", "push"}};
	assert_int_equal(judge("gitea", none, 1, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);

	/* generic: no event header, every signed delivery is a push. */
	webhook_header gen[] = {{"X-Signature-256", sign("sha256=", SECRET, push_main, strlen(push_main))}, {"X-Delivery-Id", "x1"}};
	assert_int_equal(judge("generic", gen, 2, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, "x1");
	webhook_header gen_bad[] = {{"X-Signature-256", sig}};
	assert_int_equal(judge("generic", gen_bad, 1, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	/* Another provider's header does not count. */
	webhook_header gh[] = {{"X-Hub-Signature-256", sign("sha256=", SECRET, push_main, strlen(push_main))}};
	assert_int_equal(judge("generic", gh, 1, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
}

static void test_no_secret_unknown_provider(void **state)
{
	(void)state;
	webhook_result r;
	/* Signed with the empty key: still refused, no secret means no webhooks. */
	webhook_header h[] = {{"X-Hub-Signature-256", sign("sha256=", "", push_main, strlen(push_main))}, {"X-GitHub-Event", "push"}};
	assert_int_equal(judge("github", h, 2, push_main, NULL, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_string_equal(r.reason, "no webhook secret is configured");
	assert_int_equal(judge("github", h, 2, push_main, "", MAIN, &r), WEBHOOK_UNAUTHORIZED);
	webhook_header gl[] = {{"X-Gitlab-Token", ""}, {"X-Gitlab-Event", "Push Hook"}};
	assert_int_equal(judge("gitlab", gl, 2, push_main, "", MAIN, &r), WEBHOOK_UNAUTHORIZED);

	assert_int_equal(judge("bitbucket", h, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_int_equal(judge(NULL, h, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_int_equal(judge("GitHub", h, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	assert_true(webhook_provider_known("github") && webhook_provider_known("gitlab") &&
		    webhook_provider_known("gitea") && webhook_provider_known("generic"));
	assert_false(webhook_provider_known("bitbucket") || webhook_provider_known(NULL) || webhook_provider_known(""));

	/* No header callback at all. */
	webhook_request req = {.provider = "github", .body = push_main, .body_len = strlen(push_main), .secret = SECRET, .watched_ref = MAIN};
	assert_int_equal(webhook_verify(&req, &r), WEBHOOK_UNAUTHORIZED);
}

static void test_bad_bodies_after_good_signature(void **state)
{
	(void)state;
	webhook_result r;
	struct {
		const char *body, *reason;
	} cases[] = {
		{"not json", NULL},
		{"", NULL},
		{"{\"ref\":\"refs/heads/main\"", NULL},
		{"[\"refs/heads/main\"]", "the body is not a JSON object"},
		{"\"refs/heads/main\"", NULL},
		{"{}", "the body has no \"ref\" string"},
		{"{\"ref\":7}", "the body has no \"ref\" string"},
		{"{\"ref\":null}", NULL},
		{"{\"ref\":\"refs/heads/main\",\"ref\":\"refs/heads/dev\"}", NULL}, /* which one would count? */
		{"{\"ref\":\"refs/heads/main\",\"after\":\"xyz\"}", "\"after\" is not a commit id"},
		{"{\"ref\":\"refs/heads/main\",\"after\":\"0123456789abcdef0123456789abcdef0123456\"}", NULL},
		{"{\"ref\":\"refs/heads/main\",\"after\":\"0123456789abcdef0123456789abcdef0123456g\"}", NULL},
		{"{\"ref\":\"refs/heads/main\",\"after\":42}", NULL},
		{"{\"ref\":\"refs/heads/main\"} trailing", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = cases[i].body;
		assert_int_equal(github(sign("sha256=", SECRET, b, strlen(b)), "push", b, MAIN, &r), WEBHOOK_BAD_REQUEST);
		if (cases[i].reason)
			assert_string_equal(r.reason, cases[i].reason);
		else if (i < 3)
			assert_true(!strncmp(r.reason, "the body is not JSON (line 1, column ", 37));
		assert_string_equal(r.after, "");
	}
	/* Bytes past a NUL are part of the body (the length counts, not the NUL). */
	char nul[] = "{\"ref\":\"refs/heads/main\"}\0junk";
	webhook_header h[] = {{"X-Hub-Signature-256", sign("sha256=", SECRET, nul, sizeof(nul) - 1)}, {"X-GitHub-Event", "push"}};
	webhook_headers hs = {h, 2};
	webhook_request req = {.provider = "github", .header = webhook_headers_lookup, .header_ctx = &hs, .body = nul,
			       .body_len = sizeof(nul) - 1, .secret = SECRET, .watched_ref = MAIN};
	assert_int_equal(webhook_verify(&req, &r), WEBHOOK_BAD_REQUEST);
}

static void test_form_encoded_payload(void **state)
{
	(void)state;
	webhook_result r;
	/* GitHub's "application/x-www-form-urlencoded": payload=<the JSON, escaped>; the HMAC is of
	 * the form as sent. */
	const char *form = "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%2C%22after%22%3A%22" SHA "%22%7D&x=1";
	webhook_header h[] = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
			      {"X-GitHub-Event", "push"},
			      {"X-Hub-Signature-256", sign("sha256=", SECRET, form, strlen(form))}};
	assert_int_equal(judge("github", h, 3, form, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.after, "0123456789abcdef0123456789abcdef01234567");
	const char *plus = "a=b&payload={\"ref\":\"refs/heads/dev\",\"x\":\"a+b\"}";
	h[2].value = sign("sha256=", SECRET, plus, strlen(plus));
	assert_int_equal(judge("github", h, 3, plus, SECRET, MAIN, &r), WEBHOOK_IGNORED);
	const char *bad[] = {"payload=%7", "payload=%zz", "nopayload=1", "", "payloads={}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h[2].value = sign("sha256=", SECRET, bad[i], strlen(bad[i]));
		assert_int_equal(judge("github", h, 3, bad[i], SECRET, MAIN, &r), WEBHOOK_BAD_REQUEST);
	}
	/* JSON labelled a form (curl -d does that) is JSON. */
	h[2].value = sign("sha256=", SECRET, push_main, strlen(push_main));
	assert_int_equal(judge("github", h, 3, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	const char *spaced = " \n{\"ref\":\"refs/heads/main\"}";
	h[2].value = sign("sha256=", SECRET, spaced, strlen(spaced));
	assert_int_equal(judge("github", h, 3, spaced, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	/* The same form sent as JSON is not JSON. */
	h[0].value = "application/json";
	h[2].value = sign("sha256=", SECRET, form, strlen(form));
	assert_int_equal(judge("github", h, 3, form, SECRET, MAIN, &r), WEBHOOK_BAD_REQUEST);
}

static void test_delivery_ids(void **state)
{
	(void)state;
	webhook_result r;
	const char *sig = sign("sha256=", SECRET, push_main, strlen(push_main));
	char long_id[200];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	char max_id[WEBHOOK_DELIVERY_MAX];
	memset(max_id, 'b', sizeof(max_id) - 1);
	max_id[sizeof(max_id) - 1] = '\0';
	const char *bad[] = {"has space", "tab\tin", "nl\n", long_id, "\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		webhook_header h[] = {{"X-Hub-Signature-256", sig}, {"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", bad[i]}};
		assert_int_equal(judge("github", h, 3, push_main, SECRET, MAIN, &r), WEBHOOK_BAD_REQUEST);
		assert_string_equal(r.reason, "malformed X-GitHub-Delivery");
		assert_string_equal(r.delivery, "");
	}
	webhook_header h[] = {{"X-Hub-Signature-256", sig}, {"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", max_id}};
	assert_int_equal(judge("github", h, 3, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, max_id);
	/* None: fine, just nothing to remember. */
	assert_int_equal(judge("github", h, 2, push_main, SECRET, MAIN, &r), WEBHOOK_VALID_PUSH);
	assert_string_equal(r.delivery, "");
}

static void test_no_secret_in_reasons(void **state)
{
	(void)state;
	webhook_result r;
	/* A signed push whose ref and event quote the secret: the reasons leave them out. */
	const char *bodies[] = {"{\"ref\":\"refs/heads/" SECRET "\"}", "{\"ref\":\"refs/tags/" SECRET "\"}",
				"{\"ref\":\"refs/heads/x" SECRET "y\",\"after\":\"" SHA "\"}"};
	for (size_t i = 0; i < 3; i++) {
		const char *b = bodies[i];
		assert_int_equal(github(sign("sha256=", SECRET, b, strlen(b)), "push", b, MAIN, &r), WEBHOOK_IGNORED);
		assert_string_equal(r.reason, "a push to another ref");
		/* ... even when it is the watched ref. */
		const char *ref = strstr(b, "\"ref\":\"") + 7;
		char watched[64];
		snprintf(watched, sizeof(watched), "%.*s", (int)(strchr(ref, '"') - ref), ref);
		assert_int_equal(github(sign("sha256=", SECRET, b, strlen(b)), "push", b, watched, &r), WEBHOOK_VALID_PUSH);
		assert_string_equal(r.reason, "a push to the watched ref");
	}
	webhook_header ev[] = {{"X-Gitlab-Token", SECRET}, {"X-Gitlab-Event", "x" SECRET}};
	assert_int_equal(judge("gitlab", ev, 2, push_main, SECRET, MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "not a push event");
	/* A secret that the cut or the replaced bytes would make. */
	webhook_header ctl[] = {{"X-Gitlab-Token", "ab?cdefgh"}, {"X-Gitlab-Event", "ab\x01" "cdefgh"}};
	assert_int_equal(judge("gitlab", ctl, 2, push_main, "ab?cdefgh", MAIN, &r), WEBHOOK_IGNORED);
	assert_string_equal(r.reason, "not a push event");
	/* Wrong tokens that hold the secret are not quoted (check_reason checks every header value). */
	webhook_header tok[] = {{"X-Gitlab-Token", SECRET "x"}, {"X-Gitlab-Event", "Push Hook"}};
	assert_int_equal(judge("gitlab", tok, 2, push_main, SECRET, MAIN, &r), WEBHOOK_UNAUTHORIZED);
	/* A long ref is cut. */
	char b[400];
	snprintf(b, sizeof(b), "{\"ref\":\"refs/heads/%0300d\"}", 0);
	assert_int_equal(github(sign("sha256=", SECRET, b, strlen(b)), "push", b, MAIN, &r), WEBHOOK_IGNORED);
	assert_non_null(strstr(r.reason, "..., not the watched ref"));
	assert_true(strlen(r.reason) < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_github_valid_push),
		cmocka_unit_test(test_github_bad_signatures),
		cmocka_unit_test(test_hex_case_and_blanks),
		cmocka_unit_test(test_header_names_any_case),
		cmocka_unit_test(test_refs_and_tags),
		cmocka_unit_test(test_not_push_events_ignored),
		cmocka_unit_test(test_gitlab),
		cmocka_unit_test(test_gitea_and_generic),
		cmocka_unit_test(test_no_secret_unknown_provider),
		cmocka_unit_test(test_bad_bodies_after_good_signature),
		cmocka_unit_test(test_form_encoded_payload),
		cmocka_unit_test(test_delivery_ids),
		cmocka_unit_test(test_no_secret_in_reasons),
	};
	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
