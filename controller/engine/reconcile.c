/* One reconcile: observe → diff → order → (apply). The plan is a pure function of (spec,
 * observed); only the executor, through the providers' apply, changes anything. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/order.h"
#include "core/util.h"
#include "engine/engine_internal.h"
#include "engine/registry.h"

typedef struct {
	const berth_provider *p;
	bool wanted;
	void *observed;
	bool complete;
} slot;

typedef struct {
	berth_engine *e;
	const struct spec_model *m;
	slot *slots;
	berth_env env;
	berth_options opts; /* status and commands: their own */
	pthread_mutex_t mu; /* guards requeue_after: steps run on worker threads */
	double requeue_after;
} run;

/* The soonest of the times the steps asked to come back. */
static void requeue(void *ctx, double seconds)
{
	run *r = ctx;
	if (seconds <= 0)
		seconds = 0.001;
	pthread_mutex_lock(&r->mu);
	if (r->requeue_after <= 0 || seconds < r->requeue_after)
		r->requeue_after = seconds;
	pthread_mutex_unlock(&r->mu);
}

/* The providers' status arrays, concatenated into one (NULL when none has any). */
static char *status_all(const slot *slots, size_t n, const struct spec_model *m, double wall)
{
	json_t *all = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].wanted || !slots[i].p->status || !slots[i].observed)
			continue;
		char *text = slots[i].p->status(m, slots[i].observed, wall);
		json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
		free(text);
		if (json_is_array(arr)) {
			if (!all)
				all = json_array();
			json_array_extend(all, arr);
		}
		json_decref(arr);
	}
	char *out = all ? json_dumps(all, JSON_COMPACT) : NULL;
	json_decref(all);
	return out;
}

static void free_observed(slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i].observed && slots[i].p->observed_free)
			slots[i].p->observed_free(slots[i].observed);
	free(slots);
}

/* Every wanted provider's fingerprint, by name: "none" when berth manages nothing here. */
static char *fingerprint(const slot *slots, size_t n)
{
	berth_sha256 *h = berth_sha256_new();
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].wanted)
			continue;
		char *fp = slots[i].p->fingerprint ? slots[i].p->fingerprint(slots[i].observed) : NULL;
		berth_sha256_field(h, slots[i].p->name, strlen(slots[i].p->name));
		berth_sha256_field(h, fp ? fp : "", fp ? strlen(fp) : 0);
		free(fp);
		any = true;
	}
	char hex[BERTH_SHA256_HEX];
	berth_sha256_final_hex(h, hex);
	return xstrdup(any ? hex : "none");
}

/* Diffs every wanted provider into p; all providers' problems are reported together. */
static int diff_all(run *r, plan *p, berth_error *err)
{
	problems pr;
	problems_init(&pr);
	for (size_t i = 0; i < berth_provider_count(); i++) {
		slot *s = &r->slots[i];
		if (!s->wanted)
			continue;
		plan_set_owner(p, (int)i, s->p->free_payload);
		berth_error perr = {0};
		int rc = s->p->diff(r->m, s->observed, s->complete, r->env.opts, p, &perr);
		if (rc == BERTH_EPLAN) {
			problem(&pr, "%s", perr.message);
		} else if (rc != 0) {
			berth_error_move(err, &perr);
			free(problems_finish(&pr));
			return rc;
		}
		berth_error_clear(&perr);
	}
	char *text = problems_finish(&pr);
	if (text)
		return berth_error_take(err, BERTH_EPLAN, text);
	return order_plan(p, err);
}

static int apply_step(void *ctx, const plan_step *step, void *payload, berth_error *err)
{
	run *r = ctx;
	int owner = plan_step_owner(step);
	const berth_provider *p = berth_provider_at((size_t)owner);
	if (!p)
		return berth_error_set(err, BERTH_EGENERIC, "step %s %s has no provider", plan_step_kind(step),
				       plan_step_name(step));
	return p->apply(&r->env, r->m, step, payload, err);
}

static void on_step(void *ctx, const plan_step *step, plan_step_status status, const berth_error *err)
{
	run *r = ctx;
	berth_event_kind kind = status == STEP_RUNNING ? BERTH_EV_STEP_START
				: status == STEP_DONE  ? BERTH_EV_STEP_DONE
				: status == STEP_FAILED ? BERTH_EV_STEP_FAILED
							: BERTH_EV_STEP_SKIPPED;
	berth_event ev = {.kind = kind, .plan = r->env.plan, .step = step, .error = err};
	berth_emit(&r->e->events, &ev);
}

void berth_result_free(berth_result *r)
{
	if (!r)
		return;
	plan_free(r->plan);
	free(r->fingerprint);
	free(r->status);
	memset(r, 0, sizeof(*r));
}

int berth_reconcile(berth_engine *e, const struct spec_model *m, const berth_reconcile_options *o, berth_result *out,
		    berth_error *err)
{
	memset(out, 0, sizeof(*out));
	e->reconciles++;
	berth_options opts = o ? o->opts : (berth_options){0};
	if (berth_cancel_fired(e->cancel))
		return berth_error_set(err, BERTH_ECANCELED, "cancelled");
	size_t n = berth_provider_count();
	run r = {.e = e, .m = m, .slots = xcalloc(n, sizeof(slot))};
	unsigned needs = 0;
	for (size_t i = 0; i < n; i++) {
		r.slots[i].p = berth_provider_at(i);
		r.slots[i].wanted = r.slots[i].p->version == BERTH_PROVIDER_VERSION && r.slots[i].p->wants(m);
		if (r.slots[i].wanted)
			needs |= r.slots[i].p->needs ? r.slots[i].p->needs(m) : 0;
	}
	int rc = engine_transports(e, m, needs, err);
	if (rc != 0) {
		free_observed(r.slots, n);
		return rc;
	}
	r.env = (berth_env){.docker = e->docker, .arm = e->arm, .clock = e->clock, .cancel = e->cancel,
			    .events = &e->events, .opts = &opts, .requeue = requeue, .requeue_ctx = &r};
	pthread_mutex_init(&r.mu, NULL);
	for (size_t i = 0; i < n && rc == 0; i++) {
		slot *s = &r.slots[i];
		if (s->wanted)
			rc = s->p->observe(&r.env, m, &s->observed, &s->complete, err);
	}
	if (rc != 0) {
		free_observed(r.slots, n);
		pthread_mutex_destroy(&r.mu);
		return rc;
	}
	out->fingerprint = fingerprint(r.slots, n);
	out->status = status_all(r.slots, n, m, berth_wall(e->clock));
	plan *p = plan_new();
	rc = diff_all(&r, p, err);
	if (rc != 0) {
		plan_free(p);
		free_observed(r.slots, n);
		pthread_mutex_destroy(&r.mu);
		return rc;
	}
	out->plan = p;
	out->requeue_after = plan_recheck(p);
	r.env.plan = p;
	berth_event ready = {.kind = BERTH_EV_PLAN_READY, .plan = p};
	berth_emit(&e->events, &ready);
	if (!o || o->mode != BERTH_MODE_APPLY) {
		free_observed(r.slots, n);
		pthread_mutex_destroy(&r.mu);
		return 0;
	}
	if (o->gate && (rc = o->gate(o->gate_ctx, out, err)) != 0) {
		free_observed(r.slots, n);
		pthread_mutex_destroy(&r.mu);
		return rc;
	}
	if (plan_count(p) > 0) {
		plan_exec_options xo = {.parallelism = opts.parallelism > 0 ? opts.parallelism : 8,
					.cancel = e->cancel,
					.drain = e->drain,
					.before_step = e->before_step,
					.before_step_ctx = e->before_step_ctx,
					.apply = apply_step,
					.on_step = on_step,
					.ctx = &r};
		rc = plan_execute(p, &xo, &out->summary);
		out->applied = true;
		berth_event done = {.kind = BERTH_EV_APPLIED, .plan = p};
		berth_emit(&e->events, &done);
		if (rc != 0)
			berth_error_set(err, rc, "%zu done, %zu failed, %zu skipped%s", out->summary.done, out->summary.failed,
					out->summary.skipped, rc == BERTH_ECANCELED ? " (cancelled)" : "");
	}
	if (r.requeue_after > 0 && (out->requeue_after <= 0 || r.requeue_after < out->requeue_after))
		out->requeue_after = r.requeue_after;
	free_observed(r.slots, n);
	pthread_mutex_destroy(&r.mu);
	return rc;
}

/* Observes the providers that have the callback, for what only they can answer. */
static int observe_for(berth_engine *e, const struct spec_model *m, bool want_status, run *r, berth_error *err)
{
	size_t n = berth_provider_count();
	r->e = e;
	r->m = m;
	r->slots = xcalloc(n, sizeof(slot));
	unsigned needs = 0;
	for (size_t i = 0; i < n; i++) {
		const berth_provider *p = berth_provider_at(i);
		r->slots[i].p = p;
		bool has = want_status ? p->status != NULL : p->command != NULL;
		r->slots[i].wanted = p->version == BERTH_PROVIDER_VERSION && has && p->wants(m);
		if (r->slots[i].wanted)
			needs |= p->needs ? p->needs(m) : 0;
	}
	int rc = engine_transports(e, m, needs, err);
	r->env = (berth_env){.docker = e->docker, .arm = e->arm, .clock = e->clock, .cancel = e->cancel,
			     .events = &e->events, .opts = &r->opts};
	for (size_t i = 0; i < n && rc == 0 && want_status; i++)
		if (r->slots[i].wanted)
			rc = r->slots[i].p->observe(&r->env, m, &r->slots[i].observed, &r->slots[i].complete, err);
	return rc;
}

int berth_status(berth_engine *e, const struct spec_model *m, char **json, berth_error *err)
{
	run r = {.opts = {.status_detail = true}};
	*json = NULL;
	int rc = observe_for(e, m, true, &r, err);
	if (rc == 0) {
		*json = status_all(r.slots, berth_provider_count(), m, berth_wall(e->clock));
		if (!*json)
			*json = xstrdup("[]");
	}
	free_observed(r.slots, berth_provider_count());
	return rc;
}

int berth_command(berth_engine *e, const struct spec_model *m, const berth_options *opts, const char *verb,
		  const char *name, berth_error *err)
{
	run r = {0};
	if (opts)
		r.opts = *opts;
	int rc = observe_for(e, m, false, &r, err);
	for (size_t i = 0; i < berth_provider_count() && rc == 0; i++) {
		if (!r.slots[i].wanted)
			continue;
		berth_error cerr = {0};
		rc = r.slots[i].p->command(&r.env, m, verb, name, &cerr);
		if (rc == BERTH_ENOTFOUND && i + 1 < berth_provider_count()) {
			berth_error_clear(&cerr);
			rc = 0;
			continue;
		}
		berth_error_move(err, &cerr);
		free_observed(r.slots, berth_provider_count());
		return rc;
	}
	free_observed(r.slots, berth_provider_count());
	return rc ? rc : berth_error_set(err, BERTH_ENOTFOUND, "%s: nothing named %s", verb, name);
}
