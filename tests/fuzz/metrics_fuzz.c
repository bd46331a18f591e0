/* libFuzzer target: what autoscaling reads from the network, on arbitrary bytes: a Prometheus
 * query API answer (controller/providers/swarm/swarm_prom.c, swarm_prom_total) when the first
 * byte is even, a Docker container stats answer (providers/common/engine_stats.c, engine_stats_usage) when it is
 * odd; the rest is the body. Built by tests/fuzz/run.sh with clang
 * -fsanitize=fuzzer,address,undefined from those sources; what they call from build/libberth.a.
 *
 * Besides crashes, sanitizer reports, leaks and timeouts, it traps on a broken promise:
 *   - a Prometheus total is finite and comes with no error; a failure always has an error;
 *   - container usage is finite and not negative, and the autoscale decision made from it (and
 *     from the Prometheus total) stays within [min, max]. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "autoscale/autoscale.h"
#include "providers/common/engine_stats.h"
#include "providers/swarm/swarm.h"
#include "providers/swarm/swarm_prom.h"

static void decide_within(double value, bool is_total)
{
	autoscale_sample s = {.ready = true, .has_value = true, .value = value};
	autoscale_metric m = {.name = "m", .target = 50, .samples = &s, .n_samples = 1, .is_total = is_total,
			      .total_ok = true, .total = value};
	autoscale_input in = {.current = 3, .min = 2, .max = 7, .tolerance = 0.1, .cooldown_ns = 0, .last_at_ns = -1,
			      .now_ns = 0, .metrics = &m, .n_metrics = 1};
	autoscale_decision d;
	autoscale_decide(&in, &d);
	if (d.replicas < 2 || d.replicas > 7)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *body = malloc(size);
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	if (!(data[0] & 1)) {
		double total = 0;
		char *err = NULL;
		bool ok = swarm_prom_total(body, &total, &err);
		if (ok && (err || !isfinite(total)))
			__builtin_trap();
		if (!ok && !err)
			__builtin_trap();
		if (ok)
			decide_within(total, true);
		free(err);
	} else {
		json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
		if (j) {
			double cpus = -1, mem = -1;
			bool has_mem = false;
			bool ok = engine_stats_usage(j, &cpus, &mem, &has_mem);
			if (!isfinite(cpus) || cpus < 0 || !isfinite(mem) || mem < 0)
				__builtin_trap();
			if (ok)
				decide_within(cpus * 100, false);
			json_decref(j);
		}
	}
	free(body);
	return 0;
}
