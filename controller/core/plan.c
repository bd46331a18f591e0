/* The plan DAG: steps, their changes, dependencies and references, and the executor. */
#include "core/plan.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spec/arena.h"

struct plan_step {
	size_t id;
	plan_action action;
	const char *kind, *name, *reason;
	plan_change *changes;
	size_t n_changes;
	size_t *deps;
	size_t n_deps;
	plan_ref *refs;
	size_t n_refs;
	int owner;
	void *payload;
	void (*free_payload)(void *);
	/* Changed by the executor, under the plan's lock. */
	plan_step_status status;
	berth_error_code code;
	char *error;
};

struct plan {
	arena *mem;
	plan_step *steps;
	size_t n, cap;
	int owner;
	void (*free_payload)(void *);
	pthread_mutex_t mu;
	bool executed;
	const char **notes;
	size_t n_notes;
	double recheck; /* seconds; 0: none */
};

plan *plan_new(void)
{
	plan *p = xcalloc(1, sizeof(*p));
	p->mem = arena_new();
	p->owner = -1;
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

void plan_free(plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		plan_step *s = &p->steps[i];
		if (s->free_payload && s->payload)
			s->free_payload(s->payload);
		free(s->changes);
		free(s->deps);
		free(s->refs);
		free(s->error);
	}
	free(p->steps);
	free(p->notes);
	arena_free(p->mem);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static const char *dup_or_null(plan *p, const char *s)
{
	return s ? arena_strdup(p->mem, s) : NULL;
}

void plan_set_owner(plan *p, int owner, void (*free_payload)(void *payload))
{
	p->owner = owner;
	p->free_payload = free_payload;
}

size_t plan_add_step(plan *p, plan_action action, const char *kind, const char *name, const char *reason,
		     void *payload)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->steps = xrealloc(p->steps, p->cap * sizeof(*p->steps));
	}
	plan_step *s = &p->steps[p->n];
	memset(s, 0, sizeof(*s));
	s->id = p->n;
	s->action = action;
	s->kind = dup_or_null(p, kind);
	s->name = dup_or_null(p, name);
	s->reason = dup_or_null(p, reason);
	s->payload = payload;
	s->owner = p->owner;
	s->free_payload = p->free_payload;
	return p->n++;
}

void plan_add_change(plan *p, size_t step, const char *field, const char *old_value, const char *new_value,
		     bool sensitive)
{
	plan_step *s = &p->steps[step];
	s->changes = xrealloc(s->changes, (s->n_changes + 1) * sizeof(*s->changes));
	s->changes[s->n_changes++] = (plan_change){
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

void plan_add_dep(plan *p, size_t step, size_t dep)
{
	plan_step *s = &p->steps[step];
	if (dep == step || plan_step_depends_on(s, dep))
		return;
	s->deps = xrealloc(s->deps, (s->n_deps + 1) * sizeof(*s->deps));
	s->deps[s->n_deps++] = dep;
}

void plan_add_ref(plan *p, size_t step, plan_ref_mode mode, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *key = xvasprintf(fmt, ap);
	va_end(ap);
	plan_step *s = &p->steps[step];
	s->refs = xrealloc(s->refs, (s->n_refs + 1) * sizeof(*s->refs));
	s->refs[s->n_refs++] = (plan_ref){.mode = mode, .key = arena_strdup(p->mem, key)};
	free(key);
}

void plan_add_note(plan *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *note = xvasprintf(fmt, ap);
	va_end(ap);
	p->notes = xrealloc(p->notes, (p->n_notes + 1) * sizeof(*p->notes));
	p->notes[p->n_notes++] = arena_strdup(p->mem, note);
	free(note);
}

size_t plan_n_notes(const plan *p) { return p->n_notes; }
const char *plan_note(const plan *p, size_t i) { return i < p->n_notes ? p->notes[i] : NULL; }

void plan_recheck_after(plan *p, double seconds)
{
	if (seconds > 0 && (p->recheck <= 0 || seconds < p->recheck))
		p->recheck = seconds;
}

double plan_recheck(const plan *p) { return p->recheck; }

size_t plan_count(const plan *p) { return p->n; }
const plan_step *plan_step_at(const plan *p, size_t id) { return id < p->n ? &p->steps[id] : NULL; }
size_t plan_step_id(const plan_step *s) { return s->id; }
plan_action plan_step_action(const plan_step *s) { return s->action; }
const char *plan_step_kind(const plan_step *s) { return s->kind ? s->kind : ""; }
const char *plan_step_name(const plan_step *s) { return s->name ? s->name : ""; }
const char *plan_step_reason(const plan_step *s) { return s->reason; }
int plan_step_owner(const plan_step *s) { return s->owner; }
size_t plan_step_n_changes(const plan_step *s) { return s->n_changes; }
const plan_change *plan_step_change(const plan_step *s, size_t i) { return i < s->n_changes ? &s->changes[i] : NULL; }
size_t plan_step_n_deps(const plan_step *s) { return s->n_deps; }
size_t plan_step_dep(const plan_step *s, size_t i) { return s->deps[i]; }
size_t plan_step_n_refs(const plan_step *s) { return s->n_refs; }
const plan_ref *plan_step_ref(const plan_step *s, size_t i) { return i < s->n_refs ? &s->refs[i] : NULL; }
void *plan_step_payload(const plan_step *s) { return s->payload; }

bool plan_step_depends_on(const plan_step *s, size_t dep)
{
	for (size_t i = 0; i < s->n_deps; i++)
		if (s->deps[i] == dep)
			return true;
	return false;
}

const char *plan_action_name(plan_action a)
{
	static const char *const names[] = {"create", "update", "replace", "delete"};
	return names[a];
}

const char *plan_status_name(plan_step_status s)
{
	static const char *const names[] = {"pending", "running", "done", "failed", "skipped"};
	return names[s];
}

size_t *plan_topo_order(const plan *p, size_t *cycle_step)
{
	size_t n = p->n;
	size_t *indeg = xcalloc(n, sizeof(size_t));
	size_t *order = xmalloc((n ? n : 1) * sizeof(size_t));
	bool *placed = xcalloc(n, sizeof(bool));
	/* dependents[d] lists the steps that wait for d, so that placing a step is O(its edges). */
	size_t *first = xcalloc(n + 1, sizeof(size_t)), edges = 0;
	for (size_t i = 0; i < n; i++) {
		indeg[i] = p->steps[i].n_deps;
		for (size_t d = 0; d < p->steps[i].n_deps; d++)
			first[p->steps[i].deps[d] + 1]++;
		edges += p->steps[i].n_deps;
	}
	for (size_t i = 0; i < n; i++)
		first[i + 1] += first[i];
	size_t *fill = xcalloc(n, sizeof(size_t)), *dependents = xmalloc((edges ? edges : 1) * sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < p->steps[i].n_deps; d++) {
			size_t dep = p->steps[i].deps[d];
			dependents[first[dep] + fill[dep]++] = i;
		}
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
		for (size_t e = first[pick]; e < first[pick + 1]; e++)
			indeg[dependents[e]]--;
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
	free(first);
	free(fill);
	free(dependents);
	return order;
}

/* ---- snapshots ---- */

static plan_summary summarize(const plan *p)
{
	plan_summary sum = {0};
	for (size_t i = 0; i < p->n; i++) {
		if (p->steps[i].status == STEP_DONE)
			sum.done++;
		else if (p->steps[i].status == STEP_FAILED)
			sum.failed++;
		else if (p->steps[i].status == STEP_SKIPPED)
			sum.skipped++;
	}
	return sum;
}

plan_snapshot *plan_snapshot_take(const plan *cp)
{
	plan *p = (plan *)cp; /* the lock is the only thing written */
	plan_snapshot *s = xcalloc(1, sizeof(*s));
	pthread_mutex_lock(&p->mu);
	s->n = p->n;
	s->steps = xcalloc(p->n, sizeof(*s->steps));
	for (size_t i = 0; i < p->n; i++) {
		s->steps[i].status = p->steps[i].status;
		s->steps[i].code = p->steps[i].code;
		s->steps[i].error = p->steps[i].error ? xstrdup(p->steps[i].error) : NULL;
	}
	s->summary = summarize(p);
	pthread_mutex_unlock(&p->mu);
	return s;
}

void plan_snapshot_free(plan_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->steps[i].error);
	free(s->steps);
	free(s);
}

/* ---- the executor ---- */

typedef struct {
	plan *p;
	const plan_exec_options *o;
	pthread_cond_t cv;
	size_t running, finished;
	bool canceled;
} executor;

static void finish_skipped(executor *ex, plan_step *s, berth_error_code code, char *why)
{
	s->status = STEP_SKIPPED;
	s->code = code;
	free(s->error);
	s->error = why;
	ex->finished++;
}

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
					finish_skipped(ex, s, BERTH_EFAILED,
						       xasprintf("skipped: %s %s %s did not succeed", plan_action_name(dep->action),
								 plan_step_kind(dep), plan_step_name(dep)));
					changed = true;
					break;
				}
			}
		}
	}
}

/* Once cancelled, nothing more starts: every pending step is skipped. */
static void skip_all_pending(executor *ex)
{
	for (size_t i = 0; i < ex->p->n; i++)
		if (ex->p->steps[i].status == STEP_PENDING)
			finish_skipped(ex, &ex->p->steps[i], BERTH_ECANCELED, xstrdup("skipped: cancelled"));
}

static plan_step *next_ready(executor *ex)
{
	if (!ex->canceled && (berth_cancel_fired(ex->o->cancel) || berth_cancel_fired(ex->o->drain))) {
		ex->canceled = true;
		skip_all_pending(ex);
	}
	if (ex->canceled)
		return NULL;
	for (size_t i = 0; i < ex->p->n; i++) {
		plan_step *s = &ex->p->steps[i];
		if (s->status != STEP_PENDING)
			continue;
		bool ready = true;
		for (size_t d = 0; d < s->n_deps && ready; d++)
			ready = ex->p->steps[s->deps[d]].status == STEP_DONE;
		if (ready && ex->o->before_step && !ex->o->before_step(ex->o->before_step_ctx)) {
			ex->canceled = true;
			skip_all_pending(ex);
			return NULL;
		}
		if (ready)
			return s;
	}
	return NULL;
}

static void *worker(void *arg)
{
	executor *ex = arg;
	plan *p = ex->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		plan_step *s;
		while (!(s = next_ready(ex)) && ex->finished < p->n && ex->running > 0)
			pthread_cond_wait(&ex->cv, &p->mu);
		if (!s)
			break; /* everything finished, or nothing can start and nothing is running */
		s->status = STEP_RUNNING;
		ex->running++;
		pthread_mutex_unlock(&p->mu);
		if (ex->o->on_step)
			ex->o->on_step(ex->o->ctx, s, STEP_RUNNING, NULL);
		berth_error err = {0};
		int rc = ex->o->apply(ex->o->ctx, s, s->payload, &err);
		if (rc != 0 && !err.message)
			berth_error_set(&err, rc, "failed");
		if (ex->o->on_step)
			ex->o->on_step(ex->o->ctx, s, rc == 0 ? STEP_DONE : STEP_FAILED, rc == 0 ? NULL : &err);
		pthread_mutex_lock(&p->mu);
		ex->running--;
		ex->finished++;
		if (rc == 0) {
			s->status = STEP_DONE;
		} else {
			s->status = STEP_FAILED;
			s->code = err.code ? err.code : BERTH_EGENERIC;
			s->error = err.message;
			err.message = NULL;
			skip_dependents(ex);
		}
		berth_error_clear(&err);
		pthread_cond_broadcast(&ex->cv);
	}
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Tells on_step about every skipped step, in id order, once the run is over. */
static void report_skipped(plan *p, const plan_exec_options *o)
{
	if (!o->on_step)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].status == STEP_SKIPPED) {
			berth_error e = {.code = p->steps[i].code, .message = p->steps[i].error};
			o->on_step(o->ctx, &p->steps[i], STEP_SKIPPED, &e);
		}
}

int plan_execute(plan *p, const plan_exec_options *o, plan_summary *out)
{
	size_t cycle;
	size_t *order = plan_topo_order(p, &cycle);
	pthread_mutex_lock(&p->mu);
	bool again = p->executed;
	p->executed = true;
	pthread_mutex_unlock(&p->mu);
	if (!order || again) {
		/* A cyclic plan is a planner bug, and a plan runs once: run nothing. */
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n; i++)
			if (p->steps[i].status == STEP_PENDING) {
				p->steps[i].status = STEP_SKIPPED;
				p->steps[i].error = xstrdup(order ? "skipped: the plan was already applied"
								  : "skipped: the plan has a dependency cycle");
			}
		pthread_mutex_unlock(&p->mu);
		free(order);
		if (out)
			*out = summarize(p);
		return BERTH_EPLAN;
	}
	free(order);
	int parallelism = o->parallelism < 1 ? 1 : o->parallelism;
	executor ex = {.p = p, .o = o};
	pthread_cond_init(&ex.cv, NULL);
	size_t nthreads = (size_t)parallelism < p->n ? (size_t)parallelism : p->n;
	pthread_t *threads = xcalloc(nthreads, sizeof(pthread_t));
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++) {
		if (pthread_create(&threads[i], NULL, worker, &ex) != 0)
			break; /* fewer workers than asked: the plan still runs, more slowly */
		started++;
	}
	if (started == 0 && p->n > 0)
		worker(&ex); /* no thread at all: run it on this one */
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_cond_destroy(&ex.cv);
	report_skipped(p, o);
	pthread_mutex_lock(&p->mu);
	plan_summary sum = summarize(p);
	pthread_mutex_unlock(&p->mu);
	sum.canceled = ex.canceled;
	if (out)
		*out = sum;
	if (sum.done == p->n)
		return 0;
	return ex.canceled ? BERTH_ECANCELED : BERTH_EFAILED;
}
