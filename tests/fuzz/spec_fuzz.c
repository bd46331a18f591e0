/* libFuzzer target: berth's spec loader on arbitrary bytes.
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined from the sources
 * in spec/.
 * Any crash, sanitizer report, leak or timeout is a bug in the loader: it must reject bad input
 * with diagnostics, in bounded time and memory. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Secret references are not resolved: the fuzzer must not depend on the environment. */
	spec_options opts = {.skip_secret_refs = true};
	spec_diags *diags = spec_diags_new();
	spec *s = spec_load_buffer((const char *)data, size, "fuzz.yaml", &opts, diags);
	if (s) {
		/* A loaded spec has no errors, and its model is readable. */
		const struct spec_model *m = spec_model(s);
		if (spec_diags_errors(diags) || !m->name)
			__builtin_trap();
		for (size_t i = 0; i < m->swarm.n_services; i++)
			if (!m->swarm.services[i].name || !m->swarm.services[i].image)
				__builtin_trap();
	} else if (!spec_diags_errors(diags)) {
		/* A rejected spec says why. */
		__builtin_trap();
	}
	/* Every diagnostic is a readable string with a file name. */
	size_t total = 0;
	for (size_t i = 0; i < spec_diags_count(diags); i++) {
		const spec_diag *d = spec_diags_get(diags, i);
		total += strlen(d->file) + strlen(d->message);
	}
	(void)total;
	spec_free(s);
	spec_diags_free(diags);
	return 0;
}
