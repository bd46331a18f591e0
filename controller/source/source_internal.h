/* What the files of source/ share and nothing outside it uses: the berth_source object (the
 * configuration, copied, and what berth_source_open worked out from it) and the entry points of
 * the two kinds, a directory (source_dir.c) and a git repository (source_git.c). source.c checks
 * the configuration and dispatches. */
#ifndef BERTH_SOURCE_INTERNAL_H
#define BERTH_SOURCE_INTERNAL_H
#include <stdbool.h>

#include "source/source.h"
#include "source/source_url.h"
#include "source/source_verify.h"

typedef enum source_ref_kind {
	SOURCE_REF_NAME, /* a branch or tag name: refs/heads/NAME or refs/tags/NAME, whichever exists */
	SOURCE_REF_FULL, /* refs/...: exactly that ref */
	SOURCE_REF_SHA,  /* a full commit id */
} source_ref_kind;

struct berth_source {
	bool git;
	bool libgit2_ref;  /* holds a git_libgit2_init reference (released by source_git_close) */
	/* every string is a copy; NULL where the configuration had none */
	char *path;        /* dir: the spec PATH as given ("." by default); git: the path inside the
			    * repository, normalised ("" for its root, no "./", "..", or "//") */
	berth_cancel *cancel;
	/* git only */
	source_url url;
	char *ref;         /* as configured ("main" by default) */
	source_ref_kind ref_kind;
	char *sha;         /* SOURCE_REF_SHA: the id, lower case */
	char *cache_dir;   /* absolute */
	char *username;
	char *password;    /* wiped when freed */
	char *ssh_key;
	char *known_hosts; /* absolute: the configured one or ~/.ssh/known_hosts */
	char *ca_file;
	char *verify_keys; /* absolute */
	source_keys_kind verify_kind;
};

/* source_git.c: called by berth_source_open for a repo once the common fields are set; checks
 * the URL, the ref and the files it names, and takes a libgit2 reference (released by
 * source_git_close). */
int source_git_open(berth_source *s, const berth_source_config *cfg, berth_error *err);
void source_git_close(berth_source *s);
int source_git_fetch(berth_source *s, berth_revision *out, berth_error *err);

/* source_dir.c */
int source_dir_fetch(berth_source *s, berth_revision *out, berth_error *err);

#endif
