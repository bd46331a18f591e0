/* Small helpers every controller file uses: allocation that aborts on out-of-memory (like
 * xmalloc), and the one way errors are handed back (a malloc'd string the caller frees). */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "spec/xalloc.h"
/* Hands msg to *err, or frees it when the caller passed no err. */
void set_err(char **err, char *msg);
bool nonempty(const char *s);

/* The value of an ASCII hex digit (either case), or -1: protocol bytes, whatever the locale. */
int hex_digit(int c);
/* s[0..n) %-decoded (malloc'd). NULL, with *why saying which part (what) but never its value
 * (it may be a secret), on a malformed escape or a control character, which could end up in a
 * header, a command line or a message. Rejected input is wiped before it is freed. */
char *pct_decode(const char *s, size_t n, const char *what, char **why);

/* Every problem a planner finds, one per line, so that one run reports them all. */
typedef struct problems {
	char *text;
	size_t len;
	FILE *f;
	int count;
} problems;

void problems_init(problems *pr);
void problem(problems *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the list: the text when there were problems (caller frees), else NULL. */
char *problems_finish(problems *pr);
/* Ends the list into *err: 0 without problems, else BERTH_EPLAN with one problem per line. */
#include "core/error.h"
int problems_to_error(problems *pr, berth_error *err);

/* "2026-11-24T09:42:16.731463323Z" (RFC 3339, as the Docker engine writes times) -> ms since
 * the epoch; 0 when absent, unreadable or Go's zero time. */
long long berth_rfc3339_ms(const char *s);

#endif
