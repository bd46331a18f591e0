/* The spec corpus: every document under tests/spec/invalid must fail with exactly the diagnostics
 * it declares, and every document under tests/spec/valid and examples/ must load cleanly.
 *
 * An invalid case is either a file NAME.yaml whose header comments say
 *     # expect: LINE:COL: error: MESSAGE      (one per expected diagnostic, in output order)
 *     # env: NAME=VALUE                        (set while loading; "# unset: NAME" unsets)
 * or a directory holding *.yaml files and a file "expected" with whole lines
 * (DIR/FILE:LINE:COL: error: MESSAGE, where DIR/ stands for the directory). One test per case. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const char *srcdir(void)
{
	const char *d = getenv("BERTH_SRCDIR");
	return d ? d : ".";
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	fclose(f);
	return buf;
}

static char *load_path(const char *path, int *ok)
{
	spec_diags *d = spec_diags_new();
	spec_options o = {0};
	spec *s = spec_load(path, &o, d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spec_diags_print(d, f);
	fclose(f);
	spec_diags_free(d);
	*ok = s != NULL;
	spec_free(s);
	return buf;
}

/* Applies "# env:" and "# unset:" header lines. */
static void apply_env(const char *text)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char buf[512];
		size_t len = strcspn(line, "\n");
		if (len >= sizeof(buf))
			continue;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (!strncmp(buf, "# env: ", 7)) {
			char *eq = strchr(buf + 7, '=');
			if (eq) {
				*eq = '\0';
				setenv(buf + 7, eq + 1, 1);
			}
		} else if (!strncmp(buf, "# unset: ", 9)) {
			unsetenv(buf + 9);
		}
	}
}

static void test_invalid_file(void **state)
{
	const char *path = *state;
	char *text = slurp(path);
	assert_non_null(text);
	apply_env(text);
	char *expected = NULL;
	size_t elen = 0;
	FILE *e = open_memstream(&expected, &elen);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, "# expect: ", 10))
			fprintf(e, "%s:%.*s\n", path, (int)strcspn(line + 10, "\n"), line + 10);
	fclose(e);
	if (!elen)
		fail_msg("%s declares no '# expect:' line", path);
	int ok;
	char *got = load_path(path, &ok);
	if (strcmp(got, expected))
		print_error("%s\nexpected:\n%sgot:\n%s", path, expected, got);
	assert_string_equal(got, expected);
	assert_false(ok);
	free(got);
	free(expected);
	free(text);
}

static void test_invalid_dir(void **state)
{
	const char *dir = *state;
	char exp_path[1024];
	snprintf(exp_path, sizeof(exp_path), "%s/expected", dir);
	char *lines = slurp(exp_path);
	assert_non_null(lines);
	char *expected = NULL;
	size_t elen = 0;
	FILE *e = open_memstream(&expected, &elen);
	for (const char *line = lines; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		if (!len || line[0] == '#')
			continue;
		/* "DIR/" stands for the case's directory, as berth names it. */
		for (size_t i = 0; i < len; i++) {
			if (!strncmp(line + i, "DIR/", 4) && i + 4 <= len) {
				fprintf(e, "%s/", dir);
				i += 3;
			} else {
				fputc(line[i], e);
			}
		}
		fputc('\n', e);
	}
	fclose(e);
	int ok;
	char *got = load_path(dir, &ok);
	if (strcmp(got, expected))
		print_error("%s\nexpected:\n%sgot:\n%s", dir, expected, got);
	assert_string_equal(got, expected);
	assert_false(ok);
	free(got);
	free(expected);
	free(lines);
}

static bool is_dir(const char *p);

static void test_valid(void **state)
{
	const char *path = *state;
	/* A file case declares its environment in its header; an example directory in example.env
	 * (NAME=VALUE lines, the stand-ins for secrets that a real deployment has in its environment). */
	char envfile[1024];
	snprintf(envfile, sizeof(envfile), "%s/example.env", path);
	char *text = is_dir(path) ? slurp(envfile) : slurp(path);
	if (text && is_dir(path)) {
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			char *eq = strchr(line, '=');
			if (eq && line[0] != '#') {
				*eq = '\0';
				setenv(line, eq + 1, 1);
			}
		}
	} else if (text) {
		apply_env(text);
	}
	free(text);
	int ok;
	char *got = load_path(path, &ok);
	if (*got)
		print_error("%s:\n%s", path, got);
	assert_string_equal(got, "");
	assert_true(ok);
	free(got);
}

typedef struct {
	struct CMUnitTest *t;
	size_t n, cap;
} test_list;

static void add_test(test_list *l, const char *name, CMUnitTestFunction fn, const char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->t = realloc(l->t, l->cap * sizeof(*l->t));
	}
	char *p = strdup(path);
	l->t[l->n++] = (struct CMUnitTest){.name = strdup(name), .test_func = fn, .initial_state = p};
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* kind: 0 invalid, 1 valid files, 2 example directories */
static void collect(test_list *l, const char *dir, int kind)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char path[1024], tname[1100];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		size_t len = strlen(name);
		bool yaml = len > 5 && !strcmp(name + len - 5, ".yaml");
		if (name[0] != '.') {
			if (kind == 0 && yaml) {
				snprintf(tname, sizeof(tname), "invalid/%s", name);
				add_test(l, tname, test_invalid_file, path);
			} else if (kind == 0 && is_dir(path)) {
				snprintf(tname, sizeof(tname), "invalid/%s/", name);
				add_test(l, tname, test_invalid_dir, path);
			} else if (kind == 1 && (yaml || is_dir(path))) {
				snprintf(tname, sizeof(tname), "valid/%s", name);
				add_test(l, tname, test_valid, path);
			} else if (kind == 2 && is_dir(path)) {
				snprintf(tname, sizeof(tname), "examples/%s", name);
				add_test(l, tname, test_valid, path);
			}
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

int main(void)
{
	test_list l = {0};
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/tests/spec/invalid", srcdir());
	collect(&l, dir, 0);
	size_t invalid = l.n;
	snprintf(dir, sizeof(dir), "%s/tests/spec/valid", srcdir());
	collect(&l, dir, 1);
	snprintf(dir, sizeof(dir), "%s/examples", srcdir());
	collect(&l, dir, 2);
	fprintf(stderr, "corpus: %zu invalid cases, %zu valid cases\n", invalid, l.n - invalid);
	if (l.n == 0) {
		fprintf(stderr, "corpus: no cases found under %s\n", srcdir());
		return 1;
	}
	int rc = _cmocka_run_group_tests("spec corpus", l.t, l.n, NULL, NULL);
	for (size_t i = 0; i < l.n; i++) {
		free((void *)l.t[i].name);
		free(l.t[i].initial_state);
	}
	free(l.t);
	return rc;
}
