/* Reading a whole file: the one implementation every part of berth uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "spec.h"
#include "xalloc.h"

char *spec_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap + 1);
	if (!buf)
		abort();
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = xrealloc(buf, cap + 1);
			if (!nb)
				abort();
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			int failed = ferror(f);
			fclose(f);
			if (failed) {
				free(buf);
				errno = EIO;
				return NULL;
			}
			break;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}
