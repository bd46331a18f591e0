/* Container stats from each node's engine (see engine_stats.h). */
#include "providers/common/engine_stats.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spec/xalloc.h"

#define STATS_TIMEOUT_MS 10000 /* the engine takes a second or two to have a previous reading */
#define STATS_PARALLEL 32      /* stats calls at once (the Docker client's handles are pooled) */

static double num_at(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* The Engine API's formula, as `docker stats` computes it: CPU % = cpu_delta /
 * system_cpu_delta x number_cpus x 100; here without the 100 (CPUs in use). Memory: usage less
 * the page cache that can be dropped (cgroup v1: total_inactive_file, v2: inactive_file). */
bool engine_stats_usage(json_t *stats, double *cpus, double *memory, bool *has_memory)
{
	json_t *cpu = json_object_get(stats, "cpu_stats"), *pre = json_object_get(stats, "precpu_stats");
	double total = num_at(json_object_get(cpu, "cpu_usage"), "total_usage");
	double pre_total = num_at(json_object_get(pre, "cpu_usage"), "total_usage");
	double system = num_at(cpu, "system_cpu_usage"), pre_system = num_at(pre, "system_cpu_usage");
	double online = num_at(cpu, "online_cpus");
	if (online <= 0)
		online = (double)json_array_size(json_object_get(json_object_get(cpu, "cpu_usage"), "percpu_usage"));
	json_t *mem = json_object_get(stats, "memory_stats");
	json_t *ms = json_object_get(mem, "stats");
	double usage = num_at(mem, "usage");
	double cache = json_object_get(ms, "total_inactive_file") ? num_at(ms, "total_inactive_file")
				: num_at(ms, "inactive_file");
	/* A negative usage or cache is no reading (no engine sends one): no memory figure. */
	*has_memory = json_object_get(mem, "usage") != NULL && usage >= 0;
	*memory = !*has_memory ? 0 : cache >= 0 && usage > cache ? usage - cache : usage;
	*cpus = 0;
	/* No previous reading (a container's first), or a clock that did not move: no CPU figure. */
	if (pre_system <= 0 || system <= pre_system || online <= 0)
		return false;
	double delta = total - pre_total;
	*cpus = delta > 0 ? delta / (system - pre_system) * online : 0;
	if (!isfinite(*cpus) || !isfinite(*memory)) {
		*cpus = *memory = 0; /* numbers no engine sends: no figure rather than an absurd one */
		*has_memory = false;
		return false;
	}
	return true;
}

/* Where each node's stats come from: node id -> an open engine. */
typedef struct {
	char *node_id;
	docker *d;
	bool owned; /* opened here */
} engine_of;

/* One stats call to make: which engine, which container, and its answer. */
typedef struct {
	docker *d;
	char *path;
	json_t *answer;
} stats_job;

struct engine_stats {
	engine_of *engines;
	size_t n_engines;
	stats_job *jobs;
	size_t n_jobs, cap_jobs, next;
	pthread_mutex_t mu;
	unsigned long requests;
};

static docker *engine_for(const engine_stats *es, const char *node)
{
	for (size_t i = 0; node && i < es->n_engines; i++)
		if (!strcmp(es->engines[i].node_id, node))
			return es->engines[i].d;
	return NULL;
}

static json_t *get(docker *d, const char *path)
{
	long status = 0;
	json_t *resp = NULL;
	char *err = NULL;
	if (docker_request_timeout(d, STATS_TIMEOUT_MS, "GET", path, NULL, &status, &resp, &err) != 0) {
		json_decref(resp);
		resp = NULL;
	}
	free(err);
	return resp;
}

engine_stats *engine_stats_open(docker *d, const spec_swarm *sw)
{
	engine_stats *es = xcalloc(1, sizeof(*es));
	pthread_mutex_init(&es->mu, NULL);
	if (!sw->n_engines) {
		json_t *info = get(d, "/info");
		const char *id = json_string_value(json_object_get(json_object_get(info, "Swarm"), "NodeID"));
		if (id) {
			es->engines = xcalloc(1, sizeof(*es->engines));
			es->engines[es->n_engines++] = (engine_of){.node_id = xstrdup(id), .d = d};
		}
		json_decref(info);
		return es;
	}
	json_t *nodes = get(d, "/nodes");
	/* A hostname has one engine per entry (the keys are unique), a node one hostname. */
	es->engines = xcalloc(json_array_size(nodes) + 1, sizeof(*es->engines));
	for (size_t k = 0; k < sw->n_engines; k++) {
		docker *nd = NULL;
		size_t i;
		json_t *n;
		/* Every node of that hostname: a machine that rejoined (a replaced VM, a worker that
		 * left) leaves its old node, down, under the same name, and the tasks run on the new
		 * one. The engine is opened once, for the first. */
		json_array_foreach(nodes, i, n) {
			const char *host =
				json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
			const char *id = json_string_value(json_object_get(n, "ID"));
			if (!host || !id || strcmp(host, sw->engines[k].key))
				continue;
			bool first = !nd;
			if (first) {
				docker_config cfg;
				docker_config_init(&cfg, sw->engines[k].value, sw->tls_ca, sw->tls_cert, sw->tls_key);
				cfg.timeout_ms = STATS_TIMEOUT_MS;
				char *err = NULL;
				nd = docker_open(&cfg, &err);
				free(err); /* not shown: the tasks count as missing metrics, as the plan says */
				if (!nd)
					break;
			}
			es->engines[es->n_engines++] = (engine_of){.node_id = xstrdup(id), .d = nd, .owned = first};
		}
	}
	json_decref(nodes);
	return es;
}

bool engine_stats_reaches(const engine_stats *es, const char *node_id)
{
	return engine_for(es, node_id) != NULL;
}

long engine_stats_add(engine_stats *es, const char *node_id, const char *container_id)
{
	docker *nd = engine_for(es, node_id);
	if (!nd || !container_id)
		return -1;
	if (es->n_jobs == es->cap_jobs) {
		es->cap_jobs = es->cap_jobs ? 2 * es->cap_jobs : 16;
		es->jobs = xrealloc(es->jobs, es->cap_jobs * sizeof(*es->jobs));
	}
	es->jobs[es->n_jobs] = (stats_job){.d = nd, .path = xasprintf("/containers/%s/stats?stream=false", container_id)};
	return (long)es->n_jobs++;
}

static void *stats_worker(void *arg)
{
	engine_stats *es = arg;
	for (;;) {
		pthread_mutex_lock(&es->mu);
		size_t k = es->next < es->n_jobs ? es->next++ : es->n_jobs;
		pthread_mutex_unlock(&es->mu);
		if (k == es->n_jobs)
			return NULL;
		es->jobs[k].answer = get(es->jobs[k].d, es->jobs[k].path);
	}
}

void engine_stats_run(engine_stats *es)
{
	pthread_t th[STATS_PARALLEL];
	size_t todo = es->n_jobs - es->next;
	size_t n = todo < STATS_PARALLEL ? todo : STATS_PARALLEL, started = 0;
	for (size_t i = 0; i < n; i++)
		started += pthread_create(&th[started], NULL, stats_worker, es) == 0;
	if (!started)
		stats_worker(es);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	es->requests += todo;
}

json_t *engine_stats_answer(const engine_stats *es, long k)
{
	return k >= 0 && (size_t)k < es->n_jobs ? es->jobs[k].answer : NULL;
}

unsigned long engine_stats_requests(const engine_stats *es)
{
	return es->requests;
}

void engine_stats_free(engine_stats *es)
{
	if (!es)
		return;
	for (size_t i = 0; i < es->n_engines; i++) {
		if (es->engines[i].owned)
			docker_close(es->engines[i].d);
		free(es->engines[i].node_id);
	}
	for (size_t k = 0; k < es->n_jobs; k++) {
		json_decref(es->jobs[k].answer);
		free(es->jobs[k].path);
	}
	free(es->engines);
	free(es->jobs);
	pthread_mutex_destroy(&es->mu);
	free(es);
}
