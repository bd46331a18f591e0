/* libFuzzer target: the cluster autoscaler on arbitrary live state. The input is one JSON
 * document {"set": a scale set (sku.capacity, tags), "vms": its VM list, "nodes": GET /nodes,
 * "tasks": GET /tasks, "load": node id -> {cpus, known}}, any part missing or of any type, as
 * the engine and ARM could answer (controller/providers/vmss/vmss_autoscale.c, which builds the
 * input, and controller/autoscale/cluster.c, which decides). The first byte picks the spec's
 * min and max. Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined.
 *
 * Besides crashes, sanitizer reports, leaks and timeouts, it traps on a broken promise:
 *   - a decision up ends above the current capacity and at most max (or at min from below it);
 *   - a decision down ends below it and at least min (or at max from above it);
 *   - a hold keeps it; the victim, if any, is one of the nodes and only with down;
 *   - the explanation is a terminated string within its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "autoscale/cluster.h"
#include "providers/vmss/vmss_autoscale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	json_t *doc = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
	if (!doc)
		return 0;
	spec_scale_set ss = {.name = "workers", .capacity = -1};
	ss.swarm = (spec_scale_set_swarm){.present = true, .role = data[0] & 0x80 ? SPEC_NODE_MANAGER : SPEC_NODE_WORKER};
	int64_t min = data[0] & 7, max = min + ((data[0] >> 3) & 7);
	ss.autoscale = (spec_cluster_autoscale){.present = true,
						.min = min,
						.max = max,
						.cooldown_ns = 600000000000LL,
						.pending_for_ns = 60000000000LL,
						.cpu_below = 20,
						.idle_for_ns = 600000000000LL};
	json_t *set = json_object_get(doc, "set");
	vmss_scaling sc;
	vmss_autoscale_eval(&ss, "owner", set, json_object_get(doc, "vms"), json_object_get(doc, "nodes"),
			    json_object_get(doc, "tasks"), json_object_get(doc, "load"), 1800000000000LL, &sc);
	const cluster_decision *d = &sc.d;
	int64_t cur = sc.in.current;
	if (memchr(d->reason, 0, sizeof(d->reason)) == NULL)
		__builtin_trap();
	switch (d->direction) {
	case AUTOSCALE_UP:
		if (!(d->capacity > cur && (d->capacity <= max || d->capacity == min)))
			__builtin_trap();
		break;
	case AUTOSCALE_DOWN:
		if (!(d->capacity < cur && (d->capacity >= min || d->capacity == max)))
			__builtin_trap();
		break;
	default:
		if (d->capacity != cur || d->victim >= 0)
			__builtin_trap();
	}
	if (d->victim >= (long)sc.in.n_nodes || d->victim < -1)
		__builtin_trap();
	vmss_scaling_free(&sc);
	json_decref(doc);
	return 0;
}
