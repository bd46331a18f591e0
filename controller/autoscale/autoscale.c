/* Service autoscaling decisions: Kubernetes' HPA ratio rule with its handling of missing
 * metrics and starting tasks, the tolerance band, min/max, Kubernetes' default scale-up limit,
 * berth's scale-in cooldown and scale-out stabilisation. Pure; see autoscale.h. */
#include "autoscale.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *autoscale_direction_name(autoscale_direction d)
{
	return d == AUTOSCALE_UP ? "up" : d == AUTOSCALE_DOWN ? "down" : "hold";
}

static void say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static bool within(double ratio, double tolerance)
{
	/* A hair of slack so that 77/70 with a 10% tolerance is inside, as it reads. */
	return fabs(ratio - 1.0) <= tolerance + 1e-9;
}

static int64_t ceil_i(double x)
{
	/* Far beyond any max: the clamp decides, and the cast stays defined. */
	if (!(x < 1e12))
		return (int64_t)1e12;
	if (x < 0)
		return 0;
	/* ceil of a product that should be whole (2 x 140/70) must not become 5 by rounding noise. */
	double r = nearbyint(x);
	return (int64_t)(fabs(x - r) < 1e-9 ? r : ceil(x));
}

static const char *tasks(long long n)
{
	return n == 1 ? "task" : "tasks";
}

static const char *unit(const autoscale_metric *m)
{
	return m->is_total ? "" : "%";
}

/* One metric's recommendation, or -1 when it has none (no samples could be read). Follows
 * Kubernetes' replica calculator: the ratio over the ready tasks with a value; when that would
 * scale and some tasks had no value or were starting, those are counted conservatively (a
 * missing value as the target when scaling in and as 0 when scaling out, a starting task as 0
 * when scaling out, left out when scaling in) and the ratio recomputed; if the recount lands in
 * the tolerance band or flips the direction, nothing changes. */
static int64_t recommend(const autoscale_input *in, const autoscale_metric *m, char *why, size_t size)
{
	if (m->is_total) {
		if (!m->total_ok) {
			say(why, size, "%s: no value", m->name);
			return -1;
		}
		double per_task = m->total / (double)in->current;
		double ratio = per_task / m->target;
		if (within(ratio, in->tolerance)) {
			say(why, size, "%s %.4g per task (%.4g over %lld %s) of target %.4g: within tolerance %.4g%%, stays %lld",
			    m->name, per_task, m->total, (long long)in->current, tasks(in->current), m->target, in->tolerance * 100,
			    (long long)in->current);
			return in->current;
		}
		int64_t r = ceil_i(m->total / m->target);
		say(why, size, "%s %.4g per task (%.4g over %lld %s) of target %.4g: ceil(%.4g/%.4g) = %lld", m->name,
		    per_task, m->total, (long long)in->current, tasks(in->current), m->target, m->total, m->target, (long long)r);
		return r;
	}
	double sum = 0;
	size_t n_ready = 0, n_missing = 0, n_starting = 0;
	for (size_t i = 0; i < m->n_samples; i++) {
		const autoscale_sample *s = &m->samples[i];
		if (!s->ready)
			n_starting++;
		else if (!s->has_value)
			n_missing++;
		else {
			sum += s->value;
			n_ready++;
		}
	}
	if (!n_ready) {
		say(why, size, "%s: no task has a sample yet (%zu starting, %zu without a value)", m->name, n_starting,
		    n_missing);
		return -1;
	}
	double usage = sum / (double)n_ready;
	double ratio = usage / m->target;
	bool up_with_starting = n_starting && ratio > 1.0;
	if (!up_with_starting && !n_missing) {
		if (within(ratio, in->tolerance)) {
			say(why, size, "%s %.4g%s of target %.4g%s over %zu %s: within tolerance %.4g%%, stays %lld", m->name,
			    usage, unit(m), m->target, unit(m), n_ready, tasks((long long)n_ready), in->tolerance * 100, (long long)in->current);
			return in->current;
		}
		int64_t r = ceil_i((double)n_ready * usage / m->target);
		say(why, size, "%s %.4g%s of target %.4g%s over %zu %s: ceil(%zu x %.4g/%.4g) = %lld", m->name, usage,
		    unit(m), m->target, unit(m), n_ready, tasks((long long)n_ready), n_ready, usage, m->target, (long long)r);
		return r;
	}
	/* The conservative recount. */
	double filled = sum;
	size_t counted = n_ready;
	char extra[160] = "";
	size_t len = 0;
	if (n_missing) {
		double as = ratio < 1.0 ? m->target : 0.0;
		filled += as * (double)n_missing;
		counted += n_missing;
		len += (size_t)snprintf(extra + len, sizeof(extra) - len, "%zu without a value counted as %.4g%s", n_missing,
					as, unit(m));
	}
	if (up_with_starting) {
		counted += n_starting;
		if (len < sizeof(extra))
			len += (size_t)snprintf(extra + len, sizeof(extra) - len, "%s%zu starting counted as 0%s",
						len ? ", " : "", n_starting, unit(m));
	}
	double new_usage = filled / (double)counted;
	double new_ratio = new_usage / m->target;
	if (within(new_ratio, in->tolerance) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
		say(why, size, "%s %.4g%s of target %.4g%s over %zu %s, %.4g%s over %zu with %s: no clear change, stays %lld",
		    m->name, usage, unit(m), m->target, unit(m), n_ready, tasks((long long)n_ready), new_usage, unit(m), counted, extra,
		    (long long)in->current);
		return in->current;
	}
	int64_t r = ceil_i((double)counted * new_usage / m->target);
	if ((new_ratio < 1.0 && r > in->current) || (new_ratio > 1.0 && r < in->current)) {
		say(why, size, "%s %.4g%s of target %.4g%s over %zu %s with %s: ceil(%zu x %.4g/%.4g) = %lld goes the other way, stays %lld",
		    m->name, new_usage, unit(m), m->target, unit(m), counted, tasks((long long)counted), extra, counted, new_usage, m->target,
		    (long long)r, (long long)in->current);
		return in->current;
	}
	say(why, size, "%s %.4g%s of target %.4g%s over %zu %s with %s: ceil(%zu x %.4g/%.4g) = %lld", m->name, new_usage,
	    unit(m), m->target, unit(m), counted, tasks((long long)counted), extra, counted, new_usage, m->target, (long long)r);
	return r;
}

void autoscale_fmt_duration(char *buf, size_t size, int64_t ns)
{
	long long s = (long long)((ns + 999999999) / 1000000000);
	if (s >= 60)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%llds", s);
}

void autoscale_decide(const autoscale_input *in, autoscale_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->replicas = in->current;
	if (in->current <= 0) {
		/* As Kubernetes: a service scaled to zero by hand is not autoscaled until it is scaled up. */
		say(out->reason, sizeof(out->reason), "0 replicas (scaled to zero by hand): not autoscaled until scaled up");
		return;
	}
	if (in->current > in->max) {
		out->replicas = in->max;
		out->direction = AUTOSCALE_DOWN;
		say(out->reason, sizeof(out->reason), "%lld replicas is above max %lld", (long long)in->current,
		    (long long)in->max);
		return;
	}
	if (in->current < in->min) {
		out->replicas = in->min;
		out->direction = AUTOSCALE_UP;
		say(out->reason, sizeof(out->reason), "%lld replicas is below min %lld", (long long)in->current,
		    (long long)in->min);
		return;
	}
	/* Each metric's recommendation; the largest wins, as with Kubernetes' several metrics. */
	int64_t best = -1;
	char best_why[400] = "", all[400] = "";
	size_t all_len = 0;
	for (size_t i = 0; i < in->n_metrics; i++) {
		char why[400];
		int64_t r = recommend(in, &in->metrics[i], why, sizeof(why));
		if (r > best) {
			best = r;
			snprintf(best_why, sizeof(best_why), "%s", why);
		}
		if (all_len < sizeof(all))
			all_len += (size_t)snprintf(all + all_len, sizeof(all) - all_len, "%s%s", all_len ? "; " : "", why);
	}
	if (best < 0) {
		say(out->reason, sizeof(out->reason), "no metrics (%s): stays %lld", all, (long long)in->current);
		return;
	}
	int64_t desired = best;
	char tail[96] = "";
	/* Kubernetes' default scale-up policy: at most double, or 4 more, per decision. */
	int64_t up_limit = in->current * 2 > in->current + 4 ? in->current * 2 : in->current + 4;
	if (desired > up_limit) {
		desired = up_limit;
		snprintf(tail, sizeof(tail), ", limited to %lld (at most double or +4 at once)", (long long)desired);
	}
	if (desired > in->max) {
		desired = in->max;
		snprintf(tail, sizeof(tail), ", clamped to max %lld", (long long)desired);
	} else if (desired < in->min) {
		desired = in->min;
		snprintf(tail, sizeof(tail), ", clamped to min %lld", (long long)desired);
	}
	int64_t since = in->last_at_ns >= 0 ? in->now_ns - in->last_at_ns : INT64_MAX;
	if (desired < in->current && since < in->cooldown_ns) {
		char w[32];
		out->wait_ns = in->cooldown_ns - since;
		autoscale_fmt_duration(w, sizeof(w), out->wait_ns);
		say(out->reason, sizeof(out->reason), "%s%s; scale-in held by the cooldown for %s more, stays %lld", best_why,
		    tail, w, (long long)in->current);
		return;
	}
	if (desired > in->current && since < AUTOSCALE_UP_STABILISE_NS) {
		char w[32];
		out->wait_ns = AUTOSCALE_UP_STABILISE_NS - since;
		autoscale_fmt_duration(w, sizeof(w), out->wait_ns);
		say(out->reason, sizeof(out->reason), "%s%s; scale-out held for %s more while the last change starts, stays %lld",
		    best_why, tail, w, (long long)in->current);
		return;
	}
	out->replicas = desired;
	out->direction = desired > in->current ? AUTOSCALE_UP : desired < in->current ? AUTOSCALE_DOWN : AUTOSCALE_HOLD;
	say(out->reason, sizeof(out->reason), "%s%s", best_why, tail);
}
