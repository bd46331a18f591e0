/* The directory source: the spec PATH on disk, as `berth plan PATH` has always read it. Its
 * revision is "dir:sha256:<digest>" over the files spec_load(PATH) reads (spec_list_files), each
 * as its name relative to PATH and its content (length-prefixed fields, so that no two different
 * sets of files digest alike); so the revision changes exactly when what would be loaded does.
 * The files are read twice (here and by spec_load): a directory can change in between, which is
 * why a git checkout, not a directory, is what `berth run` should watch. */
#include "source/source_internal.h"
#include "core/digest.h"
#include "core/util.h"
#include "spec/spec.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* spec_load's own limit for one file (spec/load.c) */
#define DIR_FILE_MAX (256u * 1024 * 1024)

int source_dir_fetch(berth_source *s, berth_revision *out, berth_error *err)
{
	char real[PATH_MAX];
	if (!realpath(s->path, real)) {
		int e = errno;
		return berth_error_set(err, e == ENOENT || e == ENOTDIR ? BERTH_ENOTFOUND : BERTH_EFAILED,
				       "spec path %s: %s", s->path, strerror(e));
	}
	struct stat st;
	if (stat(real, &st) != 0)
		return berth_error_set(err, BERTH_EFAILED, "spec path %s: %s", s->path, strerror(errno));
	char **files = NULL;
	size_t n = 0;
	if (spec_list_files(real, &files, &n) != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot list the spec files of %s: %s", s->path, strerror(errno));
	size_t rlen = strlen(real);
	berth_sha256 *h = berth_sha256_new();
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *f = files[i];
		/* a file PATH is its own base name; a directory's files are named below it */
		const char *name;
		if (!S_ISDIR(st.st_mode)) {
			const char *slash = strrchr(f, '/');
			name = slash ? slash + 1 : f;
		} else {
			name = !strncmp(f, real, rlen) && f[rlen] == '/' ? f + rlen + 1 : f;
		}
		size_t len = 0;
		char *buf = rc ? NULL : spec_read_file(f, DIR_FILE_MAX, &len);
		if (!rc && !buf)
			rc = berth_error_set(err, BERTH_EFAILED, "cannot read %s: %s", f, strerror(errno));
		if (!rc) {
			berth_sha256_field(h, name, strlen(name));
			berth_sha256_field(h, buf, len);
		}
		free(buf);
		free(files[i]);
	}
	free(files);
	char hex[BERTH_SHA256_HEX];
	berth_sha256_final_hex(h, hex);
	if (rc)
		return rc;
	out->revision = xasprintf("dir:sha256:%s", hex);
	out->spec_path = xstrdup(real);
	return 0;
}
