#include "run/run_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void now_iso(char buf[64])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void vline(const run_log *l, const char *level, const char *msg, va_list ap)
{
	char t[64];
	now_iso(t);
	FILE *out = l && l->out ? l->out : stderr;
	char *text = NULL;
	if (l && l->json) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "time", t, "level", level, "msg", msg ? msg : "");
		const char *k;
		while ((k = va_arg(ap, const char *))) {
			const char *v = va_arg(ap, const char *);
			if (v)
				json_object_set_new(j, k, json_string(v));
		}
		text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			abort();
		fprintf(f, "%s %s %s", t, level, msg ? msg : "");
		const char *k;
		while ((k = va_arg(ap, const char *))) {
			const char *v = va_arg(ap, const char *);
			if (v)
				fprintf(f, " %s=%s", k, v);
		}
		fclose(f);
		text = buf;
	}
	pthread_mutex_lock(&log_mu);
	fprintf(out, "%s\n", text ? text : "");
	fflush(out);
	pthread_mutex_unlock(&log_mu);
	free(text);
}

void run_log_line(const run_log *l, const char *level, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	vline(l, level, msg, ap);
	va_end(ap);
}

static void logf_fields(const run_log *l, const char *level, const char *k1, const char *v1, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void logf_fields(const run_log *l, const char *level, const char *k1, const char *v1, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	run_log_line(l, level, msg, k1, v1, (const char *)NULL);
	free(msg);
}

void run_log_event(void *ctx, const berth_event *ev)
{
	const run_log *l = ctx;
	const plan_step *s = ev->step;
	const char *action = s ? plan_action_name(plan_step_action(s)) : "";
	const char *kind = s ? plan_step_kind(s) : "", *name = s ? plan_step_name(s) : "";
	const char *why = ev->error && ev->error->message ? ev->error->message : "";
	switch (ev->kind) {
	case BERTH_EV_INFO: run_log_line(l, "info", ev->message, (const char *)NULL); break;
	case BERTH_EV_WARNING: run_log_line(l, "warning", ev->message, (const char *)NULL); break;
	case BERTH_EV_TRANSPORT: run_log_line(l, "info", ev->message, (const char *)NULL); break;
	case BERTH_EV_STEP_START: logf_fields(l, "info", "event", "step_started", "%s %s %s", action, kind, name); break;
	case BERTH_EV_STEP_PROGRESS: logf_fields(l, "info", "event", "step_progress", "%s", ev->message); break;
	case BERTH_EV_STEP_DONE: logf_fields(l, "info", "event", "step_done", "%s %s %s: done", action, kind, name); break;
	case BERTH_EV_STEP_FAILED:
		logf_fields(l, "error", "event", "step_failed", "%s %s %s: FAILED: %s", action, kind, name, why);
		break;
	case BERTH_EV_STEP_SKIPPED:
		logf_fields(l, "warning", "event", "step_skipped", "%s %s %s: %s", action, kind, name, why);
		break;
	case BERTH_EV_PLAN_READY:
		logf_fields(l, "info", "event", "planned", "plan: %zu steps", plan_count(ev->plan));
		break;
	case BERTH_EV_APPLIED:
	case BERTH_EV_ROLLOUT: break;
	}
}
