/* The file-system chores of source/: directories made with their parents, trees removed without
 * following symlinks, private temporary directories, files written whole. Every failure comes
 * back as a message naming the path and errno's text. */
#ifndef BERTH_SOURCE_FS_H
#define BERTH_SOURCE_FS_H
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p with mode for what it creates. 0, or -1 with *why. */
int source_mkdirs(const char *path, mode_t mode, char **why);
/* rm -rf path, never following a symlink out of it. 0, or -1 with errno set (a missing path is 0). */
int source_remove_tree(const char *path);
/* A new directory parent/PREFIXXXXXXX (mode 0700), its path malloc'd; NULL with *why. */
char *source_mkdtemp(const char *parent, const char *prefix, char **why);
/* Creates path (which must not exist) with exactly data, mode. 0, or -1 with *why. */
int source_write_file(const char *path, const void *data, size_t n, mode_t mode, char **why);

#endif
