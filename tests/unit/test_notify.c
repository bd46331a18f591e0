/* run/notify and run/commit_status, the pure parts: the notification payload (fields, text,
 * rollout events), its signature (RFC 4231's HMAC-SHA256 vectors), and each forge's target and
 * request from repository URLs of every form (https with credentials, ssh, scp-like, GitLab
 * subgroups), with the URLs that cannot name a repository refused. */
#include "testutil.h"

#include <jansson.h>

#include "run/commit_status.h"
#include "run/notify.h"

static json_t *parse(char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	assert_non_null(j);
	free(text);
	return j;
}

static void test_signature_rfc4231(void **state)
{
	(void)state;
	static const struct {
		const char *key, *body, *want;
	} cases[] = {
		{"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"key", "", "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"}, /* openssl dgst -hmac */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *sig = notify_signature(cases[i].key, cases[i].body);
		assert_memory_equal(sig, "sha256=", 7);
		assert_string_equal(sig + 7, cases[i].want);
		free(sig);
	}
}

static void test_payload_of_a_failed_apply(void **state)
{
	(void)state;
	const char *errors[] = {"deploy/berth.yaml:7:7: error: unknown field \"replicas_typo\"", "second \"quoted\""};
	notify_event ev = {.event = "apply_failed", .revision = "3f2a91c0ffee0000000000000000000000000000",
			   .summary = "the spec is invalid (2 problems)", .errors = errors, .n_errors = 2,
			   .time = 1796293500};
	char *body = notify_payload(&ev);
	/* compact, keys sorted: what the signature is computed over */
	assert_non_null(strstr(body, "{\"errors\":["));
	json_t *j = parse(body);
	assert_int_equal(json_object_size(j), 6);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "apply_failed");
	assert_string_equal(json_string_value(json_object_get(j, "revision")), ev.revision);
	assert_string_equal(json_string_value(json_object_get(j, "time")), "2026-12-03T10:25:00Z");
	assert_int_equal(json_array_size(json_object_get(j, "errors")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "errors"), 1)), "second \"quoted\"");
	assert_string_equal(json_string_value(json_object_get(j, "text")),
			    "berth: apply failed at 3f2a91c: the spec is invalid (2 problems)\n"
			    "deploy/berth.yaml:7:7: error: unknown field \"replicas_typo\"\nsecond \"quoted\"");
	json_decref(j);
}

static void test_payload_without_revision_and_of_a_rollback(void **state)
{
	(void)state;
	berth_rollout_event r = {.group = "web", .revision = "8be04d1", .step = 2, .steps = 3,
				 .reason = "probe answered 503", .from = "3f2a91c"};
	const char *errors[] = {r.reason};
	notify_event ev = {.event = "rollout_rolled_back", .summary = "rollout web: probe answered 503; rolling back to 3f2a91c",
			   .errors = errors, .n_errors = 1, .time = 0, .rollout = &r};
	json_t *j = parse(notify_payload(&ev));
	assert_true(json_is_null(json_object_get(j, "revision")));
	assert_string_equal(json_string_value(json_object_get(j, "text")),
			    "berth: rollout rolled back: rollout web: probe answered 503; rolling back to 3f2a91c\nprobe answered 503");
	json_t *ro = json_object_get(j, "rollout");
	assert_string_equal(json_string_value(json_object_get(ro, "group")), "web");
	assert_int_equal(json_integer_value(json_object_get(ro, "step")), 2);
	assert_int_equal(json_integer_value(json_object_get(ro, "steps")), 3);
	assert_string_equal(json_string_value(json_object_get(ro, "from")), "3f2a91c");
	json_decref(j);
	/* a step: no reason, no from */
	berth_rollout_event s = {.group = "web", .revision = "8be04d1", .step = 1, .steps = 3};
	notify_event st = {.event = "rollout_step", .summary = "rollout web: step 1/3", .time = 0, .rollout = &s};
	j = parse(notify_payload(&st));
	assert_true(json_is_null(json_object_get(json_object_get(j, "rollout"), "reason")));
	assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
	json_decref(j);
}

static void target_is(forge_kind k, const char *url, const char *base, const char *want)
{
	forge_target t;
	berth_error err = {0};
	assert_int_equal(forge_target_from_url(k, url, base, &t, &err), 0);
	assert_string_equal(t.statuses, want);
	forge_target_free(&t);
}

static void target_refused(forge_kind k, const char *url)
{
	forge_target t;
	berth_error err = {0};
	assert_int_not_equal(forge_target_from_url(k, url, NULL, &t, &err), 0);
	assert_int_equal(err.code, BERTH_EINVALID);
	assert_null(strstr(err.message, "s3cret"));
	berth_error_clear(&err);
}

static void test_forge_targets(void **state)
{
	(void)state;
	target_is(FORGE_GITHUB, "https://github.com/acme/deploy.git", NULL, "https://api.github.com/repos/acme/deploy/statuses/");
	target_is(FORGE_GITHUB, "https://x-access-token:s3cret@github.com/acme/deploy", NULL,
		  "https://api.github.com/repos/acme/deploy/statuses/");
	target_is(FORGE_GITHUB, "git@github.com:acme/deploy.git", NULL, "https://api.github.com/repos/acme/deploy/statuses/");
	target_is(FORGE_GITHUB, "ssh://git@ghe.example.com:2222/acme/deploy.git", NULL,
		  "https://ghe.example.com/api/v3/repos/acme/deploy/statuses/");
	target_is(FORGE_GITHUB, "https://ghe.example.com/acme/deploy.git/", "https://ghe.example.com/api/v3/", 
		  "https://ghe.example.com/api/v3/repos/acme/deploy/statuses/");
	target_is(FORGE_GITLAB, "https://gitlab.example.com/group/sub/deploy.git", NULL,
		  "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fdeploy/statuses/");
	target_is(FORGE_GITLAB, "git@gitlab.com:ops/deploy.git", NULL, "https://gitlab.com/api/v4/projects/ops%2Fdeploy/statuses/");
	target_is(FORGE_GITEA, "http://127.0.0.1:3000/ops/deploy.git", NULL, "http://127.0.0.1:3000/api/v1/repos/ops/deploy/statuses/");
	target_refused(FORGE_GITHUB, "/srv/git/deploy.git");
	target_refused(FORGE_GITHUB, "https://github.com/deploy.git");
	target_refused(FORGE_GITHUB, "https://github.com/a/b/c.git");
	target_refused(FORGE_GITEA, "https://user:s3cret@gitea.example.com/");
	target_refused(FORGE_GITLAB, NULL);
	forge_kind k;
	assert_true(forge_parse("gitea", &k));
	assert_int_equal(k, FORGE_GITEA);
	assert_false(forge_parse("bitbucket", &k));
	assert_false(forge_parse(NULL, &k));
}

static void request_is(forge_kind k, commit_state st, const char *want_body, const char *const *want_headers)
{
	forge_target t;
	berth_error err = {0};
	assert_int_equal(forge_target_from_url(k, "https://forge.example.com/ops/app.git", "https://api.example.com", &t, &err), 0);
	forge_request r;
	forge_request_build(&t, "T0K", "0123456789abcdef0123456789abcdef01234567", st, "applied", "berth", &r);
	assert_non_null(strstr(r.url, "/statuses/0123456789abcdef0123456789abcdef01234567"));
	assert_string_equal(r.body, want_body);
	size_t n = 0;
	while (want_headers[n])
		n++;
	assert_int_equal(r.n_headers, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(r.headers[i], want_headers[i]);
	forge_request_free(&r);
	forge_target_free(&t);
}

static void test_forge_requests(void **state)
{
	(void)state;
	request_is(FORGE_GITHUB, COMMIT_SUCCESS, "{\"context\":\"berth\",\"description\":\"applied\",\"state\":\"success\"}",
		   (const char *const[]){"Authorization: Bearer T0K", "Accept: application/vnd.github+json",
					 "X-GitHub-Api-Version: 2022-11-28", NULL});
	request_is(FORGE_GITHUB, COMMIT_FAILURE, "{\"context\":\"berth\",\"description\":\"applied\",\"state\":\"failure\"}",
		   (const char *const[]){"Authorization: Bearer T0K", "Accept: application/vnd.github+json",
					 "X-GitHub-Api-Version: 2022-11-28", NULL});
	request_is(FORGE_GITLAB, COMMIT_PENDING, "{\"description\":\"applied\",\"name\":\"berth\",\"state\":\"running\"}",
		   (const char *const[]){"PRIVATE-TOKEN: T0K", NULL});
	request_is(FORGE_GITLAB, COMMIT_FAILURE, "{\"description\":\"applied\",\"name\":\"berth\",\"state\":\"failed\"}",
		   (const char *const[]){"PRIVATE-TOKEN: T0K", NULL});
	request_is(FORGE_GITEA, COMMIT_PENDING, "{\"context\":\"berth\",\"description\":\"applied\",\"state\":\"pending\"}",
		   (const char *const[]){"Authorization: token T0K", "Accept: application/json", NULL});
}

static void test_long_descriptions_are_cut_on_a_character(void **state)
{
	(void)state;
	forge_target t;
	berth_error err = {0};
	assert_int_equal(forge_target_from_url(FORGE_GITHUB, "https://github.com/o/r", NULL, &t, &err), 0);
	char desc[400] = "x"; /* then two bytes each: byte 140 is inside a character */
	for (int i = 0; i < 100; i++)
		strcat(desc, "é");
	forge_request r;
	forge_request_build(&t, "T", "0123456789abcdef0123456789abcdef01234567", COMMIT_FAILURE, desc, "berth", &r);
	json_t *j = json_loads(r.body, 0, NULL);
	assert_non_null(j); /* valid UTF-8, or jansson would have refused it */
	assert_int_equal(strlen(json_string_value(json_object_get(j, "description"))), 139);
	json_decref(j);
	forge_request_free(&r);
	forge_target_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_rfc4231),
		cmocka_unit_test(test_payload_of_a_failed_apply),
		cmocka_unit_test(test_payload_without_revision_and_of_a_rollback),
		cmocka_unit_test(test_forge_targets),
		cmocka_unit_test(test_forge_requests),
		cmocka_unit_test(test_long_descriptions_are_cut_on_a_character),
	};
	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
