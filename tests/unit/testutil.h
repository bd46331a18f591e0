/* Helpers shared by the cmocka unit tests. */
#ifndef BERTH_TESTUTIL_H
#define BERTH_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

/* Loads a spec from a string; the diagnostics are printed into *text (caller frees). */
static inline spec *load_text(const char *yaml, char **text)
{
	spec_diags *d = spec_diags_new();
	spec_options o = {0};
	spec *s = spec_load_buffer(yaml, strlen(yaml), "t.yaml", &o, d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spec_diags_print(d, f);
	fclose(f);
	spec_diags_free(d);
	if (text)
		*text = buf;
	else
		free(buf);
	return s;
}

/* Asserts that yaml is rejected with exactly the diagnostics in expected. */
static inline void assert_diags(const char *yaml, const char *expected)
{
	char *text;
	spec *s = load_text(yaml, &text);
	if (strcmp(text, expected) != 0)
		print_error("expected:\n%sgot:\n%s", expected, text);
	assert_string_equal(text, expected);
	assert_null(s);
	free(text);
}

#endif
