/* Cluster autoscaling decisions (see cluster.h). The order of the rules: a scale-in that berth
 * started is finished first (its node is drained already); then min and max; then pending
 * tasks, which also keep any scale-in back; then one idle node at a time. */
#include "autoscale/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

static void say(cluster_decision *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(cluster_decision *out, const char *fmt, ...)
{
	size_t len = strlen(out->reason);
	if (len + 1 >= sizeof(out->reason))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->reason + len, sizeof(out->reason) - len, fmt, ap);
	va_end(ap);
}

static const char *plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

bool cluster_node_idle(const cluster_input *in, const cluster_node *n)
{
	return n->ready && !n->draining_ours && n->cpu_known && n->cpu_percent < in->cpu_below;
}

/* A wall time as the explanations show it: "2027-01-15T07:58:00Z". Ages would make every plan
 * differ from the one made a second earlier (a saved plan is applied only if the plan made then
 * is the same); a time does not. */
static void fmt_time(char *buf, size_t size, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;
	if (ns < 0 || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

static int64_t since_later(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* ---- bin packing: how many nodes a set of tasks needs, first fit ---- */

#define NEW_NODE ((size_t)-1)

typedef struct {
	int64_t cpus, memory; /* left; < 0 never (unknown sizes are INT64_MAX) */
	size_t node;          /* the node it stands for (in->nodes), or NEW_NODE */
} bin;

static int per_service_on(const cluster_task *const *placed, const size_t *where, size_t n, size_t b, const char *svc)
{
	int count = 0;
	for (size_t i = 0; i < n; i++)
		if (where[i] == b && placed[i]->service && svc && !strcmp(placed[i]->service, svc))
			count++;
	return count;
}

static bool fits(const bin *b, const cluster_task *t)
{
	if (t->allowed && b->node != NEW_NODE && !t->allowed[b->node])
		return false;
	return t->nano_cpus <= b->cpus && t->memory <= b->memory;
}

/* Places tasks (largest CPU first is the caller's order) on bins, opening new ones of size
 * (cpus, memory) as needed; returns how many were opened. existing: bins already there (left
 * space), n_existing of them; they are tried first and are never counted. */
static size_t pack(const cluster_task *const *tasks, size_t n, bin *existing, size_t n_existing, int64_t cpus,
		   int64_t memory, const cluster_task *const *already, const size_t *already_bin, size_t n_already,
		   bool *all_placed)
{
	size_t cap = n_existing + n + 1, nb = n_existing;
	bin *bins = calloc(cap, sizeof(*bins));
	const cluster_task **placed = calloc(n + n_already + 1, sizeof(*placed));
	size_t *where = calloc(n + n_already + 1, sizeof(*where));
	if (!bins || !placed || !where)
		abort();
	if (n_existing)
		memcpy(bins, existing, n_existing * sizeof(*bins));
	size_t np = 0;
	for (size_t i = 0; i < n_already; i++) {
		placed[np] = already[i];
		where[np++] = already_bin[i];
	}
	*all_placed = true;
	for (size_t i = 0; i < n; i++) {
		const cluster_task *t = tasks[i];
		size_t b;
		for (b = 0; b < nb; b++)
			if (fits(&bins[b], t) &&
			    (t->max_per_node <= 0 || per_service_on(placed, where, np, b, t->service) < t->max_per_node))
				break;
		if (b == nb) {
			if (cpus <= 0) { /* no new bins: only the existing ones */
				*all_placed = false;
				continue;
			}
			bins[nb++] = (bin){cpus, memory, NEW_NODE};
			if (!fits(&bins[b], t)) { /* bigger than a node: never placed */
				nb--;
				*all_placed = false;
				continue;
			}
		}
		bins[b].cpus -= t->nano_cpus;
		bins[b].memory -= t->memory;
		placed[np] = t;
		where[np++] = b;
	}
	free(bins);
	free(placed);
	free(where);
	return nb - n_existing;
}

static int by_cpu_desc(const void *a, const void *b)
{
	const cluster_task *x = *(const cluster_task *const *)a, *y = *(const cluster_task *const *)b;
	return x->nano_cpus < y->nano_cpus ? 1 : x->nano_cpus > y->nano_cpus ? -1 : 0;
}

/* Whether the tasks of nodes[victim] fit on the set's other nodes that take tasks: in what they
 * have left, the max per node of each service respected, on a node their constraints allow. */
static bool fits_elsewhere(const cluster_input *in, size_t victim)
{
	const cluster_node *v = &in->nodes[victim];
	if (!v->n_own)
		return true;
	bin *bins = calloc(in->n_nodes + 1, sizeof(*bins));
	size_t n_already = 0, nb = 0;
	for (size_t i = 0; i < in->n_nodes; i++)
		n_already += in->nodes[i].n_own;
	const cluster_task **already = calloc(n_already + 1, sizeof(*already));
	size_t *already_bin = calloc(n_already + 1, sizeof(*already_bin));
	const cluster_task **move = calloc(v->n_own, sizeof(*move));
	if (!bins || !already || !already_bin || !move)
		abort();
	n_already = 0;
	for (size_t i = 0; i < in->n_nodes; i++) {
		const cluster_node *n = &in->nodes[i];
		if (i == victim || !n->ready || n->draining_ours)
			continue;
		bins[nb] = (bin){n->nano_cpus - n->used_cpus, n->memory - n->used_memory, i};
		for (size_t k = 0; k < n->n_own; k++) {
			already[n_already] = &n->own[k];
			already_bin[n_already++] = nb;
		}
		nb++;
	}
	for (size_t k = 0; k < v->n_own; k++)
		move[k] = &v->own[k];
	qsort(move, v->n_own, sizeof(*move), by_cpu_desc);
	bool all;
	pack(move, v->n_own, bins, nb, 0, 0, already, already_bin, n_already, &all);
	free(bins);
	free(already);
	free(already_bin);
	free(move);
	return all;
}

/* ---- the rules ---- */

static void set(cluster_decision *out, const cluster_input *in, int64_t capacity, autoscale_direction d)
{
	out->capacity = capacity;
	out->direction = d;
	say(out, ": %lld -> %lld", (long long)in->current, (long long)capacity);
}

/* Tasks pending for lack of resources that a new node would take: UP when some have waited long
 * enough, else a hold with the time left. Returns whether the decision is made (nothing after
 * it applies: pending tasks keep a scale-in back). */
static bool scale_out(const cluster_input *in, cluster_decision *out)
{
	if (!in->n_pending)
		return false;
	const cluster_task **due = calloc(in->n_pending, sizeof(*due));
	if (!due)
		abort();
	size_t n_due = 0, n_fit = 0, too_big = 0;
	int64_t oldest = -1, soonest = -1;
	for (size_t i = 0; i < in->n_pending; i++) {
		const cluster_task *t = &in->pending[i];
		if (!t->fits_new_node)
			continue;
		if (in->new_cpus > 0 && (t->nano_cpus > in->new_cpus || t->memory > in->new_memory)) {
			too_big++;
			continue;
		}
		n_fit++;
		int64_t age = in->now_ns - since_later(t->since_ns, in->last_at_ns);
		if (age >= in->pending_for_ns) {
			due[n_due++] = t;
			if (oldest < 0 || t->since_ns < oldest)
				oldest = t->since_ns;
		} else if (soonest < 0 || in->pending_for_ns - age < soonest) {
			soonest = in->pending_for_ns - age;
		}
	}
	char w[32], p[32];
	autoscale_fmt_duration(p, sizeof(p), in->pending_for_ns);
	if (too_big)
		say(out, "%zu pending %s reserve%s more than a new node has (%.2f CPUs, %.1f GiB); ", too_big,
		    plural((long long)too_big, "task", "tasks"), too_big == 1 ? "s" : "", (double)in->new_cpus / 1e9,
		    (double)in->new_memory / GIB);
	if (!n_fit) {
		free(due);
		return false;
	}
	if (!n_due) {
		autoscale_fmt_duration(w, sizeof(w), soonest);
		say(out, "%zu %s pending for lack of resources for less than %s: scale-out in %s", n_fit,
		    plural((long long)n_fit, "task", "tasks"), p, w);
		out->wait_ns = soonest;
		free(due);
		return true;
	}
	qsort(due, n_due, sizeof(*due), by_cpu_desc);
	bool all;
	size_t need = pack(due, n_due, NULL, 0, in->new_cpus > 0 ? in->new_cpus : INT64_MAX,
			   in->new_cpus > 0 ? in->new_memory : INT64_MAX, NULL, NULL, 0, &all);
	free(due);
	fmt_time(w, sizeof(w), oldest);
	say(out, "%zu %s pending for lack of resources for %s or more (the first since %s)", n_due,
	    plural((long long)n_due, "task", "tasks"), p, w);
	if (in->new_cpus > 0)
		say(out, "; %zu new %s of %.2f CPUs, %.1f GiB take%s them", need, plural((long long)need, "node", "nodes"),
		    (double)in->new_cpus / 1e9, (double)in->new_memory / GIB, need == 1 ? "s" : "");
	else
		say(out, "; no node of the set to size a new one by: one more");
	if (in->current >= in->max) {
		say(out, "; at max %lld, stays", (long long)in->max);
		return true;
	}
	int64_t to = in->current + (int64_t)need;
	if (to > in->max) {
		say(out, "; capped at max %lld", (long long)in->max);
		to = in->max;
	}
	set(out, in, to, AUTOSCALE_UP);
	return true;
}

/* The idle node that goes: fewest tasks, then least CPU, then the highest instance id. */
static bool better(const cluster_node *a, const cluster_node *b)
{
	if (a->tasks != b->tasks)
		return a->tasks < b->tasks;
	if (a->cpu_percent != b->cpu_percent)
		return a->cpu_percent < b->cpu_percent;
	long long x = a->instance ? atoll(a->instance) : 0, y = b->instance ? atoll(b->instance) : 0;
	return x > y;
}

static void scale_in(const cluster_input *in, cluster_decision *out)
{
	char w[32], f[32];
	autoscale_fmt_duration(f, sizeof(f), in->idle_for_ns);
	long best = -1;
	size_t idle = 0, blocked = 0;
	int64_t soonest = -1;
	const cluster_node *busiest_low = NULL;
	for (size_t i = 0; i < in->n_nodes; i++) {
		const cluster_node *n = &in->nodes[i];
		if (!n->removable || !n->ready)
			continue;
		if (!cluster_node_idle(in, n)) {
			if (n->cpu_known && (!busiest_low || n->cpu_percent < busiest_low->cpu_percent))
				busiest_low = n;
			continue;
		}
		idle++;
		int64_t for_ns = n->idle_since_ns < 0 ? 0 : in->now_ns - n->idle_since_ns;
		if (for_ns < in->idle_for_ns) {
			if (soonest < 0 || in->idle_for_ns - for_ns < soonest)
				soonest = in->idle_for_ns - for_ns;
			continue;
		}
		if (!fits_elsewhere(in, i)) {
			blocked++;
			continue;
		}
		if (best < 0 || better(n, &in->nodes[best]))
			best = (long)i;
	}
	if (in->current <= in->min) {
		say(out, "at min %lld", (long long)in->min);
		return;
	}
	if (best >= 0 && in->last_at_ns >= 0 && in->now_ns - in->last_at_ns < in->cooldown_ns) {
		out->wait_ns = in->cooldown_ns - (in->now_ns - in->last_at_ns);
		autoscale_fmt_duration(w, sizeof(w), out->wait_ns);
		say(out, "node %s is idle, scale-in held by the cooldown for %s more", in->nodes[best].hostname, w);
		return;
	}
	if (best >= 0) {
		const cluster_node *n = &in->nodes[best];
		fmt_time(w, sizeof(w), n->idle_since_ns);
		say(out, "node %s (instance %s, %d %s) idle: cpu %.0f%% below %.0f%% since %s (at least %s)%s", n->hostname,
		    n->instance ? n->instance : "?", n->tasks, plural(n->tasks, "task", "tasks"), n->cpu_percent, in->cpu_below,
		    w, f, n->n_own ? ", its tasks fit on the other nodes" : "");
		out->victim = best;
		set(out, in, in->current - 1, AUTOSCALE_DOWN);
		return;
	}
	if (soonest >= 0) {
		out->wait_ns = soonest;
		autoscale_fmt_duration(w, sizeof(w), soonest);
		say(out, "%zu idle %s (cpu below %.0f%%), the first for %s in %s", idle, plural((long long)idle, "node", "nodes"),
		    in->cpu_below, f, w);
	} else if (blocked) {
		say(out, "%zu idle %s, but %s tasks would not fit on the other nodes", blocked,
		    plural((long long)blocked, "node", "nodes"), blocked == 1 ? "its" : "their");
	} else if (busiest_low) {
		say(out, "no node idle: the least busy, %s, uses %.0f%% of its CPUs (scale-in below %.0f%%)",
		    busiest_low->hostname, busiest_low->cpu_percent, in->cpu_below);
	} else {
		say(out, "no node's load could be read");
	}
}

void cluster_decide(const cluster_input *in, cluster_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->capacity = in->current;
	out->direction = AUTOSCALE_HOLD;
	out->victim = -1;
	size_t draining = 0;
	for (size_t i = 0; i < in->n_nodes; i++)
		draining += in->nodes[i].draining_ours;
	if (draining && in->current > in->min) {
		int64_t to = in->current - (int64_t)draining;
		say(out, "continues the scale-in of %zu %s berth drained", draining, plural((long long)draining, "node", "nodes"));
		if (to < in->min) { /* min was raised since: the rest go back into service */
			say(out, ", down to min %lld", (long long)in->min);
			to = in->min;
		}
		set(out, in, to, AUTOSCALE_DOWN);
		return;
	}
	if (in->current < in->min) {
		say(out, "below min %lld", (long long)in->min);
		set(out, in, in->min, AUTOSCALE_UP);
		return;
	}
	if (in->current > in->max) {
		say(out, "above max %lld", (long long)in->max);
		set(out, in, in->max, AUTOSCALE_DOWN);
		return;
	}
	if (scale_out(in, out))
		return;
	scale_in(in, out);
}
