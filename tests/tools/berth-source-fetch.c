/* berth-source-fetch: drives controller/source/ from the integration tests (t_source_git.sh), which
 * start real git servers (smart HTTP behind lighttpd, ssh) and need the C source, not the git CLI,
 * to talk to them. The CLI's own --repo flags come later and will use the same API; this tool
 * keeps the source's tests independent of them.
 *
 *   berth-source-fetch [--repo URL] [--ref REF] [--path P] [--cache DIR] [--username U]
 *                      [--ssh-key F] [--known-hosts F] [--ca-file F] [--verify-keys F]
 *                      [--times N] [--cancel-first] [--then OPTIONS...]
 *
 * The password comes from $BERTH_SOURCE_PASSWORD (never on the command line, where ps shows it).
 * Each fetch prints revision=, spec_path=, repo=, ref= and signer= lines; a failure prints
 * "error: CODE: message" on stderr and exits 1. --times fetches N times with one source (as
 * berth run does); --cancel-first fires the cancel before the first fetch. SIGTERM and SIGINT
 * fire it too, so a test can stop a fetch in flight. --then begins another source in the same
 * process (the exit status is 1 if any failed). */
#include <signal.h>
#include <stdbool.h>
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
			"[--ssh-key F] [--known-hosts F] [--ca-file F] [--verify-keys F] [--times N] [--cancel-first] "
			"[--then ...]\n");
	exit(2);
}

typedef struct group {
	berth_source_config cfg;
	int times;
	bool cancel_first;
} group;

/* Parses argv[*i..] up to "--then" or the end into g. */
static void parse_group(int argc, char **argv, int *i, group *g)
{
	for (; *i < argc; (*i)++) {
		const char *a = argv[*i];
		if (!strcmp(a, "--then")) {
			(*i)++;
			return;
		}
		if (!strcmp(a, "--cancel-first")) {
			g->cancel_first = true;
			continue;
		}
		if (*i + 1 >= argc)
			usage();
		const char *v = argv[++(*i)];
		if (!strcmp(a, "--repo"))
			g->cfg.repo = v;
		else if (!strcmp(a, "--ref"))
			g->cfg.ref = v;
		else if (!strcmp(a, "--path"))
			g->cfg.path = v;
		else if (!strcmp(a, "--cache"))
			g->cfg.cache_dir = v;
		else if (!strcmp(a, "--username"))
			g->cfg.username = v;
		else if (!strcmp(a, "--ssh-key"))
			g->cfg.ssh_key = v;
		else if (!strcmp(a, "--known-hosts"))
			g->cfg.known_hosts = v;
		else if (!strcmp(a, "--ca-file"))
			g->cfg.ca_file = v;
		else if (!strcmp(a, "--verify-keys"))
			g->cfg.verify_keys = v;
		else if (!strcmp(a, "--times"))
			g->times = atoi(v);
		else
			usage();
	}
}

int main(int argc, char **argv)
{
	cancel = berth_cancel_new();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* "--then" starts another source in the same process (all kept open to the end, as berth
	 * run keeps its sources), so process-wide state such as libgit2's CAs is exercised; each
	 * group inherits only the cache directory of the one before. */
	berth_source *open_sources[16];
	int nopen = 0, status = 0;
	const char *cache = NULL;
	for (int i = 1; i < argc || i == 1;) {
		group g = {.times = 1};
		g.cfg.cache_dir = cache;
		parse_group(argc, argv, &i, &g);
		cache = g.cfg.cache_dir;
		g.cfg.password = getenv("BERTH_SOURCE_PASSWORD");
		g.cfg.cancel = cancel;
		berth_cancel_reset(cancel);
		if (g.cancel_first)
			berth_cancel_fire(cancel);
		berth_error err = {0};
		berth_source *s = NULL;
		if (berth_source_open(&g.cfg, &s, &err) != 0) {
			fprintf(stderr, "error: %s: %s\n", berth_error_code_name(err.code), err.message);
			status = 1;
		}
		for (int t = 0; s && t < g.times; t++) {
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
		if (s && nopen < (int)(sizeof(open_sources) / sizeof(open_sources[0])))
			open_sources[nopen++] = s;
		else
			berth_source_free(s);
		if (i >= argc)
			break;
	}
	for (int k = 0; k < nopen; k++)
		berth_source_free(open_sources[k]);
	berth_cancel_free(cancel);
	return status;
}
