/* The swarm's part of the status page (swarm.h, swarm_status_json): each service of the spec
 * with its desired and running replicas and its tasks (node, state, error), and each node of the
 * swarm (hostname, role, availability, state), from what observe listed (the nodes: the one
 * request of swarm_observe_nodes, made only for a status). Rendering makes no request.
 *
 * Only what an operator sees in `docker service ps` and `docker node ls` leaves here: no
 * environment, no mount, no secret name's content. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "providers/swarm/swarm.h"

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static const char *str(json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

/* NodeID -> hostname, from the node list (NULL when it could not be listed). */
static const char *node_hostname(const swarm_state *st, const char *id)
{
	size_t i;
	json_t *n;
	json_array_foreach(st->nodes, i, n)
		if (same(json_string_value(json_object_get(n, "ID")), id))
			return json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
	return NULL;
}

static json_t *service_status(const spec_service *s, const swarm_state *st)
{
	const swarm_object *o = swarm_find(st, SWARM_SERVICE, s->name);
	bool global = s->deploy.mode == SPEC_MODE_GLOBAL;
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:b}", "kind", "swarm_service", "name", s->name, "image",
				s->image ? s->image : "", "mode", global ? "global" : "replicated", "exists", o != NULL);
	if (!global)
		json_object_set_new(out, "desired", json_integer(s->deploy.replicas));
	json_t *tasks = json_array();
	long long running = 0, wanted_n = 0;
	size_t i;
	json_t *t;
	json_array_foreach(o ? st->tasks : NULL, i, t) {
		if (!same(json_string_value(json_object_get(t, "ServiceID")), o->id))
			continue;
		const char *desired = json_string_value(json_object_get(t, "DesiredState"));
		json_t *status = json_object_get(t, "Status");
		const char *state = json_string_value(json_object_get(status, "State"));
		/* The tasks meant to run, and the failed ones that say why they do not. */
		bool wanted = same(desired, "running") || same(desired, "ready");
		bool failed = same(state, "failed") || same(state, "rejected");
		if (!wanted && !failed)
			continue;
		wanted_n += wanted;
		if (wanted && same(state, "running"))
			running++;
		const char *node_id = json_string_value(json_object_get(t, "NodeID"));
		const char *host = node_id ? node_hostname(st, node_id) : NULL;
		json_t *task = json_pack("{s:s, s:s, s:s, s:I}", "node", host ? host : node_id ? node_id : "",
					 "state", state ? state : "unknown", "desired", desired ? desired : "",
					 "slot", json_integer_value(json_object_get(t, "Slot")));
		const char *terr = json_string_value(json_object_get(status, "Err"));
		if (terr && *terr)
			json_object_set_new(task, "error", json_string(terr));
		json_array_append_new(tasks, task);
	}
	json_object_set_new(out, "running", json_integer(running));
	json_object_set_new(out, "tasks", tasks);
	if (global)
		json_object_set_new(out, "desired", json_integer(wanted_n));
	bool resubmit = false;
	char *why = o ? swarm_service_unconverged(st, o, &resubmit) : NULL;
	if (why)
		json_object_set_new(out, "problem", json_string(why));
	free(why);
	return out;
}

static json_t *node_status(json_t *n)
{
	json_t *nspec = json_object_get(n, "Spec"), *status = json_object_get(n, "Status");
	json_t *mgr = json_object_get(n, "ManagerStatus");
	const char *host = json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
	json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "kind", "swarm_node", "hostname", host ? host : "",
				"role", str(json_object_get(nspec, "Role")), "availability",
				str(json_object_get(nspec, "Availability")), "state", str(json_object_get(status, "State")),
				"leader", json_is_true(json_object_get(mgr, "Leader")));
	const char *addr = json_string_value(json_object_get(status, "Addr"));
	if (addr)
		json_object_set_new(out, "addr", json_string(addr));
	return out;
}

void swarm_observe_nodes(docker *d, swarm_state *st)
{
	long status = 0;
	json_t *nodes = NULL;
	char *err = NULL;
	if (docker_request(d, "GET", "/nodes", NULL, &status, &nodes, &err) == 0 && status == 200 && json_is_array(nodes)) {
		json_decref(st->nodes);
		st->nodes = nodes;
	} else {
		json_decref(nodes);
	}
	free(err);
}

char *swarm_status_json(const struct spec_model *m, const swarm_state *st)
{
	json_t *out = json_array();
	for (size_t i = 0; i < m->swarm.n_services; i++)
		json_array_append_new(out, service_status(&m->swarm.services[i], st));
	size_t i;
	json_t *n;
	json_array_foreach(st->nodes, i, n)
		json_array_append_new(out, node_status(n));
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return text;
}
