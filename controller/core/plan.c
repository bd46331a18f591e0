#include "core/plan.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/arena.h"

struct plan {
	arena *mem;
	plan_step *steps;
	size_t n, cap;
	void (*free_payload)(void *);
};

plan *plan_new(void (*free_payload)(void *payload))
{
	plan *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->mem = arena_new();
	p->free_payload = free_payload;
	return p;
}

void plan_free(plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		if (p->free_payload && p->steps[i].payload)
			p->free_payload(p->steps[i].payload);
		free(p->steps[i].changes);
		free(p->steps[i].deps);
		free((char *)p->steps[i].error);
	}
	free(p->steps);
	arena_free(p->mem);
	free(p);
}

static const char *dup_or_null(plan *p, const char *s)
{
	return s ? arena_strdup(p->mem, s) : NULL;
}

size_t plan_add_step(plan *p, plan_action action, const char *kind, const char *name, const char *reason,
		     void *payload)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->steps = realloc(p->steps, p->cap * sizeof(*p->steps));
		if (!p->steps)
			abort();
	}
	plan_step *s = &p->steps[p->n];
	memset(s, 0, sizeof(*s));
	s->id = p->n;
	s->action = action;
	s->kind = dup_or_null(p, kind);
	s->name = dup_or_null(p, name);
	s->reason = dup_or_null(p, reason);
	s->payload = payload;
	return p->n++;
}

void plan_add_change(plan *p, size_t step, const char *field, const char *old_value, const char *new_value,
		     bool sensitive)
{
	plan_step *s = &p->steps[step];
	plan_change *c = realloc(s->changes, (s->n_changes + 1) * sizeof(*c));
	if (!c)
		abort();
	s->changes = c;
	c[s->n_changes++] = (plan_change){
		.field = dup_or_null(p, field),
		/* A sensitive value is never stored, so it cannot be printed by accident. */
		.old_value = sensitive ? NULL : dup_or_null(p, old_value),
		.new_value = sensitive ? NULL : dup_or_null(p, new_value),
		.sensitive = sensitive,
	};
}

void plan_set_reason(plan *p, size_t step, const char *reason)
{
	p->steps[step].reason = dup_or_null(p, reason && *reason ? reason : NULL);
}

void plan_set_payload(plan *p, size_t step, void *payload)
{
	p->steps[step].payload = payload;
}

void plan_add_dep(plan *p, size_t step, size_t dep)
{
	plan_step *s = &p->steps[step];
	for (size_t i = 0; i < s->n_deps; i++)
		if (s->deps[i] == dep)
			return;
	size_t *d = realloc(s->deps, (s->n_deps + 1) * sizeof(*d));
	if (!d)
		abort();
	s->deps = d;
	d[s->n_deps++] = dep;
}

size_t plan_count(const plan *p) { return p->n; }
const plan_step *plan_step_at(const plan *p, size_t id) { return id < p->n ? &p->steps[id] : NULL; }

const char *plan_action_name(plan_action a)
{
	static const char *const names[] = {"create", "update", "replace", "delete"};
	return names[a];
}

size_t *plan_topo_order(const plan *p, size_t *cycle_step)
{
	size_t n = p->n;
	size_t *indeg = calloc(n ? n : 1, sizeof(size_t));
	size_t *order = malloc((n ? n : 1) * sizeof(size_t));
	bool *placed = calloc(n ? n : 1, sizeof(bool));
	if (!indeg || !order || !placed)
		abort();
	for (size_t i = 0; i < n; i++)
		indeg[i] = p->steps[i].n_deps;
	/* Kahn's algorithm, smallest ready id first, so the order is stable and readable. */
	size_t k = 0;
	while (k < n) {
		size_t pick = n;
		for (size_t i = 0; i < n; i++)
			if (!placed[i] && indeg[i] == 0) {
				pick = i;
				break;
			}
		if (pick == n)
			break;
		placed[pick] = true;
		order[k++] = pick;
		for (size_t i = 0; i < n; i++)
			for (size_t d = 0; d < p->steps[i].n_deps; d++)
				if (p->steps[i].deps[d] == pick)
					indeg[i]--;
	}
	if (k < n) {
		for (size_t i = 0; i < n; i++)
			if (!placed[i]) {
				if (cycle_step)
					*cycle_step = i;
				break;
			}
		free(order);
		order = NULL;
	}
	free(indeg);
	free(placed);
	return order;
}

/* ---- the executor ---- */

typedef struct {
	plan *p;
	plan_apply_fn apply;
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t running, finished;
} executor;

/* Marks everything that depends on a failed or skipped step as skipped. */
static void skip_dependents(executor *ex)
{
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < ex->p->n; i++) {
			plan_step *s = &ex->p->steps[i];
			if (s->status != STEP_PENDING)
				continue;
			for (size_t d = 0; d < s->n_deps; d++) {
				plan_step *dep = &ex->p->steps[s->deps[d]];
				if (dep->status == STEP_FAILED || dep->status == STEP_SKIPPED) {
					char buf[512];
					snprintf(buf, sizeof(buf), "skipped: %s %s %s did not succeed",
						 plan_action_name(dep->action), dep->kind ? dep->kind : "", dep->name ? dep->name : "");
					s->status = STEP_SKIPPED;
					s->error = strdup(buf);
					ex->finished++;
					changed = true;
					break;
				}
			}
		}
	}
}

static plan_step *next_ready(executor *ex)
{
	for (size_t i = 0; i < ex->p->n; i++) {
		plan_step *s = &ex->p->steps[i];
		if (s->status != STEP_PENDING)
			continue;
		bool ready = true;
		for (size_t d = 0; d < s->n_deps && ready; d++)
			ready = ex->p->steps[s->deps[d]].status == STEP_DONE;
		if (ready)
			return s;
	}
	return NULL;
}

static void *worker(void *arg)
{
	executor *ex = arg;
	pthread_mutex_lock(&ex->mu);
	for (;;) {
		plan_step *s;
		while (!(s = next_ready(ex)) && ex->finished < ex->p->n && ex->running > 0)
			pthread_cond_wait(&ex->cv, &ex->mu);
		if (!s)
			break; /* everything finished, or nothing can start and nothing is running */
		s->status = STEP_RUNNING;
		ex->running++;
		pthread_mutex_unlock(&ex->mu);
		char *err = NULL;
		int rc = ex->apply(ex->ctx, s, &err);
		pthread_mutex_lock(&ex->mu);
		ex->running--;
		ex->finished++;
		if (rc == 0) {
			s->status = STEP_DONE;
			free(err);
		} else {
			s->status = STEP_FAILED;
			s->error = err ? err : strdup("failed");
			skip_dependents(ex);
		}
		pthread_cond_broadcast(&ex->cv);
	}
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mu);
	return NULL;
}

int plan_execute(plan *p, int parallelism, plan_apply_fn apply, void *ctx, plan_summary *out)
{
	size_t cycle;
	size_t *order = plan_topo_order(p, &cycle);
	if (!order) {
		/* A cyclic plan is a planner bug: run nothing. */
		for (size_t i = 0; i < p->n; i++) {
			p->steps[i].status = STEP_SKIPPED;
			p->steps[i].error = strdup("skipped: the plan has a dependency cycle");
		}
		if (out)
			*out = (plan_summary){.skipped = p->n};
		return -1;
	}
	free(order);
	if (parallelism < 1)
		parallelism = 1;
	executor ex = {.p = p, .apply = apply, .ctx = ctx};
	pthread_mutex_init(&ex.mu, NULL);
	pthread_cond_init(&ex.cv, NULL);
	size_t nthreads = (size_t)parallelism < p->n ? (size_t)parallelism : p->n;
	pthread_t *threads = calloc(nthreads ? nthreads : 1, sizeof(pthread_t));
	if (!threads)
		abort();
	for (size_t i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, worker, &ex);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_cond_destroy(&ex.cv);
	pthread_mutex_destroy(&ex.mu);
	plan_summary sum = {0};
	for (size_t i = 0; i < p->n; i++) {
		if (p->steps[i].status == STEP_DONE)
			sum.done++;
		else if (p->steps[i].status == STEP_FAILED)
			sum.failed++;
		else
			sum.skipped++;
	}
	if (out)
		*out = sum;
	return sum.done == p->n ? 0 : -1;
}
