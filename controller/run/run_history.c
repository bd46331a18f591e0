/* berth run's memory for the status page (run_history.h): a ring of the last reconciles, the
 * last change's plan, the commit, the resources' status. */
#include "run/run_history.h"

#include <string.h>

static json_t *nullable(const char *s)
{
	return s ? json_string(s) : json_null();
}

void run_history_record(run_history *h, const char *time, const char *revision, const char *result,
			double duration_s, const char *error)
{
	json_decref(h->ring[h->next]);
	h->ring[h->next] = json_pack("{s:o, s:o, s:o, s:f, s:o}", "time", nullable(time), "revision", nullable(revision),
				     "result", nullable(result), "duration_seconds", duration_s, "error", nullable(error));
	h->next = (h->next + 1) % RUN_HISTORY_N;
}

void run_history_plan(run_history *h, const char *time, const char *revision, const plan *p)
{
	if (!p || plan_count(p) == 0)
		return;
	plan_snapshot *snap = plan_snapshot_take(p);
	json_t *steps = json_array();
	for (size_t i = 0; i < plan_count(p); i++) {
		const plan_step *st = plan_step_at(p, i);
		json_t *s = json_pack("{s:s, s:s, s:s, s:o}", "action", plan_action_name(plan_step_action(st)), "kind",
				      plan_step_kind(st), "name", plan_step_name(st), "reason",
				      nullable(plan_step_reason(st)));
		if (snap && i < snap->n) {
			json_object_set_new(s, "status", json_string(plan_status_name(snap->steps[i].status)));
			if (snap->steps[i].error)
				json_object_set_new(s, "error", json_string(snap->steps[i].error));
		}
		json_array_append_new(steps, s);
	}
	plan_snapshot_free(snap);
	json_decref(h->last_change);
	h->last_change = json_pack("{s:o, s:o, s:o}", "time", nullable(time), "revision", nullable(revision), "steps", steps);
}

void run_history_commit(run_history *h, const berth_revision *rev)
{
	json_decref(h->commit);
	h->commit = json_pack("{s:o, s:o, s:o, s:o}", "revision", nullable(rev->revision), "summary",
			      nullable(rev->summary), "author", nullable(rev->author), "time",
			      rev->time ? json_integer(rev->time) : json_null());
}

void run_history_take_resources(run_history *h, json_t *status)
{
	if (!json_is_array(status))
		return;
	json_t *res = json_array();
	for (size_t i = 0; i < json_array_size(status);) {
		json_t *e = json_array_get(status, i);
		const char *kind = json_string_value(json_object_get(e, "kind"));
		if (kind && !strcmp(kind, "rollout")) {
			i++;
			continue;
		}
		json_array_append(res, e);
		json_array_remove(status, i);
	}
	json_decref(h->resources);
	h->resources = res;
}

void run_history_json(const run_history *h, json_t *j)
{
	json_t *ring = json_array();
	for (size_t k = 1; k <= RUN_HISTORY_N; k++) { /* newest first */
		json_t *e = h->ring[(h->next + RUN_HISTORY_N - k) % RUN_HISTORY_N];
		if (e)
			json_array_append(ring, e);
	}
	json_object_set_new(j, "history", ring);
	json_object_set_new(j, "last_change", h->last_change ? json_incref(h->last_change) : json_null());
	json_object_set_new(j, "commit", h->commit ? json_incref(h->commit) : json_null());
	json_object_set_new(j, "resources", h->resources ? json_incref(h->resources) : json_array());
}

void run_history_free(run_history *h)
{
	for (size_t k = 0; k < RUN_HISTORY_N; k++)
		json_decref(h->ring[k]);
	json_decref(h->last_change);
	json_decref(h->commit);
	json_decref(h->resources);
	memset(h, 0, sizeof(*h));
}
