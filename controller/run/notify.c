/* Notifications: the payload, its signature, and one outbox for every --notify URL (notify.h). */
#include "run/notify.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run/outbox.h"
#include "spec/xalloc.h"

struct notify {
	notify_config cfg;
	outbox *out;
	pthread_mutex_t mu;
	char *revision;
	json_t *failed; /* the steps that failed since notify_set_revision: "ACTION KIND NAME: ERROR" */
};

static char *iso(double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* The line people read: "berth: apply failed at 3f2a91c: ...", errors below it. */
static char *text_of(const notify_event *ev)
{
	char *what = xstrdup(ev->event);
	for (char *c = what; *c; c++)
		if (*c == '_')
			*c = ' ';
	/* A commit is shown as git shows it short; a directory's digest whole. */
	int shown = ev->revision && strlen(ev->revision) == 40 && strspn(ev->revision, "0123456789abcdef") == 40 ? 7 : -1;
	char *t = ev->revision ? xasprintf("berth: %s at %.*s: %s", what, shown < 0 ? (int)strlen(ev->revision) : shown,
					   ev->revision, ev->summary ? ev->summary : "")
			       : xasprintf("berth: %s: %s", what, ev->summary ? ev->summary : "");
	free(what);
	for (size_t i = 0; i < ev->n_errors; i++) {
		char *more = xasprintf("%s\n%s", t, ev->errors[i]);
		free(t);
		t = more;
	}
	return t;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

char *notify_payload(const notify_event *ev)
{
	json_t *errors = json_array();
	for (size_t i = 0; i < ev->n_errors; i++)
		json_array_append_new(errors, json_string(ev->errors[i]));
	char *when = iso(ev->time), *text = text_of(ev);
	json_t *j = json_pack("{s:s, s:o, s:s, s:o, s:s, s:s}", "event", ev->event, "revision", str_or_null(ev->revision),
			      "summary", ev->summary ? ev->summary : "", "errors", errors, "time", when, "text", text);
	if (ev->rollout) {
		const berth_rollout_event *r = ev->rollout;
		json_object_set_new(j, "rollout",
				    json_pack("{s:s, s:o, s:i, s:i, s:o, s:o}", "group", r->group, "revision",
					      str_or_null(r->revision), "step", r->step, "steps", r->steps, "reason",
					      str_or_null(r->reason), "from", str_or_null(r->from)));
	}
	char *body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	free(when);
	free(text);
	return body;
}

char *notify_signature(const char *secret, const char *body)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), md, &len))
		abort(); /* only out of memory */
	char *out = xmalloc(7 + 2 * len + 1);
	memcpy(out, "sha256=", 7);
	for (unsigned int i = 0; i < len; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return out;
}

notify *notify_new(const notify_config *cfg, berth_metrics *metrics, const run_log *log)
{
	if (!cfg || !cfg->n_urls)
		return NULL;
	berth_metrics_declare(metrics, "berth_notifications_total", BERTH_COUNTER,
			      "Notifications, by result (sent: a 2xx answer; failed: given up after retries).", NULL, 0);
	berth_metrics_declare(metrics, "berth_notifications_dropped_total", BERTH_COUNTER,
			      "Notifications dropped because the queue was full (a slow or dead receiver).", NULL, 0);
	notify *n = xcalloc(1, sizeof(*n));
	n->cfg = *cfg;
	outbox_config oc = {.what = "notification", .capacity = cfg->queue, .metrics = metrics,
			    .sent_metric = "berth_notifications_total", .dropped_metric = "berth_notifications_dropped_total",
			    .log = log};
	n->out = outbox_new(&oc);
	if (!n->out)
		run_log_line(log, "error", "cannot start the notification sender: notifications are off", (const char *)NULL);
	pthread_mutex_init(&n->mu, NULL);
	n->failed = json_array();
	return n;
}

void notify_send(notify *n, const notify_event *ev)
{
	if (!n || !n->out)
		return;
	char *body = notify_payload(ev);
	char *sig = n->cfg.secret ? notify_signature(n->cfg.secret, body) : NULL;
	char *header = sig ? xasprintf("X-Signature-256: %s", sig) : NULL;
	char *event = xasprintf("X-Berth-Event: %s", ev->event);
	const char *headers[] = {event, header};
	for (size_t i = 0; i < n->cfg.n_urls; i++)
		outbox_post(n->out, n->cfg.urls[i], headers, header ? 2 : 1, body);
	free(event);
	free(header);
	free(sig);
	free(body);
}

void notify_set_revision(notify *n, const char *revision)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	free(n->revision);
	n->revision = revision ? xstrdup(revision) : NULL;
	json_array_clear(n->failed);
	pthread_mutex_unlock(&n->mu);
}

void notify_engine_event(notify *n, const berth_event *ev)
{
	if (n && ev->kind == BERTH_EV_STEP_FAILED && ev->step) {
		const plan_step *st = ev->step;
		char *line = xasprintf("%s %s %s: %s", plan_action_name(plan_step_action(st)), plan_step_kind(st),
				       plan_step_name(st), ev->error && ev->error->message ? ev->error->message : "failed");
		pthread_mutex_lock(&n->mu);
		json_array_append_new(n->failed, json_string(line));
		pthread_mutex_unlock(&n->mu);
		free(line);
		return;
	}
	if (!n || ev->kind != BERTH_EV_ROLLOUT || !ev->rollout)
		return;
	const berth_rollout_event *r = ev->rollout;
	char *summary = r->reason ? xasprintf("rollout %s: %s; rolling back to %s", r->group, r->reason, r->from ? r->from : "")
				  : xasprintf("rollout %s: step %d/%d", r->group, r->step, r->steps);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&n->mu);
	char *rev = n->revision ? xstrdup(n->revision) : NULL;
	pthread_mutex_unlock(&n->mu);
	const char *errors[] = {r->reason};
	notify_event ne = {.event = r->reason ? "rollout_rolled_back" : "rollout_step", .revision = rev, .summary = summary,
			   .errors = errors, .n_errors = r->reason ? 1 : 0, .time = (double)ts.tv_sec, .rollout = r};
	notify_send(n, &ne);
	free(rev);
	free(summary);
}

void notify_free(notify *n)
{
	if (!n)
		return;
	outbox_free(n->out, 2);
	pthread_mutex_destroy(&n->mu);
	json_decref(n->failed);
	free(n->revision);
	free(n);
}

void notify_reconcile(notify *n, const notify_outcome *o)
{
	if (!n || (o->ok && !o->first && !o->changed))
		return; /* a reconcile that found nothing to do tells nothing */
	size_t k[4];
	memcpy(k, o->steps, sizeof(k));
	char *summary;
	if (!o->ok)
		summary = xstrdup(o->error ? o->error : "the reconcile failed");
	else if (!k[0] && !k[1] && !k[2] && !k[3])
		summary = xstrdup("no changes: the live state already matches");
	else
		summary = xasprintf("%zu added, %zu changed, %zu replaced, %zu destroyed (%zu step%s done)", k[PLAN_CREATE],
				    k[PLAN_UPDATE], k[PLAN_REPLACE], k[PLAN_DELETE], o->done, o->done == 1 ? "" : "s");
	/* The errors: the spec's problems, else the failed steps' errors, else the reconcile's. */
	json_t *errs = json_array();
	pthread_mutex_lock(&n->mu);
	if (!o->ok)
		json_array_extend(errs, o->diagnostics && json_array_size(o->diagnostics) ? (json_t *)o->diagnostics : n->failed);
	pthread_mutex_unlock(&n->mu);
	if (!o->ok && !json_array_size(errs))
		json_array_append_new(errs, json_string(summary));
	size_t ne = json_array_size(errs);
	const char **errors = xcalloc(ne ? ne : 1, sizeof(char *));
	for (size_t i = 0; i < ne; i++)
		errors[i] = json_string_value(json_array_get(errs, i));
	notify_event ev = {.event = !o->ok ? "apply_failed" : o->first ? "apply_succeeded" : "drift_corrected",
			   .revision = o->revision, .summary = summary, .errors = errors, .n_errors = ne, .time = o->time};
	notify_send(n, &ev);
	free(errors);
	json_decref(errs);
	free(summary);
}
