/* Where the desired state comes from: one interface, fetch → (revision, immutable checkout), with
 * two kinds behind it — a directory on disk (PATH, as `berth plan PATH` has always read) and a git
 * repository through libgit2 (https/http smart HTTP, ssh:// and user@host:path, or a local path).
 *
 * Git: fetches are incremental into cache_dir; every fetch resolves ref (a branch, default main;
 * a tag; or a full commit SHA) to one commit and checks that commit out into a directory of its
 * own (cache_dir/checkouts/<sha>), which is never written again, so the files berth reads are
 * exactly the commit it reports. A force-pushed branch is followed (the ref moves; nothing is
 * merged). Credentials never appear in messages: URLs are shown with their userinfo removed.
 * An SSH host key is checked against known_hosts: unknown or changed is an error, never accepted.
 * With verify_keys, the commit's signature must verify (an SSH allowed-signers file, checked with
 * `ssh-keygen -Y verify`, or a GPG keyring, checked with gpgv) or the fetch fails with EAUTH and
 * the commit is not checked out. */
#ifndef BERTH_SOURCE_H
#define BERTH_SOURCE_H
#include <stdbool.h>

#include "core/clock.h"
#include "core/error.h"

typedef struct berth_source_config {
	const char *repo;        /* NULL: a directory on disk (path) */
	const char *ref;         /* NULL: "main" */
	const char *path;        /* the spec file or directory inside the repo (NULL: its root); without
				  * repo: the spec PATH on disk (NULL: ".") */
	const char *cache_dir;   /* NULL: $XDG_CACHE_HOME/berth, else ~/.cache/berth */
	const char *username;    /* HTTP basic auth / token; NULL: none */
	const char *password;    /* borrowed; never shown */
	const char *ssh_key;     /* private key file for ssh:// (NULL: ssh-agent) */
	const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
	const char *ca_file;     /* an extra CA for https */
	const char *verify_keys; /* NULL: no signature check */
	berth_cancel *cancel;    /* borrowed: a fetch in flight stops */
} berth_source_config;

typedef struct berth_revision {
	char *revision;  /* the commit SHA (40 hex); for a directory: "dir:sha256:<digest of its files>" */
	char *spec_path; /* absolute path of the spec (file or directory) to load */
	char *repo;      /* the repository as shown (no userinfo); NULL for a directory */
	char *ref;       /* as configured; NULL for a directory */
	char *signer;    /* with verify_keys: who signed (key id or principal); else NULL */
	/* git: the commit message's first line, its author's name and its time (Unix seconds), as
	 * the commit has them (escaping is the reader's); NULL / 0 for a directory */
	char *summary;
	char *author;
	long long time;
} berth_revision;

typedef struct berth_source berth_source;

/* Checks the configuration (no network). The strings are copied. */
int berth_source_open(const berth_source_config *cfg, berth_source **out, berth_error *err);
void berth_source_free(berth_source *s);
/* Fetches the ref, verifies and checks out its commit. Returns 0 with *out filled (free with
 * berth_revision_free), or a code: EAUTH (credentials refused, host key unknown or changed,
 * signature missing or bad), ENOTFOUND (no such ref or path in the commit), EUNREACHABLE,
 * ECANCELED, EINVALID. */
int berth_source_fetch(berth_source *s, berth_revision *out, berth_error *err);
void berth_revision_free(berth_revision *r);

/* url with any userinfo (user:password@) removed, for every message, log line and status (malloc'd). */
char *berth_url_redact(const char *url);

#endif
