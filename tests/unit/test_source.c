/* controller/source/: URL parsing and redaction, known_hosts lookups (plain, [host]:port, hashed,
 * patterns, markers), verify_keys detection, base64 and de-armoring, the directory source, and
 * the git source over the local transport (a repository made with the git CLI in a temporary
 * directory; the network transports are t_source_git.sh's, against real servers). */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "core/clock.h"
#include "source/source.h"
#include "source/source_base64.h"
#include "source/source_known_hosts.h"
#include "source/source_url.h"
#include "source/source_verify.h"
#include "spec/xalloc.h"

/* ---- helpers ---- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		print_error("command failed (%d): %s\n", rc, cmd);
	assert_int_equal(rc, 0);
	free(cmd);
}

/* The first line a shell command prints (malloc'd). */
static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char buf[4096] = "";
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = '\0';
	assert_int_equal(pclose(p), 0);
	buf[strcspn(buf, "\n")] = '\0';
	free(cmd);
	return xstrdup(buf);
}

static char *tmpdir(void)
{
	char *t = xstrdup("/tmp/berth-test-source-XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
	size_t len;
	char *s = spec_read_file(path, 1 << 20, &len);
	assert_non_null(s);
	return s;
}

static unsigned char *b64(const char *s, size_t *n)
{
	unsigned char *k = source_base64_decode(s, strlen(s), false, n);
	assert_non_null(k);
	return k;
}

/* ---- URLs ---- */

static void test_url_redact(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"https://user:tok@host/x", "https://host/x"},
		{"https://TOKEN@github.com/o/r.git", "https://github.com/o/r.git"},
		{"https://host/x", "https://host/x"},
		{"http://u:p%40ss@h:8080/a/b?q=1", "http://h:8080/a/b?q=1"},
		{"https://u:p@h/path/with@at", "https://h/path/with@at"},
		{"ssh://git@host:2222/r.git", "ssh://host:2222/r.git"},
		{"ssh://me@corp@host/r.git", "ssh://host/r.git"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"user:secret@host:o/r.git", "host:o/r.git"},
		{"host:o/r.git", "host:o/r.git"},
		{"/srv/git/r.git", "/srv/git/r.git"},
		{"file:///srv/git/r.git", "file:///srv/git/r.git"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = berth_url_redact(cases[i][0]);
		assert_string_equal(r, cases[i][1]);
		free(r);
	}
	char *r = berth_url_redact(NULL);
	assert_string_equal(r, "");
	free(r);
}

static void test_url_parse(void **state)
{
	(void)state;
	source_url u;
	char *why = NULL;
	assert_int_equal(source_url_parse("https://alice:p%40ss@git.example.com:8443/org/r.git", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_HTTP);
	assert_true(u.tls);
	assert_string_equal(u.fetch_url, "https://git.example.com:8443/org/r.git");
	assert_string_equal(u.shown, "https://git.example.com:8443/org/r.git");
	assert_string_equal(u.key, u.shown);
	assert_string_equal(u.user, "alice");
	assert_string_equal(u.password, "p@ss");
	assert_string_equal(u.host, "git.example.com");
	assert_int_equal(u.port, 8443);
	source_url_free(&u);

	assert_int_equal(source_url_parse("ssh://git:pw@[::1]:2222/srv/r.git", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_SSH);
	assert_string_equal(u.fetch_url, "ssh://git@[::1]:2222/srv/r.git"); /* the password is not given to libgit2 */
	assert_string_equal(u.shown, "ssh://[::1]:2222/srv/r.git");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 2222);
	source_url_free(&u);

	assert_int_equal(source_url_parse("git@github.com:org/r.git", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_SSH);
	assert_string_equal(u.fetch_url, "git@github.com:org/r.git");
	assert_string_equal(u.shown, "git@github.com:org/r.git");
	assert_string_equal(u.user, "git");
	assert_string_equal(u.host, "github.com");
	assert_int_equal(u.port, 22);
	source_url_free(&u);

	assert_int_equal(source_url_parse("git+ssh://h/r", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_SSH);
	assert_null(u.user);
	assert_int_equal(u.port, 22);
	source_url_free(&u);

	assert_int_equal(source_url_parse("file:///srv/git/r%20x.git", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_LOCAL);
	assert_string_equal(u.fetch_url, "/srv/git/r x.git");
	source_url_free(&u);

	assert_int_equal(source_url_parse("relative/repo", &u, &why), 0);
	assert_int_equal(u.kind, SOURCE_URL_LOCAL);
	assert_true(u.fetch_url[0] == '/');
	source_url_free(&u);

	/* refused, with a reason that never holds the password */
	static const char *const bad[][2] = {
		{"git://u:hunter2@host/r", "unsupported repository URL scheme 'git'"},
		{"", "the repository URL is empty"},
		{"https://h/a b", "the repository URL contains a space or a control character"},
		{"https:///r.git", "the repository URL has no host"},
		{"https://h:99999/r", "invalid port in the repository URL (expected 1-65535)"},
		{"u:hunter2@host:r.git", "a password in an scp-like repository URL is not supported (ssh uses keys)"},
		{"https://u:hunter2%zz@h/r", "malformed %-escape in the password of the repository URL"},
		{"file://otherhost/r", "file:// URLs must name a local path (file:///path)"},
		{"ssh://host", "the ssh:// repository URL has no path"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(source_url_parse(bad[i][0], &u, &why), -1);
		assert_non_null(why);
		assert_true(strncmp(why, bad[i][1], strlen(bad[i][1])) == 0 || (print_error("%s: %s\n", bad[i][0], why), 0));
		assert_null(strstr(why, "hunter2"));
		free(why);
	}
}

/* ---- known_hosts ---- */

#define KEY_A "AAAAC3NzaC1lZDI1NTE5AAAAIEn2aIVJM44yy+nsSr0caDvchP0I1aHPaefq4AkUyfVJ"
#define KEY_B "AAAAC3NzaC1lZDI1NTE5AAAAID85KmL5Y6tH094vwlqw/syrdn/ygqCoBehOnJrQSGEi"
#define KEY_C                                                                                              \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG+9eP7zaXjz+uALIacxNyfKYUU7QE4JeP4THRJDku6FjVfAe/" \
	"9A49NwIS0sNgX0ecAqBR3CvzPURtl5VeH4pR4="
/* ssh-keygen -H of "example.com" and "[example.com]:2222", both with KEY_A */
#define HASHED_22 "|1|g//bG69Wo4RDbjL8vcYp4qrrdzs=|zVjPL5mbxx/mTelbeZvHV0ptUqo="
#define HASHED_2222 "|1|aHxbBmV89Yvk/52BR0ti/fz8/Us=|kHc/qsHqcbUzkzGyRN3tp+Pwupw="

static source_hostkey_result check(const char *text, const char *host, int port, const char *key64, int *line)
{
	size_t n;
	unsigned char *k = b64(key64, &n);
	source_hostkey_result r = source_known_hosts_check(text, strlen(text), host, port, k, n, line);
	free(k);
	return r;
}

static void test_known_hosts_plain_and_ports(void **state)
{
	(void)state;
	const char *kh = "# a comment\n"
			 "\n"
			 "example.com ssh-ed25519 " KEY_A " comment here\n"
			 "[example.com]:2222 ssh-ed25519 " KEY_B "\n"
			 "other.org,*.corp.example,!bad.corp.example ssh-ed25519 " KEY_A "\r\n"
			 "mixed.example ecdsa-sha2-nistp256 " KEY_C "\n";
	int line = -1;
	assert_int_equal(check(kh, "example.com", 22, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(line, 3);
	assert_int_equal(check(kh, "EXAMPLE.com", 22, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	/* the port-22 line does not name port 2222, and the other way round */
	assert_int_equal(check(kh, "example.com", 2222, KEY_B, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(line, 4);
	assert_int_equal(check(kh, "example.com", 2222, KEY_A, &line), SOURCE_HOSTKEY_CHANGED);
	assert_int_equal(line, 4);
	assert_int_equal(check(kh, "example.com", 22, KEY_B, &line), SOURCE_HOSTKEY_CHANGED);
	assert_int_equal(line, 3);
	/* patterns: lists, wildcards, negation */
	assert_int_equal(check(kh, "other.org", 22, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(line, 5);
	assert_int_equal(check(kh, "git.corp.example", 22, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(check(kh, "bad.corp.example", 22, KEY_A, &line), SOURCE_HOSTKEY_UNKNOWN);
	assert_int_equal(line, 0);
	assert_int_equal(check(kh, "nowhere.example", 22, KEY_A, &line), SOURCE_HOSTKEY_UNKNOWN);
	/* known with another type only: unknown for this one, not changed */
	assert_int_equal(check(kh, "mixed.example", 22, KEY_A, &line), SOURCE_HOSTKEY_UNKNOWN);
	assert_int_equal(check(kh, "mixed.example", 22, KEY_C, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(check("", "example.com", 22, KEY_A, &line), SOURCE_HOSTKEY_UNKNOWN);
}

static void test_known_hosts_hashed(void **state)
{
	(void)state;
	const char *kh = HASHED_22 " ssh-ed25519 " KEY_A "\n" HASHED_2222 " ssh-ed25519 " KEY_A "\n";
	int line = -1;
	assert_int_equal(check(kh, "example.com", 22, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(line, 1);
	assert_int_equal(check(kh, "example.com", 2222, KEY_A, &line), SOURCE_HOSTKEY_MATCH);
	assert_int_equal(line, 2);
	assert_int_equal(check(kh, "example.com", 2222, KEY_B, &line), SOURCE_HOSTKEY_CHANGED);
	assert_int_equal(line, 2);
	assert_int_equal(check(kh, "example.org", 22, KEY_A, &line), SOURCE_HOSTKEY_UNKNOWN);
	/* a broken hash or salt is a line that names nobody */
	assert_int_equal(check("|1|AAAA|zVjPL5mbxx/mTelbeZvHV0ptUqo= ssh-ed25519 " KEY_A "\n", "example.com", 22, KEY_A, &line),
			 SOURCE_HOSTKEY_UNKNOWN);
	assert_int_equal(check("|1|g//bG69Wo4RDbjL8vcYp4qrrdzs= ssh-ed25519 " KEY_A "\n", "example.com", 22, KEY_A, &line),
			 SOURCE_HOSTKEY_UNKNOWN);
}

static void test_known_hosts_markers_and_malformed_lines(void **state)
{
	(void)state;
	int line = -1;
	/* @revoked wins over a matching line, wherever it is */
	const char *revoked = "example.com ssh-ed25519 " KEY_A "\n@revoked * ssh-ed25519 " KEY_A "\n";
	assert_int_equal(check(revoked, "example.com", 22, KEY_A, &line), SOURCE_HOSTKEY_REVOKED);
	assert_int_equal(line, 2);
	/* ... but only for its own key */
	assert_int_equal(check("@revoked * ssh-ed25519 " KEY_B "\nexample.com ssh-ed25519 " KEY_A "\n", "example.com", 22,
			       KEY_A, &line),
			 SOURCE_HOSTKEY_MATCH);
	/* @cert-authority lines vouch for nothing here (no host certificates through libgit2) */
	assert_int_equal(check("@cert-authority *.example.com ssh-ed25519 " KEY_A "\n", "git.example.com", 22, KEY_A, &line),
			 SOURCE_HOSTKEY_UNKNOWN);
	/* malformed lines are skipped: bad base64, a type that is not the blob's, too few fields */
	const char *bad = "example.com ssh-ed25519 !!!notbase64\n"
			  "example.com ssh-rsa " KEY_A "\n"
			  "example.com ssh-ed25519\n"
			  "@revoked\n"
			  "example.com ssh-ed25519 " KEY_B "\n";
	assert_int_equal(check(bad, "example.com", 22, KEY_A, &line), SOURCE_HOSTKEY_CHANGED);
	assert_int_equal(line, 5);
	/* a key blob that is not one */
	static const unsigned char junk[] = {0, 0, 0, 200, 'x'};
	const char *one = "example.com ssh-ed25519 " KEY_A "\n";
	assert_int_equal(source_known_hosts_check(one, strlen(one), "example.com", 22, junk, sizeof(junk), &line),
			 SOURCE_HOSTKEY_UNKNOWN);
	assert_null(source_ssh_key_type(junk, sizeof(junk)));
	size_t n;
	unsigned char *k = b64(KEY_C, &n);
	char *t = source_ssh_key_type(k, n);
	assert_string_equal(t, "ecdsa-sha2-nistp256");
	free(t);
	free(k);
	char *name = source_url_known_hosts_name("::1", 2222);
	assert_string_equal(name, "[::1]:2222");
	free(name);
	name = source_url_known_hosts_name("h", 22);
	assert_string_equal(name, "h");
	free(name);
}

/* ---- base64, verify_keys ---- */

static void test_base64(void **state)
{
	(void)state;
	size_t n;
	unsigned char *d = source_base64_decode("aGVsbG8=", 8, false, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(d, "hello", 5);
	free(d);
	d = source_base64_decode("aGVsbG8", 7, false, &n); /* padding optional */
	assert_int_equal(n, 5);
	free(d);
	d = source_base64_decode("aGVs\n bG8=\n", 11, true, &n);
	assert_int_equal(n, 5);
	free(d);
	assert_null(source_base64_decode("aGVs\nbG8=", 9, false, &n));
	assert_null(source_base64_decode("aGVsbG8=x", 9, false, &n));
	assert_null(source_base64_decode("a", 1, false, &n));
	assert_null(source_base64_decode("a*==", 4, false, &n));
}

static void test_keys_detect(void **state)
{
	(void)state;
	source_keys_kind k = -1;
	char *why = NULL;
	const char *signers = "# who may sign\n"
			      "alice@example.com ssh-ed25519 " KEY_A " alice\n"
			      "bob@example.com,*@corp.example namespaces=\"git,file\",valid-after=\"20240101\" ssh-ed25519 " KEY_B "\n"
			      "\n"
			      "ca@example.com cert-authority ecdsa-sha2-nistp256 " KEY_C "\n";
	assert_int_equal(source_keys_detect(signers, strlen(signers), &k, &why), 0);
	assert_int_equal(k, SOURCE_KEYS_SSH);
	const char *armored = "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";
	assert_int_equal(source_keys_detect(armored, strlen(armored), &k, &why), 0);
	assert_int_equal(k, SOURCE_KEYS_GPG_ARMORED);
	static const char packet[] = {(char)0x99, 0x01, 0x0d, 0x04};
	assert_int_equal(source_keys_detect(packet, sizeof(packet), &k, &why), 0);
	assert_int_equal(k, SOURCE_KEYS_GPG);
	static const char packet_new[] = {(char)0xc6, 0x33, 0x04};
	assert_int_equal(source_keys_detect(packet_new, sizeof(packet_new), &k, &why), 0);
	assert_int_equal(k, SOURCE_KEYS_GPG);
	static const char kbx[] = {0, 0, 0, 32, 1, 1, 0, 0, 'K', 'B', 'X', 'f', 0, 0};
	assert_int_equal(source_keys_detect(kbx, sizeof(kbx), &k, &why), 0);
	assert_int_equal(k, SOURCE_KEYS_GPG);

	/* neither */
	const char *junk = "alice@example.com ssh-ed25519 " KEY_A "\nthis is not a key\n";
	assert_int_equal(source_keys_detect(junk, strlen(junk), &k, &why), -1);
	assert_string_equal(why, "line 2 is not an SSH allowed-signers line (PRINCIPALS [OPTIONS] KEYTYPE KEY), and the file is not a GPG keyring");
	free(why);
	const char *pubkey = "ssh-ed25519 " KEY_A " alice\n"; /* a public key file has no principal */
	assert_int_equal(source_keys_detect(pubkey, strlen(pubkey), &k, &why), -1);
	free(why);
	assert_int_equal(source_keys_detect("# nothing\n\n", 11, &k, &why), -1);
	assert_string_equal(why, "it holds no key (neither an SSH allowed-signers line nor a GPG keyring)");
	free(why);
	assert_int_equal(source_keys_detect("x ssh-ed25519 !!!\n", 18, &k, &why), -1);
	free(why);
}

static void test_gpg_dearmor(void **state)
{
	(void)state;
	const char *two = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
			  "Comment: one\n"
			  "\n"
			  "aGVs\r\n"
			  "bG8=\n"
			  "=abcd\n"
			  "-----END PGP PUBLIC KEY BLOCK-----\n"
			  "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
			  "\n"
			  "IHdvcmxk\n"
			  "-----END PGP PUBLIC KEY BLOCK-----\n";
	size_t n = 0;
	unsigned char *d = source_gpg_dearmor(two, strlen(two), &n);
	assert_non_null(d);
	assert_int_equal(n, 11);
	assert_memory_equal(d, "hello world", 11);
	free(d);
	assert_null(source_gpg_dearmor("no armor here", 13, &n));
	const char *broken = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n*not base64*\n-----END PGP PUBLIC KEY BLOCK-----\n";
	assert_null(source_gpg_dearmor(broken, strlen(broken), &n));
}

/* ---- the directory source ---- */

static char *dir_revision(const char *path, char **spec_path)
{
	berth_source_config cfg = {.path = path};
	berth_source *s = NULL;
	berth_error err = {0};
	assert_int_equal(berth_source_open(&cfg, &s, &err), 0);
	berth_revision r;
	int rc = berth_source_fetch(s, &r, &err);
	if (rc)
		print_error("%s\n", err.message);
	assert_int_equal(rc, 0);
	assert_null(r.repo);
	assert_null(r.ref);
	assert_null(r.signer);
	char *rev = xstrdup(r.revision);
	if (spec_path)
		*spec_path = xstrdup(r.spec_path);
	berth_revision_free(&r);
	berth_source_free(s);
	return rev;
}

static void test_dir_source(void **state)
{
	(void)state;
	char *d = tmpdir();
	char *p = xasprintf("%s/a.yaml", d);
	write_text(p, "version: 1\n");
	free(p);
	p = xasprintf("%s/notes.txt", d);
	write_text(p, "not a spec file\n");
	char *spec_path = NULL;
	char *r1 = dir_revision(d, &spec_path);
	assert_true(strncmp(r1, "dir:sha256:", 11) == 0);
	assert_int_equal(strlen(r1), 11 + 64);
	char real[PATH_MAX];
	assert_non_null(realpath(d, real));
	assert_string_equal(spec_path, real);
	free(spec_path);
	/* a file spec_load does not read changes nothing */
	write_text(p, "changed\n");
	free(p);
	char *r2 = dir_revision(d, NULL);
	assert_string_equal(r1, r2);
	/* a spec file does */
	p = xasprintf("%s/b.yaml", d);
	write_text(p, "name: x\n");
	char *r3 = dir_revision(d, NULL);
	assert_string_not_equal(r1, r3);
	/* the same content under another name is another revision */
	char *q = xasprintf("%s/c.yaml", d);
	assert_int_equal(rename(p, q), 0);
	char *r4 = dir_revision(d, NULL);
	assert_string_not_equal(r3, r4);
	/* a file PATH */
	char *r5 = dir_revision(q, &spec_path);
	assert_string_not_equal(r4, r5);
	assert_true(strstr(spec_path, "/c.yaml") != NULL);
	free(spec_path);
	/* a missing PATH */
	char *missing = xasprintf("%s/nope", d);
	berth_source_config cfg = {.path = missing};
	berth_source *s = NULL;
	berth_error err = {0};
	assert_int_equal(berth_source_open(&cfg, &s, &err), 0);
	berth_revision r;
	assert_int_equal(berth_source_fetch(s, &r, &err), BERTH_ENOTFOUND);
	assert_non_null(strstr(err.message, "No such file or directory"));
	berth_error_clear(&err);
	berth_source_free(s);
	/* options that need a repository are refused, not ignored */
	berth_source_config vk = {.path = d, .verify_keys = "/etc/hostname"};
	assert_int_equal(berth_source_open(&vk, &s, &err), BERTH_EINVALID);
	assert_string_equal(err.message, "verify_keys needs a git repository (repo); a directory has none");
	berth_error_clear(&err);
	free(missing);
	free(r1);
	free(r2);
	free(r3);
	free(r4);
	free(r5);
	free(p);
	free(q);
	sh("rm -rf '%s'", d);
	free(d);
}

/* ---- the git source, local transport ---- */

typedef struct repo_fixture {
	char *top;   /* temporary directory */
	char *work;  /* the work tree (and the repository fetched) */
	char *cache;
} repo_fixture;

#define GIT "git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main -c commit.gpgsign=false"

static char *commit_file(repo_fixture *f, const char *file, const char *text)
{
	char *p = xasprintf("%s/%s", f->work, file);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	sh("mkdir -p '%s'", p);
	*slash = '/';
	write_text(p, text);
	free(p);
	sh(GIT " -C '%s' add -A && " GIT " -C '%s' commit -q -m 'change %s'", f->work, f->work, file);
	return sh_out("git -C '%s' rev-parse HEAD", f->work);
}

static int setup_repo(void **state)
{
	repo_fixture *f = xcalloc(1, sizeof(*f));
	f->top = tmpdir();
	f->work = xasprintf("%s/work", f->top);
	f->cache = xasprintf("%s/cache", f->top);
	sh(GIT " init -q '%s'", f->work);
	*state = f;
	return 0;
}

static int teardown_repo(void **state)
{
	repo_fixture *f = *state;
	sh("rm -rf '%s'", f->top);
	free(f->top);
	free(f->work);
	free(f->cache);
	free(f);
	return 0;
}

/* Opens a source on the fixture's repository; code is what fetch must return (r filled when 0). */
static int git_fetch(repo_fixture *f, berth_source_config cfg, berth_revision *r, berth_error *err)
{
	if (!cfg.repo)
		cfg.repo = f->work;
	cfg.cache_dir = f->cache;
	berth_source *s = NULL;
	int rc = berth_source_open(&cfg, &s, err);
	if (rc)
		return rc;
	rc = berth_source_fetch(s, r, err);
	berth_source_free(s);
	return rc;
}

static void test_git_local_fetch_and_checkouts(void **state)
{
	repo_fixture *f = *state;
	char *one = commit_file(f, "deploy/berth.yaml", "version: 1\n");
	free(commit_file(f, "gone.yaml", "here\n"));
	char *two = sh_out("git -C '%s' rev-parse HEAD", f->work);
	berth_revision r;
	berth_error err = {0};
	assert_int_equal(git_fetch(f, (berth_source_config){0}, &r, &err), 0);
	assert_string_equal(r.revision, two);
	char *dir2 = xasprintf("%s/checkouts/%s", f->cache, two);
	assert_string_equal(r.spec_path, dir2);
	assert_string_equal(r.ref, "main");
	assert_string_equal(r.repo, f->work);
	assert_null(r.signer);
	berth_revision_free(&r);

	/* a path inside: a directory, a file, and one that is not there */
	assert_int_equal(git_fetch(f, (berth_source_config){.path = "deploy"}, &r, &err), 0);
	char *want = xasprintf("%s/deploy", dir2);
	assert_string_equal(r.spec_path, want);
	free(want);
	berth_revision_free(&r);
	assert_int_equal(git_fetch(f, (berth_source_config){.path = "./deploy/berth.yaml/"}, &r, &err), 0);
	char *text = read_text(r.spec_path);
	assert_string_equal(text, "version: 1\n");
	free(text);
	berth_revision_free(&r);
	assert_int_equal(git_fetch(f, (berth_source_config){.path = "nope.yaml"}, &r, &err), BERTH_ENOTFOUND);
	char *msg = xasprintf("nope.yaml is not in commit %s of %s", two, f->work);
	assert_string_equal(err.message, msg);
	free(msg);
	berth_error_clear(&err);

	/* an older commit by its full id: its own checkout, without the later file */
	assert_int_equal(git_fetch(f, (berth_source_config){.ref = one}, &r, &err), 0);
	assert_string_equal(r.revision, one);
	char *gone = xasprintf("%s/gone.yaml", r.spec_path);
	assert_int_equal(access(gone, F_OK), -1);
	free(gone);
	berth_revision_free(&r);
	gone = xasprintf("%s/gone.yaml", dir2);
	assert_int_equal(access(gone, F_OK), 0); /* the other checkout is untouched */
	free(gone);

	/* file:// is the same repository, the same cache */
	char *file_url = xasprintf("file://%s", f->work);
	assert_int_equal(git_fetch(f, (berth_source_config){.repo = file_url}, &r, &err), 0);
	assert_string_equal(r.revision, two);
	assert_string_equal(r.repo, file_url);
	berth_revision_free(&r);
	free(file_url);

	/* refs that are not there */
	assert_int_equal(git_fetch(f, (berth_source_config){.ref = "nope"}, &r, &err), BERTH_ENOTFOUND);
	msg = xasprintf("no branch or tag nope in %s", f->work);
	assert_string_equal(err.message, msg);
	free(msg);
	berth_error_clear(&err);
	/* a repository that is not there */
	char *nowhere = xasprintf("%s/nowhere", f->top);
	int rc = git_fetch(f, (berth_source_config){.repo = nowhere}, &r, &err);
	assert_true(rc == BERTH_ENOTFOUND || (print_error("%d %s\n", rc, err.message), 0));
	assert_non_null(strstr(err.message, nowhere));
	berth_error_clear(&err);
	free(nowhere);
	free(dir2);
	free(one);
	free(two);
}

typedef struct fetch_job {
	repo_fixture *f;
	berth_revision r;
	int rc;
} fetch_job;

static void *fetch_thread(void *arg)
{
	fetch_job *j = arg;
	berth_error err = {0};
	j->rc = git_fetch(j->f, (berth_source_config){0}, &j->r, &err);
	berth_error_clear(&err);
	return NULL;
}

/* Sources of one repository on several threads share its cache: the lock serialises them and
 * every one gets the same complete checkout. */
static void test_git_concurrent_fetches(void **state)
{
	repo_fixture *f = *state;
	char *sha = commit_file(f, "berth.yaml", "x: 1\n");
	fetch_job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (fetch_job){.f = f};
		assert_int_equal(pthread_create(&th[i], NULL, fetch_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
		assert_string_equal(jobs[i].r.revision, sha);
		char *text = xasprintf("%s/berth.yaml", jobs[i].r.spec_path);
		char *content = read_text(text);
		assert_string_equal(content, "x: 1\n");
		free(content);
		free(text);
		berth_revision_free(&jobs[i].r);
	}
	free(sha);
}

static void test_git_cancel_before_fetch(void **state)
{
	repo_fixture *f = *state;
	free(commit_file(f, "berth.yaml", "x: 1\n"));
	berth_cancel *c = berth_cancel_new();
	berth_cancel_fire(c);
	berth_revision r;
	berth_error err = {0};
	assert_int_equal(git_fetch(f, (berth_source_config){.cancel = c}, &r, &err), BERTH_ECANCELED);
	char *msg = xasprintf("fetch of %s canceled", f->work);
	assert_string_equal(err.message, msg);
	free(msg);
	berth_error_clear(&err);
	/* nothing was made */
	assert_int_equal(access(f->cache, F_OK), -1);
	berth_cancel_reset(c);
	assert_int_equal(git_fetch(f, (berth_source_config){.cancel = c}, &r, &err), 0);
	berth_revision_free(&r);
	berth_cancel_free(c);
}

/* The transports the git source offers need these in libgit2: Debian 12's 1.5.1 has them
 * (libssh2 for ssh, mbedTLS for https); source_git_open refuses a URL its build cannot serve. */
static void test_libgit2_has_ssh_and_https(void **state)
{
	(void)state;
	git_libgit2_init();
	int f = git_libgit2_features();
	assert_true(f & GIT_FEATURE_SSH);
	assert_true(f & GIT_FEATURE_HTTPS);
	assert_true(f & GIT_FEATURE_THREADS);
	git_libgit2_shutdown();
}

static void test_git_open_checks_the_configuration(void **state)
{
	(void)state;
	static const struct {
		berth_source_config cfg;
		const char *message;
	} cases[] = {
		{{.repo = "git://u:hunter2@h/r"},
		 "repo git://h/r: unsupported repository URL scheme 'git' (expected https://, http://, ssh://, user@host:path, "
		 "file:// or a path)"},
		{{.repo = "https://h/r", .path = "../x"}, "path ../x must not contain '..'"},
		{{.repo = "https://h/r", .path = "/etc"}, "path /etc must be relative to the repository's root"},
		{{.repo = "https://h/r", .ref = "a..b"}, "ref a..b is not a valid branch or tag name (nor a full 40-hex commit id)"},
		{{.repo = "https://h/r", .ref = "refs/heads/x y"}, "ref refs/heads/x y is not a valid git reference name"},
		{{.repo = "ssh://h/r", .password = "hunter2"},
		 "a password is for http(s) repositories; ssh://h/r authenticates with ssh_key or ssh-agent"},
		{{.repo = "https://h/r", .ssh_key = "/nonexistent/id"}, "ssh_key /nonexistent/id: No such file or directory"},
		{{.repo = "https://h/r", .verify_keys = "/nonexistent/keys"}, "verify_keys /nonexistent/keys: No such file or directory"},
		{{.repo = "/srv/r", .username = "u"}, "username and password are for http(s) repositories, not /srv/r"},
		{{.ref = "main"}, "ref needs a git repository (repo); a directory has none"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		berth_source *s = NULL;
		berth_error err = {0};
		assert_int_equal(berth_source_open(&cases[i].cfg, &s, &err), BERTH_EINVALID);
		assert_null(s);
		if (strcmp(err.message, cases[i].message) != 0)
			print_error("case %zu: %s\n", i, err.message);
		assert_string_equal(err.message, cases[i].message);
		assert_null(strstr(err.message, "hunter2"));
		berth_error_clear(&err);
	}
	/* a verify_keys file that is neither kind */
	char *d = tmpdir();
	char *p = xasprintf("%s/keys", d);
	write_text(p, "hello\n");
	berth_source_config cfg = {.repo = "https://h/r", .verify_keys = p};
	berth_source *s = NULL;
	berth_error err = {0};
	assert_int_equal(berth_source_open(&cfg, &s, &err), BERTH_EINVALID);
	char *want = xasprintf("verify_keys %s: line 1 is not an SSH allowed-signers line (PRINCIPALS [OPTIONS] KEYTYPE KEY), "
			       "and the file is not a GPG keyring", p);
	assert_string_equal(err.message, want);
	free(want);
	berth_error_clear(&err);
	sh("rm -rf '%s'", d);
	free(p);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_known_hosts_plain_and_ports),
		cmocka_unit_test(test_known_hosts_hashed),
		cmocka_unit_test(test_known_hosts_markers_and_malformed_lines),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_keys_detect),
		cmocka_unit_test(test_gpg_dearmor),
		cmocka_unit_test(test_dir_source),
		cmocka_unit_test_setup_teardown(test_git_local_fetch_and_checkouts, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_git_concurrent_fetches, setup_repo, teardown_repo),
		cmocka_unit_test_setup_teardown(test_git_cancel_before_fetch, setup_repo, teardown_repo),
		cmocka_unit_test(test_libgit2_has_ssh_and_https),
		cmocka_unit_test(test_git_open_checks_the_configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
