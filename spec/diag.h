/* Diagnostics: problems found in a spec, each with a source position. */
#ifndef BERTH_DIAG_H
#define BERTH_DIAG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { SPEC_DIAG_ERROR, SPEC_DIAG_WARNING } spec_diag_level;

typedef struct spec_diag {
	spec_diag_level level;
	const char *file; /* owned by the list */
	int line, col;    /* 1-based; 0 when the problem has no position */
	const char *message;
} spec_diag;

typedef struct spec_diags spec_diags;

spec_diags *spec_diags_new(void);
void spec_diags_free(spec_diags *d);
void spec_diags_add(spec_diags *d, spec_diag_level level, const char *file, int line, int col,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Sort by file, line, column; identical entries are dropped. */
void spec_diags_sort(spec_diags *d);
size_t spec_diags_count(const spec_diags *d);
/* True once no more problems are kept (they are still counted): callers can skip formatting. */
bool spec_diags_full(const spec_diags *d);
/* Counts a problem without keeping it. */
void spec_diags_drop(spec_diags *d, spec_diag_level level);
size_t spec_diags_errors(const spec_diags *d);
const spec_diag *spec_diags_get(const spec_diags *d, size_t i);
/* Prints "FILE:LINE:COL: error: MESSAGE" lines. */
void spec_diags_print(const spec_diags *d, FILE *out);

#endif
