/* libFuzzer target: the saved-plan reader (controller/render/plan_file.c) on arbitrary bytes.
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined from the reader's
 * sources. Besides crashes, sanitizer reports, leaks and timeouts, it traps on a broken promise
 * of plan_file.h:
 *   - a plan that reads is recognised by the sniffer (else apply would take it for a spec), and
 *     has every field apply uses;
 *   - a refused plan says why, in at most 21 lines, each naming the input, with no control
 *     character but the newlines between lines (messages go to a terminal). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/plan_file.h"

#define NAME "fuzz.plan"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *err)
{
	if (!err || !*err)
		__builtin_trap();
	size_t lines = 0;
	for (const char *line = err; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		lines++;
		if (strncmp(line, NAME ": ", strlen(NAME) + 2))
			__builtin_trap();
	}
	if (lines > 21)
		__builtin_trap();
	for (const unsigned char *c = (const unsigned char *)err; *c; c++)
		if ((*c < 0x20 && *c != '\n') || *c >= 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int sniffed = plan_file_sniff_buffer(buf, size);
	if (sniffed != 0 && sniffed != 1)
		__builtin_trap();
	plan_file *pf = (plan_file *)&sniffed; /* must be overwritten */
	char *err = NULL;
	int rc = plan_file_read_buffer(buf, size, NAME, &pf, &err);
	if (rc == 0) {
		if (!pf || err || sniffed != 1)
			__builtin_trap();
		const char *path = plan_file_spec_path(pf), *digest = plan_file_spec_digest(pf);
		if (!path || path[0] != '/' || !digest || strlen(digest) != 71 || !plan_file_owner(pf) ||
		    !plan_file_berth_version(pf) || !plan_file_fingerprint(pf) || !json_is_array(plan_file_steps(pf)) ||
		    plan_file_step_count(pf) != json_array_size(plan_file_steps(pf)))
			__builtin_trap();
		plan_file_free(pf);
	} else {
		if (rc != -1 || pf)
			__builtin_trap();
		check_error(err);
		free(err);
	}
	return 0;
}
