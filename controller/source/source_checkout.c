/* Writing a commit's tree into a checkout directory, and pruning old ones. See source_checkout.h. */
#include "source/source_checkout.h"
#include "source/source_fs.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Leftovers of an interrupted checkout or prune older than this are removed: a live one is
 * younger (a checkout takes seconds). */
#define STALE_TEMP_SECONDS 3600

/* A tree entry name that is safe as one path component: git's own fsck rejects the rest, but a
 * hostile server's pack is not fsck'd by libgit2. */
static bool safe_name(const char *n)
{
	return n[0] && strcmp(n, ".") && strcmp(n, "..") && !strchr(n, '/');
}

/* Does a symlink at depth `depth` (0: the tree's root) with this target stay inside the tree? */
static bool link_inside(const char *target, int depth)
{
	if (!target[0] || target[0] == '/')
		return false;
	int d = depth;
	for (const char *p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2)) {
			if (--d < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			d++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown error";
}

/* Writes tree into dir (which exists); rel is its path in the commit, for messages. */
static int write_tree(git_repository *repo, const git_tree *tree, const char *dir, const char *rel, int depth,
		      berth_error *err)
{
	size_t n = git_tree_entrycount(tree);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		char *erel = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		if (!safe_name(name)) {
			berth_error_set(err, BERTH_EINVALID, "the commit has a tree entry named '%s' in '%s', which cannot be checked out",
					name, *rel ? rel : "/");
			free(erel);
			return BERTH_EINVALID;
		}
		char *path = xasprintf("%s/%s", dir, name);
		int rc = 0;
		git_filemode_t mode = git_tree_entry_filemode(e);
		git_object *obj = NULL;
		char *why = NULL;
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (mkdir(path, 0755) != 0) {
				rc = berth_error_set(err, BERTH_EFAILED, "cannot create %s: %s", path, strerror(errno));
				break;
			}
			if (git_tree_entry_to_object(&obj, repo, e) != 0) {
				rc = berth_error_set(err, BERTH_EFAILED, "cannot read tree %s: %s", erel, git_msg());
				break;
			}
			rc = write_tree(repo, (const git_tree *)obj, path, erel, depth + 1, err);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK: {
			if (git_tree_entry_to_object(&obj, repo, e) != 0) {
				rc = berth_error_set(err, BERTH_EFAILED, "cannot read %s: %s", erel, git_msg());
				break;
			}
			const git_blob *b = (const git_blob *)obj;
			const void *data = git_blob_rawcontent(b);
			size_t len = (size_t)git_blob_rawsize(b);
			if (mode != GIT_FILEMODE_LINK) {
				if (source_write_file(path, data, len, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644, &why))
					rc = berth_error_take(err, BERTH_EFAILED, why);
				break;
			}
			/* a symlink is kept only while it points inside the checkout: one to /etc/... would
			 * make berth read a file of this machine as if the commit held it */
			char *target = xstrndup(data, len);
			if (strlen(target) != len || !link_inside(target, depth))
				rc = berth_error_set(err, BERTH_EINVALID, "%s is a symlink that points outside the repository", erel);
			else if (symlink(target, path) != 0)
				rc = berth_error_set(err, BERTH_EFAILED, "cannot create the symlink %s: %s", path, strerror(errno));
			free(target);
			break;
		}
		case GIT_FILEMODE_COMMIT:
			/* a submodule: an empty directory, as git leaves one it has not initialised */
			if (mkdir(path, 0755) != 0)
				rc = berth_error_set(err, BERTH_EFAILED, "cannot create %s: %s", path, strerror(errno));
			break;
		default:
			rc = berth_error_set(err, BERTH_EINVALID, "tree entry %s has an unknown mode %o", erel, (unsigned)mode);
		}
		git_object_free(obj);
		free(path);
		free(erel);
		if (rc)
			return rc;
	}
	return 0;
}

int source_checkout(git_repository *repo, const git_commit *commit, const char *sha, const char *checkouts,
		    char **out, berth_error *err)
{
	*out = NULL;
	char *final = xasprintf("%s/%s", checkouts, sha);
	struct stat st;
	if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* there, so complete (only a rename puts it there); its mtime says it is in use */
		if (utimensat(AT_FDCWD, final, NULL, 0) != 0) {
			int e = errno;
			free(final);
			return berth_error_set(err, BERTH_EFAILED, "cannot touch %s/%s: %s", checkouts, sha, strerror(e));
		}
		*out = final;
		return 0;
	}
	char *why = NULL;
	char *prefix = xasprintf(".tmp-%s-", sha);
	char *tmp = source_mkdtemp(checkouts, prefix, &why);
	free(prefix);
	if (!tmp) {
		free(final);
		return berth_error_take(err, BERTH_EFAILED, why);
	}
	/* mkdtemp's 0700 would keep the spec from anyone but berth's user: a checkout is as readable
	 * as a clone */
	int rc = 0;
	if (chmod(tmp, 0755) != 0)
		rc = berth_error_set(err, BERTH_EFAILED, "cannot chmod %s: %s", tmp, strerror(errno));
	git_tree *tree = NULL;
	if (!rc && git_commit_tree(&tree, commit) != 0)
		rc = berth_error_set(err, BERTH_EFAILED, "cannot read the tree of commit %s: %s", sha, git_msg());
	if (!rc)
		rc = write_tree(repo, tree, tmp, "", 0, err);
	git_tree_free(tree);
	if (!rc && rename(tmp, final) != 0) {
		if (errno == ENOTEMPTY || errno == EEXIST) {
			/* another fetch of the same commit won the race: its checkout is as good */
			rc = 0;
		} else {
			rc = berth_error_set(err, BERTH_EFAILED, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		}
	}
	/* a no-op after the rename, else what remains of ours */
	if (source_remove_tree(tmp) != 0 && !rc)
		rc = berth_error_set(err, BERTH_EFAILED, "cannot remove %s: %s", tmp, strerror(errno));
	free(tmp);
	if (rc) {
		free(final);
		return rc;
	}
	*out = final;
	return 0;
}

typedef struct entry {
	char *name;
	struct timespec mtime;
} entry;

static int newest_first(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return strcmp(x->name, y->name);
}

static bool is_hex_name(const char *s)
{
	size_t n = strlen(s);
	if (n != 40 && n != 64)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

void source_checkout_prune(const char *checkouts, const char *current, int keep)
{
	DIR *d = opendir(checkouts);
	if (!d)
		return;
	entry *list = NULL;
	size_t n = 0, cap = 0;
	time_t now = time(NULL);
	const char *cur = strrchr(current, '/');
	cur = cur ? cur + 1 : current;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		char *p = xasprintf("%s/%s", checkouts, de->d_name);
		if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			free(p);
			continue;
		}
		if (!strncmp(de->d_name, ".tmp-", 5) || !strncmp(de->d_name, ".trash-", 7)) {
			if (now - st.st_mtim.tv_sec > STALE_TEMP_SECONDS)
				source_remove_tree(p);
		} else if (is_hex_name(de->d_name) && strcmp(de->d_name, cur) != 0) {
			if (n == cap)
				list = xrealloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*list));
			list[n].name = xstrdup(de->d_name);
			list[n++].mtime = st.st_mtim;
		}
		free(p);
	}
	closedir(d);
	if (n)
		qsort(list, n, sizeof(*list), newest_first);
	/* current is one of the kept */
	for (size_t i = 0; i < n; i++) {
		if ((int)i + 1 >= keep) {
			/* renamed away first, so that a half-removed checkout is never taken for a whole one */
			char *from = xasprintf("%s/%s", checkouts, list[i].name);
			char *to = xasprintf("%s/.trash-%s-%ld", checkouts, list[i].name, (long)getpid());
			if (rename(from, to) == 0)
				source_remove_tree(to);
			free(from);
			free(to);
		}
		free(list[i].name);
	}
	free(list);
}
