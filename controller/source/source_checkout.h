/* Checkouts: one directory per commit, cache_dir/checkouts/<sha>, holding exactly that commit's
 * tree (blobs written byte for byte, no filters, no .git), made in a temporary directory and
 * renamed into place, so that a checkout either is complete or is not there; once there it is
 * never written again. The few most recently used are kept and older ones pruned. */
#ifndef BERTH_SOURCE_CHECKOUT_H
#define BERTH_SOURCE_CHECKOUT_H
#include <git2.h>

#include "core/error.h"

/* How many checkouts are kept: the one in use, and a few before it for a reader still on them. */
#define SOURCE_CHECKOUTS_KEPT 5

/* The checkout of commit (sha, its hex id) in dir checkouts, made if it is not there; *out is its
 * path (malloc'd). 0, or EINVALID (a tree entry that cannot be written safely: a name such as
 * "..", a symlink out of the tree) / EFAILED (the file system). */
int source_checkout(git_repository *repo, const git_commit *commit, const char *sha, const char *checkouts,
		    char **out, berth_error *err);

/* Removes all checkouts but the `keep` most recently used and current, and leftovers of
 * interrupted ones. Failures are ignored: pruning is housekeeping, the next fetch tries again. */
void source_checkout_prune(const char *checkouts, const char *current, int keep);

#endif
