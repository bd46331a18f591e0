/* The loop of berth run: fetch → load → reconcile, then wait for the interval, a webhook or a
 * stop; the state /status shows and the metrics it counts. */
#include "run/run.h"

#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "core/util.h"
#include "engine/berth.h"
#include "run/run_history.h"
#include "run/run_log.h"
#include "server/server.h"

typedef struct {
	const berth_run_config *cfg;
	run_log log;
	berth_metrics *metrics;
	berth_cancel *wake; /* a webhook: reconcile now */
	berth_cancel *done; /* the loop is over (for the stop watchdog) */
	pthread_mutex_t mu; /* guards what follows, read by the server's threads */
	bool ready;
	char *fetched, *applied;  /* revisions */
	char *last_time;          /* ISO 8601, UTC */
	double last_duration;
	const char *last_result;  /* "success", "failure", "skipped" */
	char *last_error;
	json_t *last_diagnostics; /* array of FILE:LINE:COL lines for an invalid spec */
	plan_summary last_summary;
	size_t last_steps[4];     /* the last plan: add, change, replace, destroy */
	bool has_plan;
	char *repo_shown;
	json_t *rollouts;         /* the providers' status array (rollouts), as last observed */
	json_t *autoscale;        /* the autoscale decisions of the last pass */
	run_history hist;         /* for the status page: last reconciles, last change, resources */
	/* the loop's own (one thread) */
	char *failed_rev;
	int failures;
	double retry_at;
	double requeue_at;        /* a step asked to come back (a rollout's pause ends); 0: none */
	json_t *phases;           /* group -> the rollout phase last seen, to count finished ones */
	notify *notify;           /* NULL: no --notify */
	commit_status *cs;        /* NULL: no --commit-status */
	berth_leader *leader;     /* NULL: no election */
	berth_cancel *lost;       /* with an election, the engine's cancel: fired when leadership ends */
	pthread_mutex_t leader_mu; /* berth_leader's updates (not mu: the gate runs under the plan's lock) */
} run;

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *iso_time(double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	return xasprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
}

/* ---- what the server asks ---- */

static bool is_alive(void *ctx)
{
	(void)ctx;
	return true; /* the server runs only while the loop does */
}

static bool is_ready(void *ctx)
{
	run *r = ctx;
	pthread_mutex_lock(&r->mu);
	bool ready = r->ready;
	pthread_mutex_unlock(&r->mu);
	if (ready && r->leader) { /* a follower is alive but not ready: it applies nothing */
		berth_leader_view v;
		berth_leader_get(r->leader, &v);
		ready = v.is_leader;
		berth_leader_view_free(&v);
	}
	return ready;
}

static json_t *nullable(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* ---- leadership ---- */

static json_t *leader_json(run *r)
{
	berth_leader_view v;
	berth_leader_get(r->leader, &v);
	json_t *j = json_pack("{s:b, s:s, s:o, s:o, s:f}", "is_leader", v.is_leader, "instance", v.instance, "leader",
			      nullable(v.leader), "lease_expires_in_s",
			      v.expires_in_s >= 0 ? json_real(round(v.expires_in_s * 10) / 10) : json_null(),
			      "lease_duration_s", v.duration_s);
	berth_leader_view_free(&v);
	return j;
}

/* berth_leader from the state as it is now: read and written under leader_mu, and called after
 * every change (the hooks run after it), so concurrent calls always leave the latest state. */
static void set_leader_metric(run *r)
{
	pthread_mutex_lock(&r->leader_mu);
	berth_leader_view v;
	berth_leader_get(r->leader, &v);
	char *l = berth_metrics_label("instance", v.instance);
	berth_metrics_set(r->metrics, "berth_leader", l, v.is_leader ? 1 : 0);
	free(l);
	berth_leader_view_free(&v);
	pthread_mutex_unlock(&r->leader_mu);
}

static void on_acquired(void *ctx)
{
	run *r = ctx;
	set_leader_metric(r);
	berth_cancel_fire(r->wake);
}

static void on_lost(void *ctx)
{
	run *r = ctx;
	set_leader_metric(r);
	berth_cancel_fire(r->lost); /* the step in flight stops within one poll */
	berth_cancel_fire(r->wake);
}

static bool before_step(void *ctx)
{
	return berth_leader_may_write(((run *)ctx)->leader);
}

static bool leading(run *r)
{
	if (!r->leader)
		return true;
	berth_leader_view v;
	berth_leader_get(r->leader, &v);
	bool yes = v.is_leader;
	berth_leader_view_free(&v);
	return yes;
}

/* The providers' status items of one kind (NULL: those without a kind, the rollouts). */
static json_t *of_kind(json_t *items, const char *kind)
{
	json_t *out = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *k = json_string_value(json_object_get(it, "kind"));
		if (kind ? k && !strcmp(k, kind) : !k)
			json_array_append(out, it);
	}
	return out;
}

static char *status_json(void *ctx)
{
	run *r = ctx;
	const berth_source_config *sc = &r->cfg->source;
	pthread_mutex_lock(&r->mu);
	json_t *src = json_pack("{s:o, s:o, s:o}", "repo", nullable(r->repo_shown), "ref",
				nullable(sc->repo ? (sc->ref ? sc->ref : "main") : NULL), "path", nullable(sc->path));
	json_t *last = json_pack("{s:o, s:f, s:o, s:o}", "time", nullable(r->last_time), "duration_seconds",
				 r->last_duration, "result", nullable(r->last_result), "error", nullable(r->last_error));
	if (r->last_diagnostics)
		json_object_set(last, "diagnostics", r->last_diagnostics);
	json_t *last_plan = r->has_plan ? json_pack("{s:I, s:I, s:I, s:I}", "add", (json_int_t)r->last_steps[PLAN_CREATE],
					       "change", (json_int_t)r->last_steps[PLAN_UPDATE], "replace",
					       (json_int_t)r->last_steps[PLAN_REPLACE], "destroy",
					       (json_int_t)r->last_steps[PLAN_DELETE])
				   : json_null();
	json_t *apply = r->has_plan ? json_pack("{s:I, s:I, s:I}", "done", (json_int_t)r->last_summary.done, "failed",
						(json_int_t)r->last_summary.failed, "skipped",
						(json_int_t)r->last_summary.skipped)
				    : json_null();
	json_t *j = json_pack("{s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o}", "source", src, "fetched_revision",
			      nullable(r->fetched), "applied_revision", nullable(r->applied), "ready", r->ready,
			      "last_reconcile", last, "last_plan", last_plan, "last_apply", apply, "rollouts",
			      r->rollouts ? json_incref(r->rollouts) : json_array());
	json_object_set_new(j, "autoscale", r->autoscale ? json_incref(r->autoscale) : json_array());
	run_history_json(&r->hist, j);
	pthread_mutex_unlock(&r->mu);
	if (r->leader)
		json_object_set_new(j, "leader", leader_json(r));
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	return text;
}

static void on_push(void *ctx, const char *provider, const char *after)
{
	run *r = ctx;
	run_log_line(&r->log, "info", "webhook: push to the watched ref", "provider", provider, "after",
		     after && *after ? after : NULL, (const char *)NULL);
	berth_cancel_fire(r->wake);
}

/* ---- metrics ---- */

static void declare_metrics(berth_metrics *m)
{
	berth_metrics_declare(m, "berth_reconcile_total", BERTH_COUNTER, "Reconciles, by result.", NULL, 0);
	static const double b[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
	berth_metrics_declare(m, "berth_reconcile_duration_seconds", BERTH_HISTOGRAM,
			      "How long a fetch and reconcile took.", b, sizeof(b) / sizeof(b[0]));
	berth_metrics_declare(m, "berth_source_revision_info", BERTH_GAUGE, "The revision last fetched.", NULL, 0);
	berth_metrics_declare(m, "berth_last_success_timestamp_seconds", BERTH_GAUGE,
			      "When a reconcile last succeeded (Unix time).", NULL, 0);
	berth_metrics_declare(m, "berth_drift_corrections_total", BERTH_COUNTER,
			      "Reconciles of an already applied revision that changed something.", NULL, 0);
	berth_metrics_declare(m, "berth_webhook_requests_total", BERTH_COUNTER, "Webhook requests, by provider and result.",
			      NULL, 0);
	berth_metrics_declare(m, "berth_docker_requests_total", BERTH_COUNTER, "Requests to the Docker engine.", NULL, 0);
	berth_metrics_declare(m, "berth_arm_requests_total", BERTH_COUNTER,
			      "Attempts sent to Azure Resource Manager, by HTTP status (0: no answer).", NULL, 0);
	berth_metrics_declare(m, "berth_arm_throttled_total", BERTH_COUNTER, "ARM answers 429 Too Many Requests.", NULL, 0);
	berth_metrics_declare(m, "berth_rollout_step", BERTH_GAUGE,
			      "The step a container group's rollout is at (1-based; 0: none in progress).", NULL, 0);
	berth_metrics_declare(m, "berth_rollout_weight", BERTH_GAUGE,
			      "Traffic Manager weight of each revision of a rolled-out group.", NULL, 0);
	berth_metrics_declare(m, "berth_rollouts_total", BERTH_COUNTER, "Rollouts that ended, by result.", NULL, 0);
	berth_metrics_declare(m, "berth_leader", BERTH_GAUGE, "1 while this instance holds the leader lease, else 0.",
			      NULL, 0);
	berth_metrics_declare(m, "berth_autoscale_desired_replicas", BERTH_GAUGE,
			      "The replicas the autoscaler last decided for a service.", NULL, 0);
	berth_metrics_declare(m, "berth_autoscale_desired_capacity", BERTH_GAUGE,
			      "The capacity the cluster autoscaler last decided for a scale set.", NULL, 0);
	berth_metrics_declare(m, "berth_autoscale_decisions_total", BERTH_COUNTER,
			      "Autoscale evaluations of a service or a scale set, by direction (up, down, hold).", NULL, 0);
}

/* Each autoscale decision of a pass (a service's replicas, a scale set's capacity): its gauge,
 * its count, and a log line when it changes something. */
static void count_autoscale(run *r, json_t *items)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *kind = json_string_value(json_object_get(it, "kind"));
		const char *svc = json_string_value(json_object_get(it, "service"));
		const char *set = json_string_value(json_object_get(it, "scale_set"));
		const char *dir = json_string_value(json_object_get(it, "direction"));
		if (!kind || strcmp(kind, "autoscale") || (!svc && !set) || !dir)
			continue;
		const char *key = svc ? "service" : "scale_set", *name = svc ? svc : set;
		json_int_t to_n = json_integer_value(json_object_get(it, svc ? "replicas" : "capacity"));
		char *sl = berth_metrics_label(key, name), *dl = berth_metrics_label("direction", dir);
		char *both = xasprintf("%s,%s", sl, dl);
		berth_metrics_set(r->metrics, svc ? "berth_autoscale_desired_replicas" : "berth_autoscale_desired_capacity", sl,
				  (double)to_n);
		berth_metrics_add(r->metrics, "berth_autoscale_decisions_total", both, 1);
		if (strcmp(dir, "hold")) {
			char from[32], to[32];
			snprintf(from, sizeof(from), "%lld", (long long)json_integer_value(json_object_get(it, "current")));
			snprintf(to, sizeof(to), "%lld", (long long)to_n);
			run_log_line(&r->log, "info", "autoscale", key, name, "direction", dir, "from", from, "to", to, "reason",
				     json_string_value(json_object_get(it, "reason")), (const char *)NULL);
		}
		free(both);
		free(sl);
		free(dl);
	}
}

/* Rollout gauges from the status, and a count for each rollout seen to end. */
static void count_rollouts(run *r, json_t *rollouts)
{
	berth_metrics_reset(r->metrics, "berth_rollout_step");
	berth_metrics_reset(r->metrics, "berth_rollout_weight");
	if (!r->phases)
		r->phases = json_object();
	size_t i;
	json_t *ro;
	json_array_foreach(rollouts, i, ro) {
		const char *group = json_string_value(json_object_get(ro, "group"));
		const char *phase = json_string_value(json_object_get(ro, "phase"));
		if (!group || !phase)
			continue;
		char *gl = berth_metrics_label("group", group);
		bool moving = !strcmp(phase, "progressing") || !strcmp(phase, "rolling_back");
		json_t *step = json_object_get(ro, "step");
		berth_metrics_set(r->metrics, "berth_rollout_step", gl,
				  moving && json_is_integer(step) ? (double)json_integer_value(step) : 0);
		const char *rev;
		json_t *w;
		json_object_foreach(json_object_get(ro, "weights"), rev, w) {
			char *rl = berth_metrics_label("revision", rev);
			char *both = xasprintf("%s,%s", gl, rl);
			berth_metrics_set(r->metrics, "berth_rollout_weight", both, (double)json_integer_value(w));
			free(both);
			free(rl);
		}
		free(gl);
		const char *before = json_string_value(json_object_get(r->phases, group));
		bool was_moving = before && (!strcmp(before, "progressing") || !strcmp(before, "rolling_back"));
		if (was_moving && !moving && (!strcmp(phase, "succeeded") || !strcmp(phase, "failed")))
			berth_metrics_add(r->metrics, "berth_rollouts_total",
					  !strcmp(phase, "succeeded") ? "result=\"succeeded\"" : "result=\"rolled_back\"", 1);
		json_object_set_new(r->phases, group, json_string(phase));
	}
}

static void count_transports(run *r, berth_engine *e)
{
	berth_engine_stats st;
	berth_engine_get_stats(e, &st);
	berth_metrics_set(r->metrics, "berth_docker_requests_total", NULL, (double)st.docker_requests);
	for (long code = 0; code < ARM_STATUS_SLOTS; code++) {
		if (!st.arm_status[code])
			continue;
		char labels[32];
		snprintf(labels, sizeof(labels), "code=\"%ld\"", code);
		berth_metrics_set(r->metrics, "berth_arm_requests_total", labels, (double)st.arm_status[code]);
	}
	berth_metrics_set(r->metrics, "berth_arm_throttled_total", NULL, (double)st.arm_status[429]);
}

/* ---- one pass ---- */

typedef struct {
	const char *result;
	char *error;
	json_t *diagnostics;
	bool has_plan;
	size_t steps[4];
	plan_summary summary;
	bool changed;
	double requeue_after; /* seconds of the engine's clock */
	json_t *rollouts;
	json_t *decided; /* the status the plan was made from: its autoscale decisions are this pass's */
} outcome;

/* The checkout's root, so diagnostics can name files as they are in the repository. */
static char *checkout_root(const char *spec_path, const char *path)
{
	size_t n = strlen(spec_path), p = path ? strlen(path) : 0;
	while (p && path[p - 1] == '/')
		p--;
	if (p && n > p && !strncmp(spec_path + n - p, path, p) && spec_path[n - p - 1] == '/')
		return xstrndup(spec_path, n - p);
	return xasprintf("%s/", spec_path);
}

static spec *load_spec(const char *path, const char *root, outcome *oc)
{
	spec_diags *d = spec_diags_new();
	spec_options so = {0};
	spec *s = spec_load(path, &so, d);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	spec_diags_print(d, f);
	fclose(f);
	spec_diags_free(d);
	if (!s) {
		oc->diagnostics = json_array();
		for (const char *line = text; *line;) {
			size_t n = strcspn(line, "\n");
			if (n) {
				size_t skip = root && !strncmp(line, root, strlen(root)) ? strlen(root) : 0;
				char *one = xstrndup(line + skip, n - skip);
				json_array_append_new(oc->diagnostics, json_string(one));
				free(one);
			}
			line += n + (line[n] == '\n');
		}
		oc->error = xasprintf("the spec is invalid (%zu problem%s)", json_array_size(oc->diagnostics),
				      json_array_size(oc->diagnostics) == 1 ? "" : "s");
	}
	free(text);
	return s;
}

static void reconcile(run *r, berth_engine *e, const berth_revision *rev, outcome *oc)
{
	char *root = r->cfg->source.repo ? checkout_root(rev->spec_path, r->cfg->source.path) : NULL;
	spec *s = load_spec(rev->spec_path, root, oc);
	free(root);
	if (!s) {
		oc->result = "failure";
		return;
	}
	berth_reconcile_options o = {.mode = BERTH_MODE_APPLY, .opts = r->cfg->opts};
	o.opts.status_detail = true; /* the status page's node map */
	berth_result res;
	berth_error err = {0};
	int rc = berth_reconcile(e, spec_model(s), &o, &res, &err);
	char *now = iso_time(wall_now());
	pthread_mutex_lock(&r->mu);
	run_history_plan(&r->hist, now, rev->revision, res.plan);
	pthread_mutex_unlock(&r->mu);
	free(now);
	bool rolled = false;
	if (res.plan) {
		oc->has_plan = true;
		for (size_t i = 0; i < plan_count(res.plan); i++) {
			const plan_step *st = plan_step_at(res.plan, i);
			oc->steps[plan_step_action(st)]++;
			/* A rollout advancing is not drift being corrected. */
			if (!strcmp(plan_step_kind(st), "rollout"))
				rolled = true;
			else
				oc->changed = true;
		}
		oc->summary = res.summary;
	}
	oc->requeue_after = res.requeue_after;
	char *status = res.status ? xstrdup(res.status) : NULL;
	oc->decided = res.status ? json_loads(res.status, 0, NULL) : NULL;
	if ((rolled || oc->changed) && res.applied) {
		/* What the steps did, for /status, the page and the metrics (three reads per rollout,
		 * the swarm's and the other providers' lists again). */
		char *fresh = NULL;
		berth_error serr = {0};
		if (berth_status(e, spec_model(s), &fresh, &serr) == 0) {
			free(status);
			status = fresh;
		}
		berth_error_clear(&serr);
	}
	oc->rollouts = status ? json_loads(status, 0, NULL) : NULL;
	free(status);
	oc->result = rc == 0 ? "success" : "failure";
	if (rc != 0)
		oc->error = xstrdup(err.message ? err.message : berth_error_code_name(err.code));
	berth_error_clear(&err);
	berth_result_free(&res);
	spec_free(s);
}

static double backoff_delay(const run *r)
{
	double interval = r->cfg->interval_s > 0 ? r->cfg->interval_s : 60;
	double d = interval * pow(2, r->failures > 0 ? r->failures - 1 : 0);
	return d > 10 * interval ? 10 * interval : d;
}

/* The engine's events: the log, and the notifications (rollouts, failed steps). */
static void run_event(void *ctx, const berth_event *ev)
{
	run *r = ctx;
	run_log_event(&r->log, ev);
	notify_engine_event(r->notify, ev);
}

/* A reconcile's outcome as a notification and a commit status. */
static void announce(run *r, const char *revision, const outcome *oc, bool first, double start)
{
	bool ok = !strcmp(oc->result, "success");
	notify_outcome no = {.revision = revision, .ok = ok, .first = first, .changed = oc->changed, .error = oc->error,
			     .diagnostics = oc->diagnostics, .done = oc->summary.done, .time = start};
	memcpy(no.steps, oc->steps, sizeof(no.steps));
	notify_reconcile(r->notify, &no);
	char *applied = xasprintf("applied (%zu added, %zu changed, %zu replaced, %zu destroyed)", oc->steps[PLAN_CREATE],
				  oc->steps[PLAN_UPDATE], oc->steps[PLAN_REPLACE], oc->steps[PLAN_DELETE]);
	commit_status_post(r->cs, revision, ok ? COMMIT_SUCCESS : COMMIT_FAILURE, ok ? applied : oc->error);
	free(applied);
}

/* One fetch and, unless the commit failed before and its backoff runs, one reconcile. */
static bool pass(run *r, berth_engine *e, berth_source *src)
{
	double start = wall_now();
	berth_revision rev = {0};
	berth_error err = {0};
	outcome oc = {0};
	bool skipped = false;
	if (berth_source_fetch(src, &rev, &err) != 0) {
		oc.result = "failure";
		oc.error = xasprintf("fetching: %s", err.message ? err.message : berth_error_code_name(err.code));
		r->failures++;
		r->retry_at = start + backoff_delay(r);
	} else if (r->failed_rev && !strcmp(r->failed_rev, rev.revision) && start < r->retry_at) {
		skipped = true; /* this commit failed: it waits out its backoff, nothing is applied */
	} else {
		pthread_mutex_lock(&r->mu);
		run_history_commit(&r->hist, &rev);
		bool fresh = !r->fetched || strcmp(r->fetched, rev.revision);
		free(r->fetched);
		r->fetched = xstrdup(rev.revision);
		pthread_mutex_unlock(&r->mu);
		if (fresh) {
			berth_metrics_reset(r->metrics, "berth_source_revision_info");
			char *l = berth_metrics_label("revision", rev.revision);
			berth_metrics_set(r->metrics, "berth_source_revision_info", l, 1);
			free(l);
		}
		run_log_line(&r->log, "info", "reconciling", "revision", rev.revision, "signer", rev.signer,
			     (const char *)NULL);
		notify_set_revision(r->notify, rev.revision);
		commit_status_post(r->cs, rev.revision, COMMIT_PENDING, "berth is applying this commit");
		reconcile(r, e, &rev, &oc);
		bool first = false;
		double rate = berth_clock_rate(r->cfg->clock);
		r->requeue_at = oc.requeue_after > 0 ? wall_now() + oc.requeue_after / rate : 0;
		if (oc.rollouts) {
			count_rollouts(r, oc.rollouts);
			/* the decisions made, not the state after them (a scale-out then holds) */
			count_autoscale(r, oc.decided ? oc.decided : oc.rollouts);
			json_t *autoscale = of_kind(oc.rollouts, "autoscale");
			pthread_mutex_lock(&r->mu);
			/* Leaves only the rollouts: the rest (resources, autoscale) is the page's. */
			run_history_take_resources(&r->hist, oc.rollouts);
			json_decref(r->rollouts);
			r->rollouts = oc.rollouts;
			json_decref(r->autoscale);
			r->autoscale = autoscale;
			pthread_mutex_unlock(&r->mu);
			oc.rollouts = NULL;
		}
		if (!strcmp(oc.result, "success")) {
			pthread_mutex_lock(&r->mu);
			bool same = r->applied && !strcmp(r->applied, rev.revision);
			free(r->applied);
			r->applied = xstrdup(rev.revision);
			pthread_mutex_unlock(&r->mu);
			if (same && oc.changed)
				berth_metrics_add(r->metrics, "berth_drift_corrections_total", NULL, 1);
			first = !same;
			berth_metrics_set(r->metrics, "berth_last_success_timestamp_seconds", NULL, floor(wall_now()));
			free(r->failed_rev);
			r->failed_rev = NULL;
			r->failures = 0;
		} else if (r->leader && berth_cancel_fired(r->lost)) {
			/* leadership ended mid-apply: not the commit's fault, the next leader goes on */
		} else {
			if (!r->failed_rev || strcmp(r->failed_rev, rev.revision)) {
				free(r->failed_rev);
				r->failed_rev = xstrdup(rev.revision);
				r->failures = 0;
			}
			r->failures++;
			r->retry_at = wall_now() + backoff_delay(r);
		}
		announce(r, rev.revision, &oc, first, start);
	}
	double took = wall_now() - start;
	if (!skipped) {
		char label[32];
		snprintf(label, sizeof(label), "result=\"%s\"", oc.result);
		berth_metrics_add(r->metrics, "berth_reconcile_total", label, 1);
		berth_metrics_observe(r->metrics, "berth_reconcile_duration_seconds", NULL, took);
		count_transports(r, e);
		char secs[32];
		snprintf(secs, sizeof(secs), "%.3f", took);
		if (oc.error)
			run_log_line(&r->log, "error", oc.error, "revision", rev.revision, "duration_seconds", secs,
				     (const char *)NULL);
		else
			run_log_line(&r->log, "info", "reconciled", "revision", rev.revision, "duration_seconds", secs,
				     (const char *)NULL);
		for (size_t i = 0; oc.diagnostics && i < json_array_size(oc.diagnostics); i++)
			run_log_line(&r->log, "error", json_string_value(json_array_get(oc.diagnostics, i)), (const char *)NULL);
		pthread_mutex_lock(&r->mu);
		free(r->last_time);
		r->last_time = iso_time(start);
		run_history_record(&r->hist, r->last_time, rev.revision, oc.result, took, oc.error);
		r->last_duration = took;
		r->last_result = oc.result;
		free(r->last_error);
		r->last_error = oc.error;
		oc.error = NULL;
		json_decref(r->last_diagnostics);
		r->last_diagnostics = oc.diagnostics;
		oc.diagnostics = NULL;
		if (oc.has_plan) {
			r->has_plan = true;
			memcpy(r->last_steps, oc.steps, sizeof(oc.steps));
			r->last_summary = oc.summary;
		}
		pthread_mutex_unlock(&r->mu);
	} else {
		char secs[32];
		snprintf(secs, sizeof(secs), "%.0f", r->retry_at - start);
		run_log_line(&r->log, "info", "this revision failed before: waiting out its backoff", "revision",
			     rev.revision, "retry_in_seconds", secs, (const char *)NULL);
	}
	bool ok = !skipped && !strcmp(oc.result, "success");
	json_decref(oc.rollouts);
	json_decref(oc.decided);
	free(oc.error);
	json_decref(oc.diagnostics);
	berth_error_clear(&err);
	berth_revision_free(&rev);
	return ok;
}

/* Waits until deadline (wall clock), a webhook, or a stop. */
static void wait_for_work(run *r, double deadline)
{
	for (;;) {
		if (berth_cancel_fired(r->wake) || berth_cancel_fired(r->cfg->stop))
			return;
		double left = deadline - wall_now();
		if (left <= 0)
			return;
		struct pollfd p[2] = {{.fd = berth_cancel_fd(r->wake), .events = POLLIN},
				      {.fd = berth_cancel_fd(r->cfg->stop), .events = POLLIN}};
		(void)poll(p, 2, left > 3600 ? 3600000 : (int)ceil(left * 1000));
	}
}

/* After a stop the step in flight gets stop_grace_s to finish, then it is cancelled. */
static void *stop_watchdog(void *arg)
{
	run *r = arg;
	struct pollfd p[2] = {{.fd = berth_cancel_fd(r->cfg->stop), .events = POLLIN},
			      {.fd = berth_cancel_fd(r->done), .events = POLLIN}};
	while (!berth_cancel_fired(r->cfg->stop) && !berth_cancel_fired(r->done))
		(void)poll(p, 2, -1);
	if (berth_cancel_fired(r->done))
		return NULL;
	double grace = r->cfg->stop_grace_s > 0 ? r->cfg->stop_grace_s : 10;
	char secs[32];
	snprintf(secs, sizeof(secs), "%.0f", grace);
	run_log_line(&r->log, "info", "stopping: no further step starts; the one in flight may finish (again to exit at once)",
		     "grace_seconds", secs, (const char *)NULL);
	if (berth_sleep(NULL, grace, r->done)) {
		berth_cancel_fire(r->cfg->abort);
		berth_cancel_fire(r->lost);
	}
	return NULL;
}

int berth_run(const berth_run_config *cfg, berth_error *err)
{
	run r = {.cfg = cfg, .log = {.out = stderr, .json = cfg->json_logs}};
	pthread_mutex_init(&r.mu, NULL);
	pthread_mutex_init(&r.leader_mu, NULL);
	r.metrics = berth_metrics_new();
	declare_metrics(r.metrics);
	r.notify = notify_new(&cfg->notify, r.metrics, &r.log);
	r.wake = berth_cancel_new();
	r.done = berth_cancel_new();
	r.repo_shown = cfg->source.repo ? berth_url_redact(cfg->source.repo) : NULL;
	int status = 0;
	berth_source *src = NULL;
	berth_server *server = NULL;
	berth_engine *e = NULL;
	pthread_t watchdog;
	bool watching = false;
	if (cfg->commit_status.forge &&
	    !(r.cs = commit_status_new(&cfg->commit_status, cfg->source.repo, r.metrics, &r.log, err))) {
		status = 2;
		goto out;
	}
	if (berth_source_open(&cfg->source, &src, err) != 0) {
		status = 2;
		goto out;
	}
	if (cfg->listen) {
		char *ref = !cfg->source.ref ? xstrdup("refs/heads/main")
			    : !strncmp(cfg->source.ref, "refs/", 5) ? xstrdup(cfg->source.ref)
								     : xasprintf("refs/heads/%s", cfg->source.ref);
		berth_server_config sc = {.listen = cfg->listen, .webhook_secret = cfg->webhook_secret, .watched_ref = ref,
					  .on_push = on_push, .alive = is_alive, .ready = is_ready,
					  .status_json = status_json, .ctx = &r, .metrics = r.metrics};
		int rc = berth_server_start(&sc, &server, err);
		free(ref);
		if (rc != 0) {
			status = 2;
			goto out;
		}
		char port[16];
		snprintf(port, sizeof(port), "%d", berth_server_port(server));
		run_log_line(&r.log, "info", "listening", "listen", cfg->listen, "port", port, (const char *)NULL);
	}
	berth_engine_config ec = {.cancel = cfg->abort, .drain = cfg->stop, .events = {.fn = run_event, .ctx = &r},
				  .clock = cfg->clock};
	if (cfg->leader) {
		r.lost = berth_cancel_new();
		berth_leader_hooks hooks = {.on_acquired = on_acquired, .on_lost = on_lost, .ctx = &r, .log = &r.log};
		if (berth_leader_start(cfg->leader, &hooks, &r.leader, err) != 0) {
			status = 2;
			goto out;
		}
		set_leader_metric(&r);
		ec.cancel = r.lost;
		ec.before_step = before_step;
		ec.before_step_ctx = &r;
	}
	e = berth_engine_new(&ec);
	watching = pthread_create(&watchdog, NULL, stop_watchdog, &r) == 0;
	if (!watching)
		run_log_line(&r.log, "warning", "cannot start the stop watchdog: a stop waits for the step in flight",
			     (const char *)NULL);
	double interval = cfg->interval_s > 0 ? cfg->interval_s : 60;
	run_log_line(&r.log, "info", "berth run started", "repo", r.repo_shown, "ref",
		     cfg->source.repo ? (cfg->source.ref ? cfg->source.ref : "main") : NULL, (const char *)NULL);
	while (!berth_cancel_fired(cfg->stop)) {
		berth_cancel_reset(r.wake); /* a wake-up from now on queues exactly one more pass */
		if (!leading(&r)) {
			/* a follower: serves its endpoints, waits to lead (on_acquired wakes it) */
			pthread_mutex_lock(&r.mu);
			r.ready = true;
			pthread_mutex_unlock(&r.mu);
			wait_for_work(&r, wall_now() + interval);
			continue;
		}
		if (r.leader)
			berth_cancel_reset(r.lost); /* nobody waits on it between passes */
		bool ok = pass(&r, e, src);
		pthread_mutex_lock(&r.mu);
		r.ready = true;
		pthread_mutex_unlock(&r.mu);
		if (cfg->once) {
			status = ok ? 0 : 1;
			break;
		}
		double next = wall_now() + interval;
		if (r.failed_rev && r.retry_at < next)
			next = r.retry_at;
		if (r.requeue_at > 0 && r.requeue_at < next)
			next = r.requeue_at; /* a rollout's pause ends, or its health is due a look */
		wait_for_work(&r, next);
	}
	if (berth_cancel_fired(cfg->stop))
		run_log_line(&r.log, "info", "stopped", (const char *)NULL);
out:
	berth_cancel_fire(r.done);
	if (watching)
		pthread_join(watchdog, NULL);
	berth_leader_stop(r.leader); /* releases the lease: a follower leads at once */
	berth_server_stop(server);
	berth_engine_free(e);
	notify_free(r.notify);
	commit_status_free(r.cs);
	berth_source_free(src);
	berth_metrics_free(r.metrics);
	berth_cancel_free(r.wake);
	berth_cancel_free(r.done);
	berth_cancel_free(r.lost);
	free(r.fetched);
	free(r.applied);
	free(r.last_time);
	free(r.last_error);
	json_decref(r.last_diagnostics);
	json_decref(r.rollouts);
	json_decref(r.autoscale);
	run_history_free(&r.hist);
	json_decref(r.phases);
	free(r.failed_rev);
	free(r.repo_shown);
	pthread_mutex_destroy(&r.mu);
	pthread_mutex_destroy(&r.leader_mu);
	return status;
}
