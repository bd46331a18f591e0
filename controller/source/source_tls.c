/* The https CAs of libgit2, one set in force at a time. See source_tls.h. */
#include "source/source_tls.h"
#include "source/source_fs.h"
#include "core/util.h"
#include "spec/spec.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/x509.h>

/* A CA bundle is a few hundred kB; this bounds what a wrong path could make us read. */
#define CA_FILE_MAX (16u << 20)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_rwlock_t lock;
/* the ca_file whose bundle is in force; NULL: the system's (libgit2's default) */
static char *applied;
/* how the current holder took the lock, so that end releases it (a thread holds it once) */
static __thread bool held;

static void init_lock(void)
{
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* a source that needs other CAs must not wait for ever behind a stream of readers */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&lock, &a);
	pthread_rwlockattr_destroy(&a);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static const char *system_bundle(void)
{
	const char *env = getenv(X509_get_default_cert_file_env());
	return env && *env ? env : X509_get_default_cert_file();
}

/* Sets the bundle for ca_file (NULL: the system's); under the write lock. */
static int apply(const char *ca_file, const char *tmp_dir, berth_error *err)
{
	const char *sys = system_bundle();
	if (!ca_file) {
		if (access(sys, R_OK) == 0 && git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, sys, NULL) != 0) {
			const git_error *e = git_error_last();
			return berth_error_set(err, BERTH_EFAILED, "cannot load the system CA bundle %s: %s", sys,
					       e ? e->message : "unknown error");
		}
		free(applied);
		applied = NULL;
		return 0;
	}
	size_t extra_len = 0, sys_len = 0;
	char *extra = spec_read_file(ca_file, CA_FILE_MAX, &extra_len);
	if (!extra)
		return berth_error_set(err, BERTH_EINVALID, "cannot read ca_file %s: %s", ca_file, strerror(errno));
	char *sys_pem = spec_read_file(sys, CA_FILE_MAX, &sys_len); /* none is fine: only ca_file then */
	char *why = NULL;
	char *dir = source_mkdtemp(tmp_dir, "ca-", &why);
	if (!dir) {
		free(extra);
		free(sys_pem);
		return berth_error_take(err, BERTH_EFAILED, why);
	}
	char *path = xasprintf("%s/bundle.pem", dir);
	char *bundle = xasprintf("%s\n%s\n", sys_pem ? sys_pem : "", extra);
	free(extra);
	free(sys_pem);
	int rc = 0;
	if (source_write_file(path, bundle, strlen(bundle), 0600, &why)) {
		rc = berth_error_take(err, BERTH_EFAILED, why);
	} else if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, path, NULL) != 0) {
		const git_error *e = git_error_last();
		rc = berth_error_set(err, BERTH_EINVALID, "ca_file %s: no certificate could be loaded: %s", ca_file,
				     e ? e->message : "unknown error");
		/* whatever libgit2 holds now is not what anyone asked for: the next one reapplies */
		free(applied);
		applied = xstrdup("");
	} else {
		free(applied);
		applied = xstrdup(ca_file);
	}
	free(bundle);
	/* libgit2 has parsed the file into memory; the copy on disk is not needed again */
	if (source_remove_tree(dir) != 0 && rc == 0)
		rc = berth_error_set(err, BERTH_EFAILED, "cannot remove %s: %s", dir, strerror(errno));
	free(path);
	free(dir);
	return rc;
}

int source_tls_begin(const char *ca_file, const char *tmp_dir, berth_error *err)
{
	pthread_once(&once, init_lock);
	pthread_rwlock_rdlock(&lock);
	if (same(applied, ca_file)) {
		held = true;
		return 0;
	}
	pthread_rwlock_unlock(&lock);
	pthread_rwlock_wrlock(&lock);
	int rc = same(applied, ca_file) ? 0 : apply(ca_file, tmp_dir, err);
	if (rc) {
		pthread_rwlock_unlock(&lock);
		return rc;
	}
	/* kept exclusively for this fetch: a reader in between could change the set again */
	held = true;
	return 0;
}

void source_tls_end(void)
{
	if (!held)
		return;
	held = false;
	pthread_rwlock_unlock(&lock);
}

void source_tls_reset(void)
{
	pthread_once(&once, init_lock);
	pthread_rwlock_wrlock(&lock);
	free(applied);
	applied = NULL;
	pthread_rwlock_unlock(&lock);
}
