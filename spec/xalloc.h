/* The one allocation policy of berth: out of memory aborts (as git's and Redis's xmalloc do), so
 * no caller checks for NULL and no error path exists that nothing ever tests. It lives in the
 * lowest layer so that spec/ and every layer of controller/ share it. */
#ifndef BERTH_XALLOC_H
#define BERTH_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL becomes "" */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
