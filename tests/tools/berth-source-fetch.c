/* berth-source-fetch: drives controller/source/ from the integration tests (t_source_git.sh), which
 * start real git servers (smart HTTP behind lighttpd, ssh) and need the C source, not the git CLI,
 * to talk to them. The CLI's own --repo flags come later and will use the same API; this tool
 * keeps the source's tests independent of them.
 *
 *   berth-source-fetch [--repo URL] [--ref REF] [--path P] [--cache DIR] [--username U]
 *                      [--ssh-key F] [--known-hosts F] [--ca-file F] [--verify-keys F]
 *                      [--times N] [--cancel-first]
 *
 * The password comes from $BERTH_SOURCE_PASSWORD (never on the command line, where ps shows it).
 * Each fetch prints revision=, spec_path=, repo=, ref= and signer= lines; a failure prints
 * "error: CODE: message" on stderr and exits 1. --times fetches N times with one source (as
 * berth run does); --cancel-first fires the cancel before the first fetch. SIGTERM and SIGINT
 * fire it too, so a test can stop a fetch in flight. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "source/source.h"

static berth_cancel *cancel;

/* Read by LeakSanitizer (ASan builds; unused otherwise). libgit2 1.5.1's ssh transport leaks
 * 56 bytes per connection in its load_known_hosts (the LIBSSH2_KNOWNHOSTS of a successful
 * connection is never freed, and two git_str are cleared instead of disposed), whatever the
 * caller does; later libgit2 releases free them. Only allocations made inside libssh2's
 * known_hosts and inside git_remote_connect are exempt, so a libgit2 object berth forgets to
 * free (a remote, a repository, a commit) is still reported. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	/* libgit2 has no frame pointers: without the slow unwinder the stacks stop at its first
	 * frame, and the suppressions below could not see git_remote_connect_ext */
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0"; /* stderr is the error message the tests compare */
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libssh2_knownhost_init\nleak:git_remote_connect_ext\n";
}

static void on_signal(int sig)
{
	(void)sig;
	berth_cancel_fire(cancel); /* async-signal-safe */
}

static void usage(void)
{
	fprintf(stderr, "usage: berth-source-fetch [--repo URL] [--ref REF] [--path P] [--cache DIR] [--username U] "
			"[--ssh-key F] [--known-hosts F] [--ca-file F] [--verify-keys F] [--times N] [--cancel-first]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	berth_source_config cfg = {0};
	int times = 1;
	int cancel_first = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--cancel-first")) {
			cancel_first = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--repo"))
			cfg.repo = v;
		else if (!strcmp(a, "--ref"))
			cfg.ref = v;
		else if (!strcmp(a, "--path"))
			cfg.path = v;
		else if (!strcmp(a, "--cache"))
			cfg.cache_dir = v;
		else if (!strcmp(a, "--username"))
			cfg.username = v;
		else if (!strcmp(a, "--ssh-key"))
			cfg.ssh_key = v;
		else if (!strcmp(a, "--known-hosts"))
			cfg.known_hosts = v;
		else if (!strcmp(a, "--ca-file"))
			cfg.ca_file = v;
		else if (!strcmp(a, "--verify-keys"))
			cfg.verify_keys = v;
		else if (!strcmp(a, "--times"))
			times = atoi(v);
		else
			usage();
	}
	cfg.password = getenv("BERTH_SOURCE_PASSWORD");
	cancel = berth_cancel_new();
	cfg.cancel = cancel;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (cancel_first)
		berth_cancel_fire(cancel);

	berth_error err = {0};
	berth_source *s = NULL;
	int status = 0;
	if (berth_source_open(&cfg, &s, &err) != 0) {
		fprintf(stderr, "error: %s: %s\n", berth_error_code_name(err.code), err.message);
		status = 1;
	}
	for (int t = 0; s && t < times; t++) {
		berth_revision r = {0};
		if (berth_source_fetch(s, &r, &err) != 0) {
			fprintf(stderr, "error: %s: %s\n", berth_error_code_name(err.code), err.message);
			status = 1;
			break;
		}
		printf("revision=%s\nspec_path=%s\nrepo=%s\nref=%s\nsigner=%s\n", r.revision, r.spec_path,
		       r.repo ? r.repo : "", r.ref ? r.ref : "", r.signer ? r.signer : "");
		fflush(stdout);
		berth_revision_free(&r);
	}
	berth_error_clear(&err);
	berth_source_free(s);
	berth_cancel_free(cancel);
	return status;
}
