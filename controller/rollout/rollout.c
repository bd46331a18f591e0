/* The rollout decision: see rollout.h. Each call answers one question — what is the next thing
 * to do — so the driver is a loop of observe, decide, act, and a crash anywhere is a restart of
 * that loop from what is live. */
#include "rollout/rollout.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec/xalloc.h"

static const char *const phase_names[] = {
	[ROLLOUT_NONE] = "none",
	[ROLLOUT_PROGRESSING] = "progressing",
	[ROLLOUT_ROLLING_BACK] = "rolling_back",
	[ROLLOUT_SUCCEEDED] = "succeeded",
	[ROLLOUT_FAILED] = "failed",
};

const char *rollout_phase_name(rollout_phase p)
{
	return p <= ROLLOUT_FAILED ? phase_names[p] : "none";
}

/* The tag's own separators never appear in a value. */
static void copy_clean(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	for (; src && *src && n + 1 < cap; src++)
		dst[n++] = (*src == ';' || *src == '=' || (unsigned char)*src < 0x20) ? ' ' : *src;
	dst[n] = 0;
}

char *rollout_tag_format(const rollout_tag *t)
{
	char *s = xasprintf("phase=%s;group=%s;rev=%s;from=%s;step=%d;since=%lld;healthy=%lld;promote=%d;reason=%s",
			    rollout_phase_name(t->phase), t->group, t->rev, t->from, t->step, t->since, t->healthy,
			    t->promote ? 1 : 0, t->reason);
	if (strlen(s) > 256)
		s[256] = 0; /* only the reason can be long, and it comes last */
	return s;
}

bool rollout_tag_parse(const char *s, rollout_tag *t)
{
	memset(t, 0, sizeof(*t));
	t->healthy = -1;
	if (!s)
		return false;
	bool have_phase = false, have_rev = false;
	char *copy = xstrdup(s), *save = NULL;
	for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = 0;
		const char *k = kv, *v = eq + 1;
		if (!strcmp(k, "phase")) {
			for (int p = ROLLOUT_PROGRESSING; p <= ROLLOUT_FAILED; p++)
				if (!strcmp(v, phase_names[p])) {
					t->phase = (rollout_phase)p;
					have_phase = true;
				}
		} else if (!strcmp(k, "group")) {
			copy_clean(t->group, sizeof(t->group), v);
		} else if (!strcmp(k, "rev")) {
			copy_clean(t->rev, sizeof(t->rev), v);
			have_rev = *t->rev != 0;
		} else if (!strcmp(k, "from")) {
			copy_clean(t->from, sizeof(t->from), v);
		} else if (!strcmp(k, "step")) {
			/* Anyone with access to the profile can edit its tags: clamp what is read. */
			long step = strtol(v, NULL, 10);
			t->step = step < -1 ? -1 : step > ROLLOUT_MAX_STEPS ? ROLLOUT_MAX_STEPS : (int)step;
		} else if (!strcmp(k, "since")) {
			t->since = strtoll(v, NULL, 10);
		} else if (!strcmp(k, "healthy")) {
			t->healthy = strtoll(v, NULL, 10);
		} else if (!strcmp(k, "promote")) {
			t->promote = !strcmp(v, "1");
		} else if (!strcmp(k, "reason")) {
			copy_clean(t->reason, sizeof(t->reason), v);
		}
	}
	free(copy);
	if (!have_phase || !have_rev) {
		memset(t, 0, sizeof(*t));
		t->healthy = -1;
		return false;
	}
	return true;
}

void rollout_cfg_from_spec(const struct spec_model *m, const spec_container_group *g, rollout_cfg *out)
{
	const spec_rollout *r = &g->rollout;
	memset(out, 0, sizeof(*out));
	out->n_steps = (int)(r->n_steps < ROLLOUT_MAX_STEPS ? r->n_steps : ROLLOUT_MAX_STEPS);
	for (int i = 0; i < out->n_steps; i++) {
		out->weight[i] = (int)r->steps[i].weight;
		out->pause[i] = (double)spec_rollout_pause_s(m, g, (size_t)i);
	}
	out->monitor = r->monitor;
	out->probe = r->probe;
	out->probe_expect = r->probe_expect > 0 ? (int)r->probe_expect : 200;
	out->max_restarts = r->max_restarts > 0 ? (int)r->max_restarts : 0;
	out->timeout = r->timeout_ns > 0 ? (double)r->timeout_ns / 1e9 : 900;
	/* Health is looked at as often as it can change: the probe's interval, else the monitor's. */
	const spec_traffic_manager *tm = spec_rollout_profile(m, g);
	double monitor_interval = tm && tm->monitor_interval > 0 ? (double)tm->monitor_interval : 30;
	out->poll = r->probe && r->probe_interval_ns > 0 ? (double)r->probe_interval_ns / 1e9 : monitor_interval;
}

void rollout_step_weights(const rollout_cfg *cfg, int k, int *new_w, int *old_w)
{
	if (k < 0 || k >= cfg->n_steps || cfg->weight[k] >= 100) {
		*new_w = ROLLOUT_WEIGHT_TOTAL;
		*old_w = 0;
		return;
	}
	*new_w = cfg->weight[k] * (ROLLOUT_WEIGHT_TOTAL / 100);
	*old_w = ROLLOUT_WEIGHT_TOTAL - *new_w;
}

static void fmt_duration(char *buf, size_t cap, double s)
{
	long long v = (long long)(s + 0.5);
	if (v >= 3600 && v % 3600 == 0)
		snprintf(buf, cap, "%lldh", v / 3600);
	else if (v >= 60 && v % 60 == 0)
		snprintf(buf, cap, "%lldm", v / 60);
	else if (v >= 60)
		snprintf(buf, cap, "%lldm%llds", v / 60, v % 60);
	else
		snprintf(buf, cap, "%llds", v);
}

char *rollout_describe(const rollout_cfg *cfg, const char *from, const char *to)
{
	char *s = xasprintf("%s \u2192 %s, ", from && *from ? from : "(none)", to);
	for (int i = 0; i < cfg->n_steps; i++) {
		char *next = xasprintf("%s%s%d%%", s, i ? " \u2192 " : "", cfg->weight[i]);
		free(s);
		s = next;
	}
	bool same = true;
	for (int i = 1; i + 1 < cfg->n_steps; i++)
		same = same && cfg->pause[i] == cfg->pause[0];
	char d[32];
	if (same || cfg->n_steps <= 1) {
		fmt_duration(d, sizeof(d), cfg->n_steps ? cfg->pause[0] : 0);
		char *next = xasprintf("%s, pause %s", s, d);
		free(s);
		return next;
	}
	char *next = xasprintf("%s, pauses", s);
	free(s);
	s = next;
	for (int i = 0; i + 1 < cfg->n_steps; i++) {
		fmt_duration(d, sizeof(d), cfg->pause[i]);
		next = xasprintf("%s%s %s", s, i ? "," : "", d);
		free(s);
		s = next;
	}
	return s;
}

const char *rollout_endpoint_revision(const char *group, const char *endpoint)
{
	size_t n = strlen(group);
	if (!endpoint || strlen(endpoint) != n + 1 + ROLLOUT_REV_LEN || strncasecmp(endpoint, group, n) || endpoint[n] != '-')
		return NULL;
	for (const char *c = endpoint + n + 1; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return NULL;
	return endpoint + n + 1;
}

static const rollout_revision *find(const rollout_view *v, const char *rev)
{
	for (size_t i = 0; rev && *rev && i < v->n_revs; i++)
		if (!strcmp(v->revs[i].rev, rev))
			return &v->revs[i];
	return NULL;
}

static const rollout_tag *own_tag(const rollout_view *v)
{
	return v->has_tag && v->tag.phase != ROLLOUT_NONE && !strcmp(v->tag.group, v->group) ? &v->tag : NULL;
}

const char *rollout_stable(const rollout_view *v)
{
	const rollout_tag *t = own_tag(v);
	if (t) {
		const char *s = t->phase == ROLLOUT_SUCCEEDED ? t->rev : t->from;
		const rollout_revision *r = find(v, s);
		if (r && r->group)
			return r->rev;
	}
	/* Without a usable tag: the routed revision with the most weight, else any group. */
	const rollout_revision *best = NULL;
	for (size_t i = 0; i < v->n_revs; i++) {
		const rollout_revision *r = &v->revs[i];
		if (r->group && r->endpoint && (!best || r->weight > best->weight))
			best = r;
	}
	for (size_t i = 0; !best && i < v->n_revs; i++)
		if (v->revs[i].group && v->revs[i].running)
			best = &v->revs[i];
	return best ? best->rev : "";
}

static void act(rollout_action *a, rollout_op op, const char *rev, int weight, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void act(rollout_action *a, rollout_op op, const char *rev, int weight, const char *fmt, ...)
{
	a->op = op;
	snprintf(a->rev, sizeof(a->rev), "%s", rev ? rev : "");
	a->weight = weight;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
}

static void tag(rollout_action *a, const rollout_tag *t, const char *why)
{
	a->op = RO_TAG;
	a->tag = *t;
	snprintf(a->why, sizeof(a->why), "%s", why);
}

static void wait_for(rollout_action *a, double s, const char *why)
{
	a->op = RO_WAIT;
	a->wait_s = s > 0.001 ? s : 0.001;
	snprintf(a->why, sizeof(a->why), "%s", why);
}

/* Removes what belongs to no revision that is kept: endpoints first (traffic), then groups. */
static bool cleanup(const rollout_view *v, const char *keep1, const char *keep2, rollout_action *a)
{
	for (size_t i = 0; i < v->n_revs; i++) {
		const rollout_revision *r = &v->revs[i];
		if (!strcmp(r->rev, keep1) || (keep2 && !strcmp(r->rev, keep2)))
			continue;
		if (r->endpoint) {
			act(a, RO_UNROUTE, r->rev, 0, "remove the endpoint of revision %s (not kept)", r->rev);
			return true;
		}
	}
	for (size_t i = 0; i < v->n_revs; i++) {
		const rollout_revision *r = &v->revs[i];
		if (strcmp(r->rev, keep1) && (!keep2 || strcmp(r->rev, keep2)) && r->group) {
			act(a, RO_DELETE, r->rev, 0, "delete revision %s (not kept)", r->rev);
			return true;
		}
	}
	return false;
}

static void rollback(const rollout_view *v, const rollout_tag *t, rollout_action *a)
{
	const rollout_revision *s = find(v, t->from), *n = find(v, t->rev);
	if (*t->from && (!s || !s->group)) {
		act(a, RO_ERROR, t->from, 0, "cannot roll back %s: the stable revision %s has no container group any more",
		    t->rev, t->from);
		return;
	}
	if (s && (!s->endpoint || s->weight != ROLLOUT_WEIGHT_TOTAL)) {
		act(a, RO_WEIGHT, s->rev, ROLLOUT_WEIGHT_TOTAL, "roll back: all traffic to %s", s->rev);
		return;
	}
	if (n && n->endpoint) {
		act(a, RO_UNROUTE, n->rev, 0, "roll back: remove the endpoint of %s", n->rev);
		return;
	}
	if (n && n->group) {
		act(a, RO_DELETE, n->rev, 0, "roll back: delete revision %s", n->rev);
		return;
	}
	rollout_tag done = *t;
	done.phase = ROLLOUT_FAILED;
	tag(a, &done, "rolled back");
}

static void fail(const rollout_view *v, const rollout_tag *t, rollout_action *a, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(const rollout_view *v, const rollout_tag *t, rollout_action *a, const char *fmt, ...)
{
	rollout_tag rb = *t;
	rb.phase = ROLLOUT_ROLLING_BACK;
	char reason[sizeof(rb.reason)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	copy_clean(rb.reason, sizeof(rb.reason), reason);
	tag(a, &rb, reason);
	a->failed_now = true;
	(void)v;
}

typedef enum { H_OK, H_PENDING, H_BAD } health;

/* The new revision's health at this moment; what is not right is said in why. */
static health check(const rollout_cfg *cfg, const rollout_view *v, const rollout_revision *n, bool was_healthy,
		    char *why, size_t cap)
{
	health h = H_OK;
	*why = 0;
	if (cfg->monitor) {
		const char *m = n->monitor ? n->monitor : "unknown";
		if (!n->endpoint) {
			h = H_PENDING;
			snprintf(why, cap, "no endpoint yet");
		} else if (!strcmp(m, cfg->monitor)) {
			/* healthy */
		} else if (!strcmp(m, "CheckingEndpoint") || !strcmp(m, "unknown")) {
			h = H_PENDING;
			snprintf(why, cap, "monitor %s", m);
		} else {
			/* Degraded, Stopped, Disabled, Inactive: the monitor has its own tolerance already. */
			h = H_BAD;
			snprintf(why, cap, "monitor %s", m);
		}
	}
	if (cfg->probe && v->probe != cfg->probe_expect && h != H_BAD) {
		h = was_healthy ? H_BAD : H_PENDING;
		size_t used = strlen(why);
		if (v->probe > 0)
			snprintf(why + used, cap - used, "%sprobe answered %d, expected %d", used ? ", " : "", v->probe,
				 cfg->probe_expect);
		else
			snprintf(why + used, cap - used, "%sprobe had no answer", used ? ", " : "");
	}
	return h;
}

static void advance(const rollout_cfg *cfg, const rollout_view *v, const rollout_tag *t, rollout_action *a)
{
	const rollout_revision *n = find(v, t->rev), *s = find(v, t->from);
	int k = t->step, last = cfg->n_steps - 1;
	if (k > last)
		k = last;
	double in_step = v->now - (double)t->since;
	char why[200];
	if (!n || !n->group) {
		if (k < 0) {
			act(a, RO_CREATE, t->rev, 0, "start revision %s", t->rev);
			return;
		}
		fail(v, t, a, "revision %s has no container group any more", t->rev);
		return;
	}
	if (n->failed) {
		fail(v, t, a, "revision %s: a container terminated", t->rev);
		return;
	}
	if (n->restarts > cfg->max_restarts) {
		fail(v, t, a, "revision %s: %d container restarts (at most %d tolerated)", t->rev, n->restarts,
		     cfg->max_restarts);
		return;
	}
	if (!n->running) {
		if (in_step > cfg->timeout) {
			fail(v, t, a, "revision %s: containers not running within the timeout", t->rev);
			return;
		}
		double left = cfg->timeout - in_step;
		snprintf(why, sizeof(why), "waiting for revision %s to run", t->rev);
		wait_for(a, left < 5 ? left : 5, why);
		return;
	}
	if (k < 0) {
		rollout_tag next = *t;
		next.step = 0;
		next.since = (long long)v->now;
		next.healthy = -1;
		char w[64];
		snprintf(w, sizeof(w), "step 1/%d (%d%%) begins", cfg->n_steps, cfg->weight[0]);
		tag(a, &next, w);
		return;
	}
	int want_new, want_old;
	rollout_step_weights(cfg, k, &want_new, &want_old);
	if (!n->endpoint || n->weight != want_new) {
		act(a, RO_WEIGHT, n->rev, want_new, "step %d/%d (%d%%): %s to %d", k + 1, cfg->n_steps, cfg->weight[k],
		    n->rev, want_new);
		return;
	}
	if (want_old > 0 && s && s->group && (!s->endpoint || s->weight != want_old)) {
		act(a, RO_WEIGHT, s->rev, want_old, "step %d/%d (%d%%): %s to %d", k + 1, cfg->n_steps, cfg->weight[k],
		    s->rev, want_old);
		return;
	}
	bool was_healthy = t->healthy >= 0;
	health h = check(cfg, v, n, was_healthy, why, sizeof(why));
	if (h == H_BAD) {
		fail(v, t, a, "step %d/%d (%d%%): %s", k + 1, cfg->n_steps, cfg->weight[k], why);
		return;
	}
	if (h == H_PENDING) {
		if (in_step > cfg->timeout) {
			fail(v, t, a, "step %d/%d (%d%%): not healthy within the timeout (%s)", k + 1, cfg->n_steps,
			     cfg->weight[k], why);
			return;
		}
		double left = cfg->timeout - in_step;
		char w[240];
		snprintf(w, sizeof(w), "step %d/%d (%d%%): waiting for health: %s", k + 1, cfg->n_steps, cfg->weight[k], why);
		wait_for(a, left < cfg->poll ? left : cfg->poll, w);
		return;
	}
	if (k == last) {
		/* All traffic is on the new revision once the old endpoint is gone; then the old group. */
		if (s && s->endpoint) {
			act(a, RO_UNROUTE, s->rev, 0, "step %d/%d (100%%): remove the endpoint of %s", k + 1, cfg->n_steps,
			    s->rev);
			return;
		}
		if (s && s->group) {
			act(a, RO_DELETE, s->rev, 0, "step %d/%d (100%%): delete revision %s", k + 1, cfg->n_steps, s->rev);
			return;
		}
		rollout_tag done = *t;
		done.phase = ROLLOUT_SUCCEEDED;
		done.step = last;
		done.promote = false;
		tag(a, &done, "rolled out");
		return;
	}
	if (!was_healthy) {
		rollout_tag next = *t;
		next.healthy = (long long)v->now;
		char w[96];
		snprintf(w, sizeof(w), "step %d/%d (%d%%): healthy, the pause begins", k + 1, cfg->n_steps, cfg->weight[k]);
		tag(a, &next, w);
		return;
	}
	double pause = t->promote ? 0 : cfg->pause[k];
	double left = (double)t->healthy + pause - v->now;
	if (left > 0) {
		char w[240];
		snprintf(w, sizeof(w), "step %d/%d (%d%%): healthy, %.0fs left in the pause", k + 1, cfg->n_steps,
			 cfg->weight[k], left);
		wait_for(a, left < cfg->poll ? left : cfg->poll, w);
		return;
	}
	rollout_tag next = *t;
	next.step = k + 1;
	next.since = (long long)v->now;
	next.healthy = -1;
	char w[96];
	snprintf(w, sizeof(w), "step %d/%d (%d%%) begins%s", k + 2, cfg->n_steps, cfg->weight[k + 1],
		 t->promote && cfg->pause[k] > 0 ? " (promoted: pause skipped)" : "");
	tag(a, &next, w);
}

void rollout_next(const rollout_cfg *cfg, const rollout_view *v, rollout_action *a)
{
	memset(a, 0, sizeof(*a));
	const rollout_tag *t = own_tag(v);
	rollout_tag fresh = {.group = {0}, .healthy = -1};
	snprintf(fresh.group, sizeof(fresh.group), "%s", v->group);
	if (t && t->phase == ROLLOUT_ROLLING_BACK) {
		rollback(v, t, a);
		return;
	}
	if (t && t->phase == ROLLOUT_PROGRESSING) {
		if (strcmp(t->rev, v->desired)) {
			fail(v, t, a, "abandoned: the spec now wants revision %s", v->desired);
			a->failed_now = false;
			return;
		}
		advance(cfg, v, t, a);
		return;
	}
	const char *stable = rollout_stable(v);
	if (!*stable || !strcmp(stable, v->desired)) {
		/* In place: the first revision (no traffic to protect yet), or the stable one kept whole. */
		const rollout_revision *d = find(v, v->desired);
		if (!d || !d->group) {
			act(a, RO_CREATE, v->desired, 0, "start revision %s", v->desired);
			return;
		}
		/* A routed revision serves; only one about to be routed must be seen running first. */
		if (!d->endpoint && !d->running) {
			if (d->failed || d->restarts > cfg->max_restarts) {
				act(a, RO_ERROR, d->rev, 0, "revision %s does not run (a container terminated or restarted)", d->rev);
				return;
			}
			wait_for(a, 5, "waiting for the revision to run");
			return;
		}
		if (!d->endpoint) {
			act(a, RO_WEIGHT, d->rev, ROLLOUT_WEIGHT_TOTAL, "route all traffic to %s", d->rev);
			return;
		}
		if (cleanup(v, d->rev, NULL, a))
			return;
		if (!t || t->phase != ROLLOUT_SUCCEEDED || strcmp(t->rev, d->rev)) {
			if (t && t->phase == ROLLOUT_FAILED && !strcmp(t->from, d->rev))
				return; /* back on the stable revision after a rollback: the record stays */
			fresh.phase = ROLLOUT_SUCCEEDED;
			snprintf(fresh.rev, sizeof(fresh.rev), "%s", d->rev);
			fresh.step = cfg->n_steps - 1;
			fresh.since = (long long)v->now;
			tag(a, &fresh, "record the serving revision");
			return;
		}
		a->op = RO_NOTHING;
		return;
	}
	if (t && t->phase == ROLLOUT_FAILED && !strcmp(t->rev, v->desired)) {
		if (cleanup(v, stable, NULL, a))
			return;
		act(a, RO_BLOCKED, v->desired, 0, "revision %s failed at step %d/%d (%s); not retried until the spec changes",
		    v->desired, t->step + 1, cfg->n_steps, t->reason);
		return;
	}
	if (cleanup(v, stable, v->desired, a))
		return;
	fresh.phase = ROLLOUT_PROGRESSING;
	snprintf(fresh.rev, sizeof(fresh.rev), "%s", v->desired);
	snprintf(fresh.from, sizeof(fresh.from), "%s", stable);
	fresh.step = -1;
	fresh.since = (long long)v->now;
	tag(a, &fresh, "start the rollout");
}
