/* File-system helpers of source/. See source_fs.h. */
#include "source/source_fs.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int source_mkdirs(const char *path, mode_t mode, char **why)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	/* each prefix that ends before a '/', then the whole path */
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		char save = *s;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			*why = xasprintf("cannot create %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = save;
		if (last)
			break;
	}
	struct stat st;
	if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*why = xasprintf("cannot create %s: %s", p, errno ? strerror(errno) : "not a directory");
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = type == FTW_DP ? rmdir(path) : unlink(path);
	return rc != 0 && errno != ENOENT ? -1 : 0;
}

int source_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	/* FTW_PHYS: a symlink is removed, never followed; FTW_DEPTH: contents before their directory */
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *source_mkdtemp(const char *parent, const char *prefix, char **why)
{
	char *t = xasprintf("%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(t)) {
		*why = xasprintf("cannot create a temporary directory in %s: %s", parent, strerror(errno));
		free(t);
		return NULL;
	}
	return t;
}

int source_write_file(const char *path, const void *data, size_t n, mode_t mode, char **why)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		*why = xasprintf("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*why = xasprintf("cannot write %s: %s", path, w < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	/* mode is applied exactly, whatever the umask (an executable stays executable) */
	if (fchmod(fd, mode) != 0) {
		*why = xasprintf("cannot set the mode of %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) != 0) {
		*why = xasprintf("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
