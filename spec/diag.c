#include "diag.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Past this many, problems are counted but not kept: a broken document (or one whose aliases
 * repeat an error thousands of times) must not make berth slow or its output unreadable. */
#define DIAGS_MAX 1000

struct spec_diags {
	arena *mem;
	spec_diag *items;
	size_t n, cap, errors, dropped;
};

spec_diags *spec_diags_new(void)
{
	spec_diags *d = xcalloc(1, sizeof(*d));
	if (!d)
		abort();
	d->mem = arena_new();
	return d;
}

void spec_diags_free(spec_diags *d)
{
	if (!d)
		return;
	arena_free(d->mem);
	free(d->items);
	free(d);
}

void spec_diags_add(spec_diags *d, spec_diag_level level, const char *file, int line, int col,
		    const char *fmt, ...)
{
	if (d->n >= DIAGS_MAX) {
		d->dropped++;
		if (level == SPEC_DIAG_ERROR)
			d->errors++;
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		spec_diag *items = xrealloc(d->items, d->cap * sizeof(*items));
		if (!items)
			abort();
		d->items = items;
	}
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *msg = arena_alloc(d->mem, (size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)len + 1, fmt, ap);
	va_end(ap);
	spec_diag *g = &d->items[d->n++];
	g->level = level;
	g->file = arena_strdup(d->mem, file ? file : "");
	g->line = line;
	g->col = col;
	g->message = msg;
	if (level == SPEC_DIAG_ERROR)
		d->errors++;
}

static int diag_cmp(const void *pa, const void *pb)
{
	const spec_diag *a = pa, *b = pb;
	int c = strcmp(a->file, b->file);
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	return strcmp(a->message, b->message);
}

void spec_diags_sort(spec_diags *d)
{
	if (d->n < 2)
		return;
	qsort(d->items, d->n, sizeof(*d->items), diag_cmp);
	size_t w = 1;
	for (size_t r = 1; r < d->n; r++) {
		if (diag_cmp(&d->items[r], &d->items[w - 1]) == 0) {
			if (d->items[r].level == SPEC_DIAG_ERROR)
				d->errors--;
			continue;
		}
		d->items[w++] = d->items[r];
	}
	d->n = w;
}

size_t spec_diags_count(const spec_diags *d) { return d->n; }
bool spec_diags_full(const spec_diags *d) { return d->n >= DIAGS_MAX; }

void spec_diags_drop(spec_diags *d, spec_diag_level level)
{
	d->dropped++;
	if (level == SPEC_DIAG_ERROR)
		d->errors++;
}
size_t spec_diags_errors(const spec_diags *d) { return d->errors; }

const spec_diag *spec_diags_get(const spec_diags *d, size_t i)
{
	return i < d->n ? &d->items[i] : NULL;
}

void spec_diags_print(const spec_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const spec_diag *g = &d->items[i];
		const char *lvl = g->level == SPEC_DIAG_ERROR ? "error" : "warning";
		if (g->line > 0)
			fprintf(out, "%s:%d:%d: %s: %s\n", g->file, g->line, g->col, lvl, g->message);
		else
			fprintf(out, "%s: %s: %s\n", g->file, lvl, g->message);
	}
	if (d->dropped)
		fprintf(out, "berth: %zu more problems not shown\n", d->dropped);
}
