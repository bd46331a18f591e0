/* Observing the swarm: five list calls (services, networks, secrets, configs, and the tasks of
 * berth-owned services), whatever the number of objects. Unowned objects are listed too, so that
 * a same-named object berth does not own is caught at plan time rather than failing the apply.
 *
 * Tasks are what tells a service that has converged from one whose spec is right but whose
 * rollout is not (berth was killed after submitting it, the engine paused it, its tasks crash):
 * that is judged here from live state alone, never from a record of what berth did. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/digest.h"
#include "core/util.h"
#include "providers/swarm/swarm.h"

const char *swarm_kind_name(swarm_kind k)
{
	static const char *const names[] = {"service", "network", "secret", "config"};
	return names[k];
}

static char *errf(const char *fmt, const char *a, const char *b)
{
	char *s = NULL;
	s = xasprintf(fmt, a, b ? b : "");
	return s;
}

static const char *label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

static void add_object(swarm_state *st, size_t *cap, swarm_object o)
{
	if (st->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		st->objects = xrealloc(st->objects, *cap * sizeof(*st->objects));
		if (!st->objects)
			abort();
	}
	st->objects[st->n++] = o;
}

static const char *const list_paths[SWARM_KINDS] = {"/services", "/networks", "/secrets", "/configs"};

void swarm_state_from_json(json_t *lists[SWARM_KINDS], swarm_state *out)
{
	memset(out, 0, sizeof(*out));
	out->raw = json_array();
	size_t cap = 0;
	for (int k = 0; k < SWARM_KINDS; k++) {
		json_t *resp = lists[k];
		json_array_append(out->raw, resp);
		size_t i;
		json_t *it;
		json_array_foreach(resp, i, it) {
			swarm_object o = {.kind = (swarm_kind)k};
			if (k == SWARM_NETWORK) {
				/* Only swarm-scoped networks share a namespace with berth's overlays. */
				const char *scope = json_string_value(json_object_get(it, "Scope"));
				if (scope && strcmp(scope, "swarm"))
					continue;
				o.id = json_string_value(json_object_get(it, "Id"));
				o.name = json_string_value(json_object_get(it, "Name"));
				o.spec = it;
				json_t *labels = json_object_get(it, "Labels");
				o.owner = label(labels, SWARM_LABEL_OWNER);
				o.logical = label(labels, SWARM_LABEL_NAME);
			} else {
				json_t *sspec = json_object_get(it, "Spec");
				json_t *labels = json_object_get(sspec, "Labels");
				o.id = json_string_value(json_object_get(it, "ID"));
				o.name = json_string_value(json_object_get(sspec, "Name"));
				o.version = json_integer_value(json_object_get(json_object_get(it, "Version"), "Index"));
				o.spec = sspec;
				o.owner = label(labels, SWARM_LABEL_OWNER);
				o.logical = label(labels, SWARM_LABEL_NAME);
				if (k == SWARM_SERVICE)
					o.update_status = json_object_get(it, "UpdateStatus");
			}
			if (!o.id || !o.name)
				continue;
			if (!o.logical)
				o.logical = o.name;
			add_object(out, &cap, o);
		}
	}
}

int swarm_observe(docker *d, swarm_state *out, char **err)
{
	json_t *lists[SWARM_KINDS] = {0};
	unsigned long before = docker_requests(d);
	for (int k = 0; k < SWARM_KINDS; k++) {
		long status = 0;
		json_t *resp = NULL;
		char *rerr = NULL;
		if (docker_request(d, "GET", list_paths[k], NULL, &status, &resp, &rerr) != 0 || status != 200 ||
		    !json_is_array(resp)) {
			/* The engine answers swarm endpoints with 503 only when it is not a swarm manager. */
			if (status == 503) {
				free(rerr);
				rerr = errf("the Docker engine at %s is not a swarm manager (run 'docker swarm init' there, or point DOCKER_HOST at a manager)%s",
					    docker_endpoint(d), NULL);
			}
			*err = errf("listing %ss: %s", swarm_kind_name((swarm_kind)k), rerr ? rerr : "unexpected response");
			free(rerr);
			json_decref(resp);
			for (int j = 0; j < k; j++)
				json_decref(lists[j]);
			return -1;
		}
		free(rerr);
		lists[k] = resp;
	}
	/* One more list for the tasks: of berth-owned services only (the label filter matches the
	 * labels of the task's service), of every owner since observing does not know the spec's.
	 * Not filtered by desired state: the failed tasks, whose desired state is shutdown, are the
	 * ones that say why a service does not converge. */
	char *filters = docker_filters("label", SWARM_LABEL_OWNER);
	char *path = xasprintf("/tasks?filters=%s", filters);
	free(filters);
	long status = 0;
	json_t *tasks = NULL;
	char *rerr = NULL;
	int rc = docker_request(d, "GET", path, NULL, &status, &tasks, &rerr);
	free(path);
	if (rc != 0 || status != 200 || !json_is_array(tasks)) {
		*err = xasprintf("listing tasks: %s", rerr ? rerr : "unexpected response");
		free(rerr);
		json_decref(tasks);
		for (int k = 0; k < SWARM_KINDS; k++)
			json_decref(lists[k]);
		return -1;
	}
	free(rerr);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	swarm_state_from_json(lists, out);
	for (int k = 0; k < SWARM_KINDS; k++)
		json_decref(lists[k]);
	swarm_state_set_tasks(out, tasks, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	json_decref(tasks);
	out->requests = docker_requests(d) - before;
	return 0;
}

void swarm_state_set_tasks(swarm_state *st, json_t *tasks, long long observed_ms)
{
	json_decref(st->tasks);
	st->tasks = json_incref(tasks);
	st->observed_ms = observed_ms;
}

void swarm_state_free(swarm_state *st)
{
	free(st->objects);
	json_decref(st->raw);
	json_decref(st->tasks);
	json_decref(st->nodes);
	for (size_t i = 0; i < st->n_usage; i++)
		free(st->usage[i].service_id);
	free(st->usage);
	for (size_t i = 0; i < st->n_queries; i++) {
		free(st->queries[i].service);
		free(st->queries[i].error);
	}
	free(st->queries);
	memset(st, 0, sizeof(*st));
}

/* ---- convergence, from UpdateStatus and tasks ---- */

/* The view of a task template: a task carries the one it was made from (as Spec), the service
 * the current one; the engine adds fields to the service's copy (Runtime) that the task's lacks,
 * so the two compare by view, and by the redeploy counter that the view leaves out. */
static json_t *template_view(json_t *task_template)
{
	json_t *wrapper = json_pack("{s:O}", "TaskTemplate", task_template ? task_template : json_null());
	json_t *v = swarm_service_view(wrapper, NULL);
	json_decref(wrapper);
	json_object_set_new(v, "force_update",
			    json_integer(json_integer_value(json_object_get(task_template, "ForceUpdate"))));
	return v;
}

static bool is(const char *s, const char *want)
{
	return s && !strcmp(s, want);
}

/* One place where the service wants a task: a replica's slot, or a global service's node. */
typedef struct {
	long long slot;
	const char *node;
	bool up;            /* a task of the current spec has been running there for SWARM_STABLE_MS */
	bool wanted;        /* the engine wants a task there (desired state running, or ready: restarting) */
	long long newest;   /* CreatedAt of the newest task there */
	bool newest_failed; /* that task is of the current spec and failed: nothing will restart it */
} place;

typedef struct {
	long long up, wanted; /* wanted: the global service's places; replicated services use Replicas */
	long long older;      /* tasks of an older spec still meant to run */
	const char *error;    /* why a task of the current spec waits, else its newest failure */
} task_summary;

static void summarise_tasks(const swarm_state *st, const swarm_object *svc, bool global, task_summary *out)
{
	memset(out, 0, sizeof(*out));
	json_t *current = template_view(json_object_get(svc->spec, "TaskTemplate"));
	place *places = NULL;
	size_t n = 0, cap = 0;
	long long newest_failure = -1;
	const char *failure_error = NULL, *waiting_error = NULL;
	size_t i;
	json_t *t;
	json_array_foreach(st->tasks, i, t) {
		if (!is(json_string_value(json_object_get(t, "ServiceID")), svc->id))
			continue;
		const char *desired = json_string_value(json_object_get(t, "DesiredState"));
		json_t *status = json_object_get(t, "Status");
		const char *state = json_string_value(json_object_get(status, "State"));
		const char *terr = json_string_value(json_object_get(status, "Err"));
		long long since = berth_rfc3339_ms(json_string_value(json_object_get(status, "Timestamp")));
		long long created = berth_rfc3339_ms(json_string_value(json_object_get(t, "CreatedAt")));
		json_t *tv = template_view(json_object_get(t, "Spec"));
		bool cur = json_equal(tv, current);
		json_decref(tv);
		bool failed = is(state, "failed") || is(state, "rejected");

		long long slot = global ? 0 : json_integer_value(json_object_get(t, "Slot"));
		const char *node = global ? json_string_value(json_object_get(t, "NodeID")) : NULL;
		place *pl = NULL;
		for (size_t k = 0; k < n && !pl; k++)
			if (places[k].slot == slot && (!global || is(places[k].node, node ? node : "")))
				pl = &places[k];
		if (!pl) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				places = xrealloc(places, cap * sizeof(*places));
				if (!places)
					abort();
			}
			pl = &places[n++];
			*pl = (place){.slot = slot, .node = node ? node : "", .newest = -1};
		}
		if (is(desired, "running") || is(desired, "ready"))
			pl->wanted = true;
		if (!cur && is(desired, "running"))
			out->older++;
		/* A task that dies at once is briefly "running" too: like apply, count only a task that
		 * has run for a while (by the engine's clock against ours: they are assumed in step). */
		if (cur && is(desired, "running") && is(state, "running") &&
		    (!st->observed_ms || !since || st->observed_ms - since >= SWARM_STABLE_MS))
			pl->up = true;
		if (created >= pl->newest) {
			pl->newest = created;
			pl->newest_failed = cur && failed;
		}
		if (cur && failed && since >= newest_failure) {
			newest_failure = since;
			failure_error = terr ? terr : state;
		}
		if (cur && is(desired, "running") && !is(state, "running") && terr && !waiting_error)
			waiting_error = terr; /* e.g. "no suitable node (host-mode port already in use on 1 node)" */
	}
	for (size_t k = 0; k < n; k++) {
		out->up += places[k].up;
		out->wanted += places[k].up || places[k].wanted || places[k].newest_failed;
	}
	out->error = waiting_error ? waiting_error : failure_error;
	free(places);
	json_decref(current);
}

char *swarm_service_unconverged(const swarm_state *st, const swarm_object *svc, bool *resubmit)
{
	*resubmit = false;
	json_t *mode = json_object_get(svc->spec, "Mode");
	json_t *replicated = json_object_get(mode, "Replicated");
	bool global = json_object_get(mode, "Global") != NULL;
	if (!global && !replicated && json_object_size(mode))
		return NULL; /* a job mode: berth never makes them, and "running" is not their goal */
	json_t *r = json_object_get(replicated, "Replicas");
	long long want = json_is_integer(r) ? json_integer_value(r) : 1; /* the engine's default */
	if (!global && want == 0)
		return NULL; /* no task will ever run: nothing to wait for (as apply) */

	task_summary ts = {0};
	if (st->tasks)
		summarise_tasks(st, svc, global, &ts);
	const char *sep = ts.error ? "; task error: " : "", *terr = ts.error ? ts.error : "";
	const char *state = json_string_value(json_object_get(svc->update_status, "State"));
	const char *message = json_string_value(json_object_get(svc->update_status, "Message"));
	if (!message)
		message = state;
	/* The engine rolls an update out by itself: one in progress is waited for. One it paused,
	 * or a rollback (whose target the spec now is, or it would differ from the desired one), it
	 * does not take up again until the spec is submitted again (see settle_service). */
	if (is(state, "updating"))
		return xstrdup("update in progress");
	if (is(state, "paused") || is(state, "rollback_paused")) {
		*resubmit = true;
		return xasprintf("%s paused: %s%s%s", is(state, "paused") ? "update" : "rollback", message, sep, terr);
	}
	if (is(state, "rollback_started")) {
		*resubmit = true;
		return xasprintf("rollback in progress: %s", message);
	}
	if (!st->tasks)
		return NULL;
	long long wanted = global ? ts.wanted : want;
	if (ts.up >= wanted)
		return NULL;
	/* No update in progress, yet tasks of an older spec still run: the rollout stopped (the engine
	 * drops a submission of the spec its paused update still works towards, and clears the status
	 * all the same), and only a new submission starts it again. A completed rollback is what
	 * apply takes for the failure of its own update: submitting again clears it, so that apply
	 * waits for the tasks instead. */
	*resubmit = ts.older > 0 || is(state, "rollback_completed");
	char older[64] = "";
	if (ts.older)
		snprintf(older, sizeof(older), ", %lld of an older spec", ts.older);
	return xasprintf("%lld/%lld tasks running%s%s%s", ts.up, wanted, older, ts.error ? ": " : "", terr);
}

const swarm_object *swarm_find(const swarm_state *st, swarm_kind kind, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->objects[i].kind == kind && !strcmp(st->objects[i].name, name))
			return &st->objects[i];
	return NULL;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *swarm_fingerprint(const swarm_state *st)
{
	/* Sorted, so that the engine's list order does not matter. */
	char **lines = xcalloc(st->n + 1, sizeof(char *));
	for (size_t i = 0; i < st->n; i++)
		lines[i] = xasprintf("%d %s %lld\n", st->objects[i].kind, st->objects[i].id, st->objects[i].version);
	qsort(lines, st->n, sizeof(char *), line_cmp);
	berth_sha256 *h = berth_sha256_new();
	for (size_t i = 0; i < st->n; i++) {
		berth_sha256_update(h, lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
	char *hex = xmalloc(BERTH_SHA256_HEX);
	berth_sha256_final_hex(h, hex);
	return hex;
}
