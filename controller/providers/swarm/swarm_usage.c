/* What autoscaling reads at observe time: the CPU and memory of each running task of an
 * autoscaled service, from the container stats of the engine of the task's node
 * (GET /containers/{id}/stats?stream=false: one call per running task, whatever the number of
 * services), and the Prometheus sources' totals (swarm_prom.c). The engine of a node is the one
 * berth talks to for its own node ("local", the default: a manager's engine serves only its own
 * containers' stats), or the node's tcp:// endpoint from swarm.engines (with swarm.tls). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "providers/swarm/swarm.h"
#include "providers/swarm/swarm_prom.h"

#define STATS_TIMEOUT_MS 10000 /* the engine takes a second or two to have a previous reading */
#define STATS_PARALLEL 32      /* stats calls at once (the Docker client's handles are pooled) */

static double num_at(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* The Docker Engine API's formula, as `docker stats` computes it: CPU % = cpu_delta /
 * system_cpu_delta x number_cpus x 100; here without the 100 (CPUs in use). Memory: usage less
 * the page cache that can be dropped (cgroup v1: total_inactive_file, v2: inactive_file). */
bool swarm_stats_usage(json_t *stats, double *cpus, double *memory, bool *has_memory)
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

/* Where each node's stats come from: node id -> an open engine, or none. */
typedef struct {
	const char *node_id;
	docker *d;
	bool owned; /* opened here */
} engine_of;

typedef struct {
	engine_of *v;
	size_t n;
} engines;

static docker *engine_for(engines *e, const char *node)
{
	for (size_t i = 0; node && i < e->n; i++)
		if (!strcmp(e->v[i].node_id, node))
			return e->v[i].d;
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

/* One GET /info (local) or GET /nodes (swarm.engines) plus each endpoint's _ping: the cost of an
 * evaluation that does not grow with the services. keep owns the answers the ids point into. */
static void open_engines(docker *d, const spec_swarm *sw, engines *e, json_t *keep)
{
	if (!sw->n_engines) {
		json_t *info = get(d, "/info");
		const char *id = json_string_value(json_object_get(json_object_get(info, "Swarm"), "NodeID"));
		if (id) {
			e->v = xcalloc(1, sizeof(*e->v));
			e->v[e->n++] = (engine_of){.node_id = id, .d = d};
		}
		json_array_append_new(keep, info ? info : json_null());
		return;
	}
	json_t *nodes = get(d, "/nodes");
	json_array_append_new(keep, nodes ? nodes : json_null());
	/* A hostname has one engine per entry (the keys are unique), a node one hostname. */
	e->v = xcalloc(json_array_size(nodes) + 1, sizeof(*e->v));
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
			e->v[e->n++] = (engine_of){.node_id = id, .d = nd, .owned = first};
		}
	}
}

static void add_usage(swarm_state *st, size_t *cap, swarm_usage u)
{
	if (st->n_usage == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		st->usage = xrealloc(st->usage, *cap * sizeof(*st->usage));
	}
	st->usage[st->n_usage++] = u;
}

/* One stats call to make: which engine, which container, whose usage it fills. */
typedef struct {
	docker *d;
	char *path;
	size_t usage;
	json_t *answer;
} stats_job;

typedef struct {
	stats_job *v;
	size_t n, cap, next;
	pthread_mutex_t mu;
} stats_jobs;

static void task_usage(swarm_state *st, size_t *cap, engines *e, const swarm_object *svc, stats_jobs *jobs)
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
		if (state && !strcmp(state, "running") && cid) {
			docker *nd = engine_for(e, json_string_value(json_object_get(t, "NodeID")));
			u.running = u.ready = true;
			if (nd) {
				if (jobs->n == jobs->cap) {
					jobs->cap = jobs->cap ? 2 * jobs->cap : 16;
					jobs->v = xrealloc(jobs->v, jobs->cap * sizeof(*jobs->v));
				}
				jobs->v[jobs->n++] = (stats_job){.d = nd, .path = xasprintf("/containers/%s/stats?stream=false", cid),
								 .usage = st->n_usage};
			}
		}
		add_usage(st, cap, u);
	}
}

/* The engine answers a stats call once it has a second reading, a second or so later: the calls
 * run side by side, so an evaluation takes about that long whatever the number of tasks. */
static void *stats_worker(void *arg)
{
	stats_jobs *jobs = arg;
	for (;;) {
		pthread_mutex_lock(&jobs->mu);
		size_t k = jobs->next < jobs->n ? jobs->next++ : jobs->n;
		pthread_mutex_unlock(&jobs->mu);
		if (k == jobs->n)
			return NULL;
		jobs->v[k].answer = get(jobs->v[k].d, jobs->v[k].path);
	}
}

static void run_jobs(swarm_state *st, stats_jobs *jobs)
{
	pthread_t th[STATS_PARALLEL];
	size_t n = jobs->n < STATS_PARALLEL ? jobs->n : STATS_PARALLEL, started = 0;
	for (size_t i = 0; i < n; i++)
		started += pthread_create(&th[started], NULL, stats_worker, jobs) == 0;
	if (!started)
		stats_worker(jobs);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t k = 0; k < jobs->n; k++) {
		swarm_usage *u = &st->usage[jobs->v[k].usage];
		if (jobs->v[k].answer) {
			u->has_value = true;
			/* Running, but no previous reading yet: a task that is starting. */
			u->ready = swarm_stats_usage(jobs->v[k].answer, &u->cpus, &u->memory, &u->has_memory);
		}
		st->usage_requests++;
		json_decref(jobs->v[k].answer);
		free(jobs->v[k].path);
	}
	free(jobs->v);
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
		engines e = {0};
		json_t *keep = json_array();
		open_engines(d, sw, &e, keep);
		size_t cap = 0;
		stats_jobs jobs = {.mu = PTHREAD_MUTEX_INITIALIZER};
		for (size_t i = 0; i < sw->n_services; i++) {
			const spec_service *s = &sw->services[i];
			const swarm_object *obs = swarm_find(st, SWARM_SERVICE, s->name);
			if (obs && s->deploy.autoscale.present &&
			    (s->deploy.autoscale.cpu_percent > 0 || s->deploy.autoscale.memory_percent > 0))
				task_usage(st, &cap, &e, obs, &jobs);
		}
		run_jobs(st, &jobs);
		for (size_t i = 0; i < e.n; i++)
			if (e.v[i].owned)
				docker_close(e.v[i].d);
		free(e.v);
		json_decref(keep);
	}
	swarm_prom_observe(m, st);
}
