/* The saved-plan reader: a plan is recognised by content (never by name, never a spec), read
 * back exactly as plan_to_json wrote it, and every field apply relies on is checked with a
 * message that names it. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "core/plan.h"
#include "render/render.h"
#include "core/version.h"
#include "render/plan_file.h"

#define DIGEST "sha256:64e25896e4bdf2dd4346c1c0c33a82a76d64fa058322b3c6e37f3831e833c781"
#define FINGERPRINT "d3311d07aff2e76ad1ded86546240137ede2de2bdce49906263fda2ab4ab9096"

static char tmpdir[] = "/tmp/berth-plan-file-test-XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		abort();
	return p;
}

static char *write_tmp(const char *name, const char *content, size_t len)
{
	char *p = tmp_path(name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

/* A plan whose dependency order is its id order, so steps[i] has id i:
 *   0 create network web; 1 create secret db (sensitive); 2 update service hello after 0 and 1;
 *   3 delete secret db-old after 2. */
static plan *sample_plan(void)
{
	plan *p = plan_new();
	size_t net = plan_add_step(p, PLAN_CREATE, "network", "web", NULL, NULL);
	plan_add_change(p, net, "driver", NULL, "overlay", false);
	size_t sec = plan_add_step(p, PLAN_CREATE, "secret", "db", NULL, NULL);
	plan_add_change(p, sec, "data", NULL, "hunter2", true);
	size_t svc = plan_add_step(p, PLAN_UPDATE, "service", "hello", "image changed", NULL);
	plan_add_change(p, svc, "image", "busybox:1.36", "busybox:1.37", false);
	plan_add_dep(p, svc, net);
	plan_add_dep(p, svc, sec);
	size_t old = plan_add_step(p, PLAN_DELETE, "secret", "db-0123456789ab", "not in the spec", NULL);
	plan_add_dep(p, old, svc);
	return p;
}

/* The JSON as 'berth plan --out' makes it: plan_to_json with the same meta as cmd_plan. */
static json_t *sample_json(void)
{
	plan *p = sample_plan();
	json_t *meta = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "owner", "quickstart", "spec", "path",
				 "/srv/infra/quickstart", "digest", DIGEST, "observed", "fingerprint", FINGERPRINT);
	json_t *j = plan_to_json(p, meta);
	json_decref(meta);
	plan_free(p);
	assert_non_null(j);
	return j;
}

static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	assert_non_null(s);
	return s;
}

static void test_round_trip(void **state)
{
	(void)state;
	json_t *j = sample_json();
	char *text = dump(j);
	char *path = write_tmp("saved.json", text, strlen(text));
	assert_int_equal(plan_file_sniff(path, NULL), 1);
	plan_file *pf = NULL;
	char *err = NULL;
	int rc = plan_file_read(path, &pf, &err);
	if (rc)
		fail_msg("%s", err);
	assert_non_null(pf);
	assert_null(err);
	assert_string_equal(plan_file_owner(pf), "quickstart");
	assert_string_equal(plan_file_berth_version(pf), BERTH_VERSION);
	assert_string_equal(plan_file_spec_path(pf), "/srv/infra/quickstart");
	assert_string_equal(plan_file_spec_digest(pf), DIGEST);
	assert_string_equal(plan_file_fingerprint(pf), FINGERPRINT);
	assert_int_equal(plan_file_step_count(pf), 4);
	/* apply compares the saved steps with the plan made now: what was written is what is read. */
	assert_true(json_equal((json_t *)plan_file_steps(pf), json_object_get(j, "steps")));
	assert_null(plan_file_source(pf));
	plan_file_free(pf);
	free(path);
	free(text);
	json_decref(j);
}

static void test_source_is_handed_over(void **state)
{
	(void)state;
	json_t *j = sample_json();
	json_object_set_new(j, "source", json_pack("{s:s, s:s}", "repo", "https://example.com/infra.git", "commit", "abc123"));
	char *text = dump(j);
	plan_file *pf = NULL;
	char *err = NULL;
	assert_int_equal(plan_file_read_buffer(text, strlen(text), "saved.plan", &pf, &err), 0);
	assert_non_null(plan_file_source(pf));
	assert_string_equal(json_string_value(json_object_get(plan_file_source(pf), "commit")), "abc123");
	plan_file_free(pf);
	free(text);
	json_decref(j);
}

/* Unknown members are ignored: within a format version, fields are only ever added. */
static void test_unknown_members_are_ignored(void **state)
{
	(void)state;
	json_t *j = sample_json();
	json_object_set_new(j, "added_later", json_true());
	json_object_set_new(json_array_get(json_object_get(j, "steps"), 0), "provider", json_string("swarm"));
	char *text = dump(j);
	plan_file *pf = NULL;
	char *err = NULL;
	int rc = plan_file_read_buffer(text, strlen(text), "saved.plan", &pf, &err);
	if (rc)
		fail_msg("%s", err);
	assert_non_null(pf);
	plan_file_free(pf);
	free(text);
	json_decref(j);
}

/* Named like Terraform's 'tfplan', or anything else: the content decides. */
static void test_any_name_is_recognised(void **state)
{
	(void)state;
	static const char *const names[] = {"saved.plan", "tfplan", "plan.yaml", ".hidden"};
	json_t *j = sample_json();
	char *text = dump(j);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = write_tmp(names[i], text, strlen(text));
		assert_int_equal(plan_file_sniff(path, NULL), 1);
		plan_file *pf = NULL;
		assert_int_equal(plan_file_read(path, &pf, NULL), 0);
		assert_string_equal(plan_file_owner(pf), "quickstart");
		plan_file_free(pf);
		free(path);
	}
	free(text);
	json_decref(j);
}

static spec *load_path(const char *path)
{
	spec_diags *d = spec_diags_new();
	spec_options o = {.skip_secret_refs = true};
	spec *s = spec_load(path, &o, d);
	spec_diags_print(d, stderr);
	spec_diags_free(d);
	return s;
}

/* YAML's flow style also starts with '{': such a spec is a spec. Each text is first shown to be a
 * valid spec, so the test cannot pass on inputs the spec loader would reject anyway. */
static void test_flow_style_spec_is_not_a_plan(void **state)
{
	(void)state;
	static const char *const specs[] = {
		"{version: 1, name: x}\n",
		/* JSON is YAML: a spec written as JSON has no plan keys. */
		"{\"version\": 1, \"name\": \"x\"}\n",
		"  \n{version: 1, name: x, swarm: {networks: {web: {attachable: true}}}}\n",
		/* Not JSON, and a quoted "format_version": in a comment is not the first key. */
		"{version: 1,\n # \"format_version\": 1\n name: x}\n",
		/* Not JSON (an unquoted key): a quoted "berth_version": further in is not the first key. */
		"{\"version\": 1, \"name\": \"x\", swarm: {networks: {web: {labels: {\"berth_version\": \"1\"}}}}}\n",
	};
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		char *path = write_tmp("berth.yaml", specs[i], strlen(specs[i]));
		spec *s = load_path(path);
		if (!s)
			fail_msg("premise: case %zu is not a valid spec", i);
		spec_free(s);
		assert_int_equal(plan_file_sniff(path, NULL), 0);
		assert_int_equal(plan_file_sniff_buffer(specs[i], strlen(specs[i])), 0);
		free(path);
	}
}

static void test_sniff_rule(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{"", 0},
		{" \n\t ", 0},
		{"{}", 0},
		{"{\"owner\": \"x\"}", 0},
		{"[{\"format_version\": 1}]", 0},
		{"{\"x\": {\"format_version\": 1}}", 0},
		{"version: 1\nname: x\n", 0},
		{"# a comment\n{\"format_version\": 1}", 0},
		/* Valid JSON: either key, anywhere at the top level. */
		{"{\"format_version\": 1}", 1},
		{"{\"owner\": \"x\", \"berth_version\": \"0.1.0\"}", 1},
		{"\n\r\t {\"format_version\": \"one\"}", 1},
		{"\xEF\xBB\xBF{\"format_version\": 1}", 1},
		/* Not JSON (truncated): the first key decides. */
		{"{\"berth_version\": \"0.1.0\", \"format_version\": 1, \"steps\": [", 1},
		{"{\n  \"format_version\" :", 1},
		{"{\"berth_version\"", 0},
		{"{\"owner\": \"x\", \"format_version\": 1, ", 0},
		{"{format_version: 1, berth_version: x, ", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = plan_file_sniff_buffer(cases[i].text, strlen(cases[i].text));
		if (got != cases[i].want)
			fail_msg("case %zu %s: sniff %d, want %d", i, cases[i].text, got, cases[i].want);
	}
	assert_int_equal(plan_file_sniff_buffer(NULL, 0), 0);
}

static void test_directory_is_not_a_plan(void **state)
{
	(void)state;
	char *dir = tmp_path("specdir");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(plan_file_sniff(dir, NULL), 0);
	plan_file *pf = (plan_file *)1;
	char *err = NULL;
	assert_int_equal(plan_file_read(dir, &pf, &err), -1);
	assert_null(pf);
	char *want = NULL;
	assert_true(asprintf(&want, "%s: not a usable berth plan: it is a directory, not a regular file", dir) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(dir);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "plan_file_sniff blocked on a FIFO\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/* A FIFO is never opened: opening one waits for a writer, and reading it would consume it. */
static void test_fifo_is_not_opened(void **state)
{
	(void)state;
	char *fifo = tmp_path("fifo.plan");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	assert_int_equal(plan_file_sniff(fifo, NULL), 0);
	char *err = NULL;
	plan_file *pf = NULL;
	assert_int_equal(plan_file_read(fifo, &pf, &err), -1);
	alarm(0);
	assert_non_null(strstr(err, "it is a special file, not a regular file"));
	free(err);
	free(fifo);
}

static void test_missing_file(void **state)
{
	(void)state;
	char *path = tmp_path("nope.plan");
	char *err = NULL, *want = NULL;
	assert_int_equal(plan_file_sniff(path, &err), -1);
	assert_true(asprintf(&want, "%s: cannot open: No such file or directory", path) > 0);
	assert_string_equal(err, want);
	free(err);
	err = NULL;
	plan_file *pf = NULL;
	assert_int_equal(plan_file_read(path, &pf, &err), -1);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);
}

/* Over the limit: refused by size, before anything is parsed. The file is sparse. */
static void test_oversized_input_is_refused(void **state)
{
	(void)state;
	static const char head[] = "{\"berth_version\": \"0.1.0\", \"format_version\": 1, \"owner\": \"";
	char *path = write_tmp("huge.plan", head, strlen(head));
	assert_int_equal(truncate(path, (off_t)PLAN_FILE_MAX_BYTES + 1), 0);
	/* Still recognised as a (broken) plan, from its first bytes. */
	assert_int_equal(plan_file_sniff(path, NULL), 1);
	plan_file *pf = NULL;
	char *err = NULL, *want = NULL;
	assert_int_equal(plan_file_read(path, &pf, &err), -1);
	assert_true(asprintf(&want, "%s: not a usable berth plan: it is over the 64 MiB limit for a plan (67108865 bytes)",
			     path) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);

	/* The buffer reader has the same bound (pages of a calloc'd buffer are never touched). */
	char *big = calloc(1, PLAN_FILE_MAX_BYTES + 1);
	assert_non_null(big);
	memcpy(big, head, strlen(head));
	err = NULL;
	assert_int_equal(plan_file_read_buffer(big, PLAN_FILE_MAX_BYTES + 1, "big.plan", &pf, &err), -1);
	assert_string_equal(err, "big.plan: not a usable berth plan: it is over the 64 MiB limit for a plan (67108865 bytes)");
	free(err);
	free(big);
}

/* Every prefix of a plan is recognised as a plan once its first key is there, and refused with
 * an error, never read as a plan. */
static void test_truncated_plan(void **state)
{
	(void)state;
	json_t *j = sample_json();
	char *text = dump(j);
	size_t len = strlen(text);
	size_t key_end = (size_t)(strstr(text, "\"berth_version\":") - text) + strlen("\"berth_version\":");
	for (size_t cut = 0; cut < len; cut++) {
		plan_file *pf = NULL;
		char *err = NULL;
		assert_int_equal(plan_file_sniff_buffer(text, cut), cut >= key_end);
		assert_int_equal(plan_file_read_buffer(text, cut, "cut.plan", &pf, &err), -1);
		assert_null(pf);
		assert_non_null(err);
		assert_int_equal(strncmp(err, "cut.plan: not a usable berth plan: invalid JSON at line ", 56), 0);
		free(err);
	}
	/* Only the whole text is JSON. */
	char *err = NULL;
	plan_file *pf = NULL;
	assert_int_equal(plan_file_read_buffer(text, len, "cut.plan", &pf, &err), 0);
	plan_file_free(pf);
	free(text);
	json_decref(j);
}

/* Sets (or, with value NULL, removes) the member at a dotted path; numbers index arrays:
 * "steps.3.action". value is JSON text. */
static void mutate(json_t *root, const char *path, const char *value)
{
	char *copy = strdup(path), *save = NULL;
	json_t *parent = root;
	char *key = strtok_r(copy, ".", &save);
	for (char *next; (next = strtok_r(NULL, ".", &save)); key = next) {
		parent = json_is_array(parent) ? json_array_get(parent, strtoul(key, NULL, 10)) : json_object_get(parent, key);
		if (!parent)
			fail_msg("mutate: no %s in %s", key, path);
	}
	json_t *v = NULL;
	if (value) {
		json_error_t e;
		v = json_loads(value, JSON_DECODE_ANY, &e);
		if (!v)
			fail_msg("mutate: bad value %s: %s", value, e.text);
	}
	if (json_is_array(parent)) {
		size_t i = strtoul(key, NULL, 10);
		if (v)
			json_array_set_new(parent, i, v);
		else
			json_array_remove(parent, i);
	} else if (v) {
		json_object_set_new(parent, key, v);
	} else {
		json_object_del(parent, key);
	}
	free(copy);
}

typedef struct {
	const char *path, *value, *path2, *value2; /* up to two mutations */
	const char *want;                          /* the whole error, every line */
} field_case;

#define P "t.plan: not a usable berth plan: "
static const field_case field_cases[] = {
	{"format_version", NULL, NULL, NULL, P "format_version is missing"},
	{"format_version", "\"1\"", NULL, NULL, P "format_version: expected an integer, got a string"},
	{"format_version", "1.0", NULL, NULL, P "format_version: expected an integer, got a number"},
	{"format_version", "2", NULL, NULL,
	 P "format_version: unsupported version 2 (this berth reads version 1); the plan was made by berth \"0.1.0\""},
	{"format_version", "2", "berth_version", NULL, P "format_version: unsupported version 2 (this berth reads version 1)"},
	{"berth_version", NULL, NULL, NULL, P "berth_version is missing"},
	{"berth_version", "[]", NULL, NULL, P "berth_version: expected a string, got an array"},
	{"owner", NULL, NULL, NULL, P "owner is missing"},
	{"owner", "null", NULL, NULL, P "owner: expected a string, got null"},
	{"owner", "\"\"", NULL, NULL, P "owner: must not be empty"},
	{"spec", NULL, NULL, NULL, P "spec is missing"},
	{"spec", "\"x\"", NULL, NULL, P "spec: expected an object, got a string"},
	{"spec.path", NULL, NULL, NULL, P "spec.path is missing"},
	{"spec.path", "\"\"", NULL, NULL, P "spec.path: must not be empty"},
	{"spec.path", "\"examples/quickstart\"", NULL, NULL,
	 P "spec.path: expected an absolute path, got \"examples/quickstart\""},
	{"spec.digest", NULL, NULL, NULL, P "spec.digest is missing"},
	{"spec.digest", "5", NULL, NULL, P "spec.digest: expected a string, got an integer"},
	{"spec.digest", "\"md5:abc\"", NULL, NULL,
	 P "spec.digest: expected \"sha256:\" and 64 lowercase hex digits, got \"md5:abc\""},
	{"spec.digest", "\"sha256:64E25896E4BDF2DD4346C1C0C33A82A76D64FA058322B3C6E37F3831E833C781\"", NULL, NULL,
	 P "spec.digest: expected \"sha256:\" and 64 lowercase hex digits, got "
	   "\"sha256:64E25896E4BDF2DD4346C1C0C33A82A76D64FA058322B3C6E37F..."},
	{"observed", NULL, NULL, NULL, P "observed is missing"},
	{"observed", "[]", NULL, NULL, P "observed: expected an object, got an array"},
	{"observed.fingerprint", NULL, NULL, NULL, P "observed.fingerprint is missing"},
	{"observed.fingerprint", "true", NULL, NULL, P "observed.fingerprint: expected a string, got a boolean"},
	{"spec.digest", NULL, "observed", NULL, P "spec.digest is missing\n" P "observed is missing"},
	{"steps", NULL, NULL, NULL, P "steps is missing"},
	{"steps", "{}", NULL, NULL, P "steps: expected an array, got an object"},
	{"steps.3", "7", NULL, NULL, P "steps[3]: expected an object, got an integer"},
	{"steps.3.action", NULL, NULL, NULL, P "steps[3].action is missing"},
	{"steps.3.action", "\"destroy\"", NULL, NULL,
	 P "steps[3].action: expected one of create, update, replace, delete (got \"destroy\")"},
	{"steps.3.action", "3", NULL, NULL, P "steps[3].action: expected a string, got an integer"},
	/* Another berth's value must not put an escape sequence on the terminal. */
	{"steps.0.action", "\"\\u001b[2Jcreate\\u00e9\"", NULL, NULL,
	 P "steps[0].action: expected one of create, update, replace, delete (got \"\\u001B[2Jcreate\\u00E9\")"},
	/* DEL is ASCII, and JSON does not escape it, but it is a control character (found by the fuzzer). */
	{"steps.0.action", "\"delete\\u007f\"", NULL, NULL,
	 P "steps[0].action: expected one of create, update, replace, delete (got \"delete\\u007f\")"},
	{"steps.0.id", NULL, NULL, NULL,
	 P "steps[0].id is missing\n" P "steps[2].depends_on[0]: no step has id 0"},
	{"steps.1.id", "\"1\"", NULL, NULL,
	 P "steps[1].id: expected an integer, got a string\n" P "steps[2].depends_on[1]: no step has id 1"},
	{"steps.3.id", "-1", NULL, NULL, P "steps[3].id: must not be negative (got -1)"},
	{"steps.3.id", "1", NULL, NULL, P "steps[3].id: 1 is also the id of steps[1]"},
	{"steps.0.kind", "\"\"", NULL, NULL, P "steps[0].kind: must not be empty"},
	{"steps.0.kind", NULL, NULL, NULL, P "steps[0].kind is missing"},
	{"steps.2.name", NULL, NULL, NULL, P "steps[2].name is missing"},
	{"steps.2.name", "{}", NULL, NULL, P "steps[2].name: expected a string, got an object"},
	{"steps.0.reason", NULL, NULL, NULL, P "steps[0].reason is missing"},
	{"steps.0.reason", "3", NULL, NULL, P "steps[0].reason: expected a string or null, got an integer"},
	{"steps.2.depends_on", NULL, NULL, NULL, P "steps[2].depends_on is missing"},
	{"steps.2.depends_on", "\"0\"", NULL, NULL, P "steps[2].depends_on: expected an array, got a string"},
	{"steps.2.depends_on", "[\"0\"]", NULL, NULL, P "steps[2].depends_on[0]: expected an integer, got a string"},
	{"steps.2.depends_on", "[0, 99]", NULL, NULL, P "steps[2].depends_on[1]: no step has id 99"},
	{"steps.2.depends_on", "[2]", NULL, NULL, P "steps[2].depends_on[0]: a step cannot depend on itself"},
	{"steps.2.depends_on", "[3]", NULL, NULL,
	 P "steps[2].depends_on[0]: step 3 is listed after this step (steps are listed in dependency order)"},
	{"steps.2.changes", NULL, NULL, NULL, P "steps[2].changes is missing"},
	{"steps.2.changes", "null", NULL, NULL, P "steps[2].changes: expected an array, got null"},
	{"steps.2.changes.0", "\"image\"", NULL, NULL, P "steps[2].changes[0]: expected an object, got a string"},
	{"steps.2.changes.0.field", NULL, NULL, NULL, P "steps[2].changes[0].field is missing"},
	{"steps.2.changes.0.old", NULL, NULL, NULL, P "steps[2].changes[0].old is missing"},
	{"steps.2.changes.0.new", "1", NULL, NULL, P "steps[2].changes[0].new: expected a string or null, got an integer"},
	{"steps.2.changes.0.sensitive", "\"no\"", NULL, NULL,
	 P "steps[2].changes[0].sensitive: expected a boolean, got a string"},
	{"steps.1.changes.0.new", "\"hunter2\"", NULL, NULL,
	 P "steps[1].changes[0]: a sensitive change must not carry values (old and new are null)"},
	{"", NULL, NULL, NULL, NULL}, /* end */
};
#undef P

static void test_each_field_is_checked(void **state)
{
	(void)state;
	for (const field_case *c = field_cases; c->path[0]; c++) {
		json_t *j = sample_json();
		mutate(j, c->path, c->value);
		if (c->path2)
			mutate(j, c->path2, c->value2);
		char *text = dump(j);
		plan_file *pf = (plan_file *)1;
		char *err = NULL;
		int rc = plan_file_read_buffer(text, strlen(text), "t.plan", &pf, &err);
		if (rc != -1 || !err || strcmp(err, c->want))
			fail_msg("%s = %s: rc %d\n got: [%s]\nwant: [%s]", c->path, c->value ? c->value : "(removed)", rc,
				 err ? err : "(none)", c->want);
		assert_null(pf);
		/* A broken plan is still a plan: apply reports it, not nine spec errors. */
		assert_int_equal(plan_file_sniff_buffer(text, strlen(text)), 1);
		free(err);
		free(text);
		json_decref(j);
	}
}

static void expect_error(const char *text, const char *want_prefix)
{
	plan_file *pf = NULL;
	char *err = NULL;
	assert_int_equal(plan_file_read_buffer(text, strlen(text), "t.plan", &pf, &err), -1);
	assert_null(pf);
	if (strncmp(err, want_prefix, strlen(want_prefix)))
		fail_msg("got: %s\nwant: %s...", err, want_prefix);
	free(err);
}

static void test_not_json_or_not_an_object(void **state)
{
	(void)state;
	expect_error("[1, 2]", "t.plan: not a usable berth plan: expected a JSON object at the top level, got an array");
	expect_error("", "t.plan: not a usable berth plan: invalid JSON at line 1, column 0: ");
	/* Two spec.digest members: a reviewer could read one and berth use the other. */
	expect_error("{\"format_version\": 1, \"owner\": \"a\", \"owner\": \"b\"}",
		     "t.plan: not a usable berth plan: invalid JSON at line 1, column 43: duplicate object key near '\"owner\"'");
	/* jansson's message quotes the input: only printable ASCII of it is kept. */
	plan_file *pf = NULL;
	char *err = NULL;
	assert_int_equal(plan_file_read_buffer("{\"format_version\": \x1b[2J}", 25, "t.plan", &pf, &err), -1);
	assert_null(strchr(err, '\x1b'));
	free(err);
}

static void test_bom_is_skipped(void **state)
{
	(void)state;
	json_t *j = sample_json();
	char *text = dump(j), *bom = NULL;
	assert_true(asprintf(&bom, "\xEF\xBB\xBF%s", text) > 0);
	plan_file *pf = NULL;
	assert_int_equal(plan_file_read_buffer(bom, strlen(bom), "bom.plan", &pf, NULL), 0);
	assert_string_equal(plan_file_owner(pf), "quickstart");
	plan_file_free(pf);
	free(bom);
	free(text);
	json_decref(j);
}

/* A plan with many broken steps gets a bounded message: 20 problems and a count of the rest. */
static void test_problems_are_bounded(void **state)
{
	(void)state;
	json_t *j = sample_json();
	json_t *steps = json_array();
	for (int i = 0; i < 100; i++)
		json_array_append_new(steps, json_pack("{s:i, s:s, s:s, s:s, s:n, s:[], s:[]}", "id", i, "action", "frob",
						       "kind", "service", "name", "x", "reason", "depends_on", "changes"));
	json_object_set_new(j, "steps", steps);
	char *text = dump(j), *err = NULL;
	plan_file *pf = NULL;
	assert_int_equal(plan_file_read_buffer(text, strlen(text), "t.plan", &pf, &err), -1);
	size_t lines = 1;
	for (const char *c = err; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 21);
	assert_non_null(strstr(err, "t.plan: not a usable berth plan: steps[19].action: expected one of"));
	assert_null(strstr(err, "steps[20]"));
	const char *last = strrchr(err, '\n') + 1;
	assert_string_equal(last, "t.plan: not a usable berth plan: ... and 80 more problems");
	free(err);
	free(text);
	json_decref(j);
}

/* Every seed of the plan fuzzer: ok-* must read, bad-* must be refused, and all are plans. */
static void test_fuzz_seeds(void **state)
{
	(void)state;
	const char *dir = "tests/fuzz/seeds/plan";
	DIR *d = opendir(dir);
	assert_non_null(d);
	int ok = 0, bad = 0;
	for (struct dirent *e; (e = readdir(d));) {
		bool want_ok = !strncmp(e->d_name, "ok-", 3), want_bad = !strncmp(e->d_name, "bad-", 4);
		if (!want_ok && !want_bad)
			continue;
		char *path = NULL, *err = NULL;
		assert_true(asprintf(&path, "%s/%s", dir, e->d_name) > 0);
		plan_file *pf = NULL;
		int rc = plan_file_read(path, &pf, &err);
		if (want_ok && rc != 0)
			fail_msg("%s: %s", path, err);
		if (want_bad && rc == 0)
			fail_msg("%s: read as a usable plan", path);
		if (plan_file_sniff(path, NULL) != 1)
			fail_msg("%s: not recognised as a plan", path);
		ok += want_ok;
		bad += want_bad;
		plan_file_free(pf);
		free(err);
		free(path);
	}
	closedir(d);
	assert_true(ok >= 3);
	assert_true(bad >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_source_is_handed_over),
		cmocka_unit_test(test_unknown_members_are_ignored),
		cmocka_unit_test(test_any_name_is_recognised),
		cmocka_unit_test(test_flow_style_spec_is_not_a_plan),
		cmocka_unit_test(test_sniff_rule),
		cmocka_unit_test(test_directory_is_not_a_plan),
		cmocka_unit_test(test_fifo_is_not_opened),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_oversized_input_is_refused),
		cmocka_unit_test(test_truncated_plan),
		cmocka_unit_test(test_each_field_is_checked),
		cmocka_unit_test(test_not_json_or_not_an_object),
		cmocka_unit_test(test_bom_is_skipped),
		cmocka_unit_test(test_problems_are_bounded),
		cmocka_unit_test(test_fuzz_seeds),
	};
	return cmocka_run_group_tests_name("saved plan reader", tests, group_setup, group_teardown);
}
