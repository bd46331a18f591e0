/* What autoscaling reads at observe time: the CPU and memory of each running task of an
 * autoscaled service, from the container stats of the engine of the task's node
 * (GET /containers/{id}/stats?stream=false: one call per running task, whatever the number of
 * services), and the Prometheus sources' totals (swarm_prom.c). The engine of a node is the one
 * berth talks to for its own node ("local", the default: a manager's engine serves only its own
 * containers' stats), or the node's tcp:// endpoint from swarm.engines (with swarm.tls). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "providers/swarm/swarm.h"
#include "providers/common/engine_stats.h"
#include "providers/swarm/swarm_prom.h"

static void add_usage(swarm_state *st, size_t *cap, swarm_usage u)
{
	if (st->n_usage == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		st->usage = xrealloc(st->usage, *cap * sizeof(*st->usage));
	}
	st->usage[st->n_usage++] = u;
}

/* Queues a stats read for each running task of svc; reads[i] is usage i's read (-1: none). */
static void task_usage(swarm_state *st, size_t *cap, engine_stats *es, const swarm_object *svc, long **reads,
		       size_t *reads_cap)
{
	size_t i;
	json_t *t;
	json_array_foreach(st->tasks, i, t) {
		const char *sid = json_string_value(json_object_get(t, "ServiceID"));
		const char *desired = json_string_value(json_object_get(t, "DesiredState"));
		if (!sid || strcmp(sid, svc->id) || !desired || strcmp(desired, "running"))
			continue;
		json_t *status = json_object_get(t, "Status");
		const char *state = json_string_value(json_object_get(status, "State"));
		const char *cid =
			json_string_value(json_object_get(json_object_get(status, "ContainerStatus"), "ContainerID"));
		swarm_usage u = {.service_id = xstrdup(svc->id)};
		long k = -1;
		if (state && !strcmp(state, "running") && cid) {
			u.running = u.ready = true;
			k = engine_stats_add(es, json_string_value(json_object_get(t, "NodeID")), cid);
		}
		if (st->n_usage >= *reads_cap) {
			*reads_cap = *reads_cap ? 2 * *reads_cap : 16;
			*reads = xrealloc(*reads, *reads_cap * sizeof(**reads));
		}
		(*reads)[st->n_usage] = k;
		add_usage(st, cap, u);
	}
}

void swarm_observe_usage(docker *d, const struct spec_model *m, swarm_state *st)
{
	const spec_swarm *sw = &m->swarm;
	bool any_stats = false;
	for (size_t i = 0; i < sw->n_services; i++) {
		const spec_autoscale *a = &sw->services[i].deploy.autoscale;
		any_stats |= a->present && (a->cpu_percent > 0 || a->memory_percent > 0);
	}
	if (any_stats && st->tasks) {
		engine_stats *es = engine_stats_open(d, sw);
		size_t cap = 0, reads_cap = 0;
		long *reads = NULL;
		for (size_t i = 0; i < sw->n_services; i++) {
			const spec_service *s = &sw->services[i];
			const swarm_object *obs = swarm_find(st, SWARM_SERVICE, s->name);
			if (obs && s->deploy.autoscale.present &&
			    (s->deploy.autoscale.cpu_percent > 0 || s->deploy.autoscale.memory_percent > 0))
				task_usage(st, &cap, es, obs, &reads, &reads_cap);
		}
		engine_stats_run(es);
		for (size_t k = 0; k < st->n_usage; k++) {
			json_t *answer = engine_stats_answer(es, reads[k]);
			swarm_usage *u = &st->usage[k];
			if (answer) {
				u->has_value = true;
				/* Running, but no previous reading yet: a task that is starting. */
				u->ready = engine_stats_usage(answer, &u->cpus, &u->memory, &u->has_memory);
			}
		}
		st->usage_requests += engine_stats_requests(es);
		free(reads);
		engine_stats_free(es);
	}
	swarm_prom_observe(m, st);
}
