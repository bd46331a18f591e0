/* Autoscaled services in the swarm diff, pure: the decision from what observe read (the tasks'
 * usage as a percentage of their reservation, else their limit; a Prometheus total), the
 * service's replicas and its last decision (the berth.autoscale.* labels), at the observation's
 * time; and the decision written into the desired ServiceSpec. Because the desired replicas are
 * the decision, applying the spec never undoes the autoscaler, and because the last change is
 * on the service, a restarted berth carries on where it was. */
#include <stdlib.h>
#include <string.h>

#include "autoscale/autoscale.h"
#include "core/util.h"
#include "providers/swarm/swarm.h"

static long long replicas_of(const swarm_object *obs)
{
	json_t *r = json_object_get(json_object_get(json_object_get(obs->spec, "Mode"), "Replicated"), "Replicas");
	return json_is_integer(r) ? (long long)json_integer_value(r) : 1;
}

static const char *label_of(const swarm_object *obs, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obs->spec, "Labels"), key));
}

static const swarm_query *query_of(const swarm_state *st, const char *service)
{
	for (size_t i = 0; i < st->n_queries; i++)
		if (!strcmp(st->queries[i].service, service))
			return &st->queries[i];
	return NULL;
}

static double base(int64_t reserved, int64_t limit)
{
	return (double)(reserved > 0 ? reserved : limit);
}

void swarm_autoscale_decide(const spec_service *s, const swarm_state *st, const swarm_object *obs,
			    autoscale_decision *out)
{
	const spec_autoscale *a = &s->deploy.autoscale;
	const spec_deploy *d = &s->deploy;
	size_t n = 0;
	for (size_t i = 0; i < st->n_usage; i++)
		n += !strcmp(st->usage[i].service_id, obs->id);
	autoscale_sample *cpu = xcalloc(n + 1, sizeof(*cpu)), *mem = xcalloc(n + 1, sizeof(*mem));
	double cpu_base = base(d->reserve_nano_cpus, d->limit_nano_cpus) / 1e9;
	double mem_base = base(d->reserve_memory, d->limit_memory);
	size_t k = 0;
	for (size_t i = 0; i < st->n_usage; i++) {
		const swarm_usage *u = &st->usage[i];
		if (strcmp(u->service_id, obs->id))
			continue;
		cpu[k] = (autoscale_sample){.ready = u->ready, .has_value = u->has_value,
					    .value = cpu_base > 0 ? u->cpus / cpu_base * 100 : 0};
		/* Memory needs no previous reading: a task counts as soon as it runs. */
		mem[k] = (autoscale_sample){.ready = u->running, .has_value = u->has_memory,
					    .value = mem_base > 0 ? u->memory / mem_base * 100 : 0};
		k++;
	}
	autoscale_metric metrics[3];
	size_t nm = 0;
	char *prom_name = NULL;
	if (a->cpu_percent > 0)
		metrics[nm++] = (autoscale_metric){.name = "cpu", .target = (double)a->cpu_percent, .samples = cpu, .n_samples = n};
	if (a->memory_percent > 0)
		metrics[nm++] =
			(autoscale_metric){.name = "memory", .target = (double)a->memory_percent, .samples = mem, .n_samples = n};
	if (a->prometheus) {
		const swarm_query *q = query_of(st, s->name);
		bool ok = q && q->ok;
		if (!ok)
			prom_name = xasprintf("prometheus (%s)", q && q->error ? q->error : "not queried");
		metrics[nm++] = (autoscale_metric){.name = prom_name ? prom_name : "prometheus", .target = a->target,
						   .is_total = true, .total_ok = ok, .total = ok ? q->total : 0};
	}
	const char *at = label_of(obs, AUTOSCALE_LABEL_AT);
	char *end = NULL;
	long long at_s = at ? strtoll(at, &end, 10) : -1;
	if (at && (end == at || *end))
		at_s = -1; /* unreadable: as if none were recorded */
	autoscale_input in = {
		.current = replicas_of(obs),
		.min = a->min,
		.max = a->max,
		.tolerance = a->tolerance,
		.cooldown_ns = a->cooldown_ns,
		.last_at_ns = at_s >= 0 ? at_s * 1000000000LL : -1,
		.now_ns = st->observed_ms * 1000000LL,
		.metrics = metrics,
		.n_metrics = nm,
	};
	autoscale_decide(&in, out);
	free(prom_name);
	free(cpu);
	free(mem);
}

void swarm_autoscale_apply(json_t *desired, const swarm_object *obs, const autoscale_decision *d, long long now_ms)
{
	json_object_set_new(desired, "Mode",
			    json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)d->replicas));
	json_t *labels = json_object_get(desired, "Labels");
	if (!labels) {
		labels = json_object();
		json_object_set_new(desired, "Labels", labels);
	}
	static const char *const keys[] = {AUTOSCALE_LABEL_REPLICAS, AUTOSCALE_LABEL_AT, AUTOSCALE_LABEL_REASON};
	if (d->replicas != replicas_of(obs)) {
		char n[32], at[32];
		snprintf(n, sizeof(n), "%lld", (long long)d->replicas);
		snprintf(at, sizeof(at), "%lld", now_ms / 1000);
		json_object_set_new(labels, keys[0], json_string(n));
		json_object_set_new(labels, keys[1], json_string(at));
		json_object_set_new(labels, keys[2], json_string(d->reason));
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		const char *v = label_of(obs, keys[i]);
		if (v)
			json_object_set_new(labels, keys[i], json_string(v));
	}
}

char *swarm_autoscale_status(const struct spec_model *m, const swarm_state *st)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < m->swarm.n_services; i++) {
		const spec_service *s = &m->swarm.services[i];
		const swarm_object *obs = s->deploy.autoscale.present ? swarm_find(st, SWARM_SERVICE, s->name) : NULL;
		if (!obs)
			continue;
		autoscale_decision d;
		swarm_autoscale_decide(s, st, obs, &d);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:s,s:s}", "kind", "autoscale", "service", s->name,
						     "current", (json_int_t)replicas_of(obs), "replicas",
						     (json_int_t)d.replicas, "direction",
						     autoscale_direction_name(d.direction), "reason", d.reason));
	}
	char *text = json_array_size(arr) ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return text;
}
