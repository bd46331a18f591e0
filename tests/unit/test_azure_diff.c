/* The Azure planners (the diff callbacks of the vmss, fileshare, aci and trafficmanager providers)
 * are pure functions of (spec, observed): these tests feed them the examples' specs, edited, and
 * observed states built from list responses recorded from the ARM simulator after applying the
 * examples (tests/unit/fixtures/azure/, re-recorded with record.sh there), in exactly the shape
 * each provider's observe() hands to diff, and check the plan: its steps, their field-level
 * changes, references and payloads, and, across providers, the order core/order gives them.
 * No server runs: fixtures only. */
#include "testutil.h"
#include "providers/aci/aci_rollout.h"
#include "core/order.h"
#include "core/plan.h"
#include "core/provider.h"
#include "engine/registry.h"
#include "providers/common/azure_common.h"
#include "render/render.h"

/* ---- observed states, as each provider's observe() builds them ----------------------------- */

/* The observed types of vmss.c and fileshare.c are private to those files; these mirror their
 * layout (aci and trafficmanager observe a json_t *: the list items themselves). Each is freed
 * with the provider's own observed_free, so a layout that drifted apart shows under ASan. */
typedef struct {
	json_t *scale_sets; /* the resource group's scale sets (list items) */
	json_t *instances;  /* scale set name -> ["<instance id>=<computer name>", ...] */
	json_t *vms;        /* scale set name -> its VM list items (NULL: not listed) */
	json_t *nodes;      /* the swarm's nodes when a scale set backs the swarm, else NULL */
	json_t *tasks;      /* the swarm's tasks that should run, likewise */
	json_t *load;       /* autoscaled sets' nodes: node id -> {cpus, known} */
	long long observed_ms;
	unsigned long stats_requests;
} vmss_observed_mirror;

typedef struct {
	json_t *shares; /* storage account name -> its shares (list items) */
} fileshare_observed_mirror;

static json_t *fixture(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/unit/fixtures/azure/%s", name);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", path, e.text);
	return j;
}

/* The list item named name (a fixture's order means nothing). */
static json_t *named(json_t *items, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
		if (!strcmp(json_string_value(json_object_get(it, "name")), name))
			return it;
	fail_msg("no item %s", name);
	return NULL;
}

/* vmss.c's observe: the scale-set list, and per wanted scale set (keyed by the spec's name) its
 * instances as "<instanceId>=<computerName>". scale_sets and vms are taken. */
static void *vmss_observed(json_t *scale_sets, const char *spec_name, json_t *vms)
{
	vmss_observed_mirror *o = calloc(1, sizeof(*o));
	o->scale_sets = scale_sets;
	o->instances = json_object();
	if (vms) {
		json_t *list = json_array();
		size_t i;
		json_t *vm;
		json_array_foreach(vms, i, vm) {
			char entry[256];
			snprintf(entry, sizeof(entry), "%s=%s", json_string_value(json_object_get(vm, "instanceId")),
				 json_string_value(json_object_get(
					 json_object_get(json_object_get(vm, "properties"), "osProfile"), "computerName")));
			json_array_append_new(list, json_string(entry));
		}
		json_object_set_new(o->instances, spec_name, list);
		json_decref(vms);
	}
	return o;
}

static void *vmss_recorded(void)
{
	return vmss_observed(fixture("vmss-scale-sets.json"), "swarm-workers", fixture("vmss-swarm-workers-vms.json"));
}

/* fileshare.c's observe: storage account -> that account's share list. items is taken. */
static void *fileshare_observed(const char *account, json_t *items)
{
	fileshare_observed_mirror *o = calloc(1, sizeof(*o));
	o->shares = json_object();
	json_object_set_new(o->shares, account, items);
	return o;
}

/* ---- specs: the examples, edited --------------------------------------------------------------- */

static const char *const ACI_JOBS_ENV[][2] = {
	{"SERVICEBUS_CONNECTION_STRING", "dummy-servicebus-connection-string"},
	{"JOBS_STORAGE_CONNECTION_STRING", "dummy-storage-connection-string"},
};

/* examples/aci-three-containers/example.env, as record.sh applied it. */
static void aci_jobs_env(void)
{
	for (size_t i = 0; i < sizeof(ACI_JOBS_ENV) / sizeof(ACI_JOBS_ENV[0]); i++)
		setenv(ACI_JOBS_ENV[i][0], ACI_JOBS_ENV[i][1], 1);
}

/* An edit of a spec's text: `from` (which must occur exactly once) becomes `to`; with `until`,
 * everything from `from` up to (not including) `until` does. */
typedef struct {
	const char *from, *to, *until;
} edit;
#define EDITS(...) (const edit[]){__VA_ARGS__}, sizeof((const edit[]){__VA_ARGS__}) / sizeof(edit)
#define NO_EDITS NULL, 0
#define E(from, to) {from, to, NULL}
#define CUT(from, until) {from, "", until}

static char *edited(const char *text, const edit *e, size_t n)
{
	char *t = strdup(text);
	for (size_t i = 0; i < n; i++) {
		char *at = strstr(t, e[i].from);
		if (!at || strstr(at + 1, e[i].from))
			fail_msg("edit: '%s' must occur exactly once", e[i].from);
		const char *rest = at + strlen(e[i].from);
		if (e[i].until && !(rest = strstr(at, e[i].until)))
			fail_msg("edit: '%s' does not follow '%s'", e[i].until, e[i].from);
		size_t len = strlen(t) - strlen(at) + strlen(e[i].to) + strlen(rest) + 1;
		char *next = malloc(len);
		snprintf(next, len, "%.*s%s%s", (int)(at - t), t, e[i].to, rest);
		free(t);
		t = next;
	}
	return t;
}

static spec *load_yaml(const char *yaml)
{
	char *text;
	spec *s = load_text(yaml, &text);
	if (!s)
		fail_msg("%s\n%s", text, yaml);
	free(text);
	return s;
}

/* The spec file at path (an example), with edits. */
static spec *example(const char *path, const edit *e, size_t n)
{
	size_t len;
	char *text = spec_read_file(path, 1 << 20, &len);
	if (!text)
		fail_msg("%s: cannot read", path);
	char *yaml = edited(text, e, n);
	spec *s = load_yaml(yaml);
	free(yaml);
	free(text);
	return s;
}

static spec *yaml_edited(const char *yaml, const edit *e, size_t n)
{
	char *t = edited(yaml, e, n);
	spec *s = load_yaml(t);
	free(t);
	return s;
}

#define VMSS_SWARM "examples/vmss-swarm/azure.yaml"
#define ROLLOUT "examples/aci-weighted-rollout/berth.yaml"
#define ACI_JOBS "examples/aci-three-containers/berth.yaml"

/* The spec record.sh applied to make fileshare-berthsharesweu.json. */
static const char *const SHARES_SPEC = "version: 1\n"
				       "name: berth-shares\n"
				       "azure:\n"
				       "  subscription: 00000000-0000-0000-0000-000000000000\n"
				       "  resource_group: rg-berth-shares\n"
				       "  location: westeurope\n"
				       "  file_shares:\n"
				       "    logs: {storage_account: berthsharesweu, quota_gb: 100, access_tier: TransactionOptimized}\n"
				       "    scratch: {storage_account: berthsharesweu, quota_gb: 10, protect: false}\n"
				       "    archive: {storage_account: berthsharesweu, quota_gb: 500, access_tier: Cool, protect: true}\n";

/* Rollout step 3 of examples/aci-weighted-rollout: app-v1 and its endpoint leave the spec. */
#define WITHOUT_V1 CUT("    app-v1:\n", "    app-v2:\n"), E("        v1:\n          container_group: app-v1\n          weight: 900\n", "")

/* What the container-group provider observes: its groups, and no rollout profiles. */
static void *aci_obs(json_t *groups)
{
	aci_observed *o = calloc(1, sizeof(*o));
	o->groups = groups;
	o->profiles = json_object();
	o->wall = 1764770000;
	return o;
}

/* ---- running a diff ---------------------------------------------------------------------------- */

static size_t provider_index(const char *name)
{
	for (size_t i = 0; i < berth_provider_count(); i++)
		if (!strcmp(berth_provider_at(i)->name, name))
			return i;
	fail_msg("no provider %s", name);
	return 0;
}

/* Diffs provider `name` into p as the engine does (plan_set_owner, then diff), then frees the
 * observed state, so nothing in the plan may point into it. Returns diff's code; *msg gets its
 * message (caller frees; NULL when none). */
static int diff_into(plan *p, const char *name, const spec *s, void *observed, bool complete, char **msg)
{
	const berth_provider *pr = berth_provider_named(name);
	assert_non_null(pr);
	assert_int_equal(pr->version, BERTH_PROVIDER_VERSION);
	assert_true(pr->wants(spec_model(s)));
	plan_set_owner(p, (int)provider_index(name), pr->free_payload);
	berth_error err = {0};
	berth_options opts = {0};
	int rc = pr->diff(spec_model(s), observed, complete, &opts, p, &err);
	pr->observed_free(observed);
	assert_int_equal(rc, err.code);
	assert_true((rc == 0) == (err.message == NULL));
	*msg = err.message;
	return rc;
}

static char *render(const plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	plan_render_text(p, f, false);
	fclose(f);
	return buf;
}

/* A diff that must succeed. */
static plan *diff_ok(const char *name, const spec *s, void *observed, bool complete)
{
	plan *p = plan_new();
	char *msg;
	if (diff_into(p, name, s, observed, complete, &msg) != 0)
		fail_msg("%s diff failed: %s", name, msg);
	return p;
}

/* A diff that must fail with EPLAN and exactly this message. */
static void diff_fails(const char *name, const spec *s, void *observed, const char *expected)
{
	plan *p = plan_new();
	char *msg;
	assert_int_equal(diff_into(p, name, s, observed, true, &msg), BERTH_EPLAN);
	if (strcmp(msg, expected))
		print_error("expected:\n%s\ngot:\n%s\n", expected, msg);
	assert_string_equal(msg, expected);
	free(msg);
	plan_free(p);
}

static void assert_steps(const plan *p, size_t n)
{
	if (plan_count(p) != n) {
		char *t = render(p);
		print_error("expected %zu steps, the plan is:\n%s", n, t);
		free(t);
	}
	assert_int_equal(plan_count(p), n);
}

static const plan_step *find_step(const plan *p, const char *kind, const char *name)
{
	for (size_t i = 0; i < plan_count(p); i++) {
		const plan_step *s = plan_step_at(p, i);
		if (!strcmp(plan_step_kind(s), kind) && !strcmp(plan_step_name(s), name))
			return s;
	}
	return NULL;
}

static const plan_step *step(const plan *p, plan_action action, const char *kind, const char *name)
{
	const plan_step *s = find_step(p, kind, name);
	if (!s) {
		char *t = render(p);
		print_error("no %s %s in:\n%s", kind, name, t);
		free(t);
	}
	assert_non_null(s);
	assert_string_equal(plan_action_name(plan_step_action(s)), plan_action_name(action));
	return s;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

/* The step's changes, exactly: n of them, and change i is fields[i]: old -> new. */
typedef struct {
	const char *field, *old_value, *new_value;
} want_change;
#define CHANGES(...) (const want_change[]){__VA_ARGS__}, sizeof((const want_change[]){__VA_ARGS__}) / sizeof(want_change)

static void assert_changes(const plan_step *s, const want_change *w, size_t n)
{
	if (plan_step_n_changes(s) != n) {
		for (size_t i = 0; i < plan_step_n_changes(s); i++) {
			const plan_change *c = plan_step_change(s, i);
			print_error("  %s: %s -> %s\n", c->field, c->old_value ? c->old_value : "(none)",
				    c->new_value ? c->new_value : "(none)");
		}
	}
	assert_int_equal(plan_step_n_changes(s), n);
	for (size_t i = 0; i < n; i++) {
		const plan_change *c = plan_step_change(s, i);
		assert_string_equal(c->field, w[i].field);
		assert_str_or_null(c->old_value, w[i].old_value);
		assert_str_or_null(c->new_value, w[i].new_value);
		assert_false(c->sensitive);
	}
}

static const plan_change *find_change(const plan_step *s, const char *field)
{
	for (size_t i = 0; i < plan_step_n_changes(s); i++)
		if (!strcmp(plan_step_change(s, i)->field, field))
			return plan_step_change(s, i);
	return NULL;
}

static const char *mode_name(plan_ref_mode m)
{
	return m == PLAN_GIVES ? "gives" : m == PLAN_NEEDS ? "needs" : "removes";
}

/* The step's references, exactly (in any order), each as "gives KEY", "needs KEY" or "removes KEY". */
static void assert_refs(const plan_step *s, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	bool ok = plan_step_n_refs(s) == n;
	for (size_t i = 0; ok && i < n; i++) {
		bool found = false;
		for (size_t r = 0; r < plan_step_n_refs(s) && !found; r++) {
			char text[512];
			snprintf(text, sizeof(text), "%s %s", mode_name(plan_step_ref(s, r)->mode), plan_step_ref(s, r)->key);
			found = !strcmp(text, want[i]);
		}
		ok = found;
	}
	if (!ok) {
		print_error("refs of %s %s:\n", plan_step_kind(s), plan_step_name(s));
		for (size_t r = 0; r < plan_step_n_refs(s); r++)
			print_error("  %s %s\n", mode_name(plan_step_ref(s, r)->mode), plan_step_ref(s, r)->key);
	}
	assert_true(ok);
}
#define REFS(...) ((const char *const[]){__VA_ARGS__, NULL})

static azure_step *payload(const plan_step *s)
{
	azure_step *a = plan_step_payload(s);
	assert_non_null(a);
	return a;
}

/* The step's request body equals the JSON text want ("null": no body). */
static void assert_body(const plan_step *s, const char *want)
{
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	assert_non_null(w);
	json_t *got = payload(s)->body;
	bool eq = json_is_null(w) ? got == NULL : json_equal(got, w);
	if (!eq) {
		char *g = got ? json_dumps(got, JSON_SORT_KEYS) : strdup("NULL");
		print_error("body of %s %s:\n%s\nwanted:\n%s\n", plan_step_kind(s), plan_step_name(s), g, want);
		free(g);
	}
	json_decref(w);
	assert_true(eq);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- vmss ------------------------------------------------------------------------------------- */

static void test_vmss_applied_example_plans_nothing(void **state)
{
	(void)state;
	spec_diags *d = spec_diags_new();
	spec *s = spec_load(VMSS_SWARM, NULL, d);
	spec_diags_free(d);
	assert_non_null(s);
	plan *p = diff_ok("vmss", s, vmss_recorded(), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_vmss_capacity_up_gives_capacity(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("capacity: 4", "capacity: 6")));
	for (int complete = 1; complete >= 0; complete--) { /* vmss never deletes: complete changes nothing */
		plan *p = diff_ok("vmss", s, vmss_recorded(), complete);
		assert_steps(p, 1);
		const plan_step *st = step(p, PLAN_UPDATE, "scale set", "swarm-workers");
		assert_string_equal(plan_step_reason(st), "capacity increased");
		assert_changes(st, CHANGES({"capacity", "4", "6"},
					   {"instances", "0=swarmwrk000000, 1=swarmwrk000001, 2=swarmwrk000002, 3=swarmwrk000003",
					    "(kept; Azure adds the new ones)"}));
		assert_refs(st, REFS("gives capacity swarm"));
		assert_body(st, "{\"sku\": {\"capacity\": 6}}");
		assert_string_equal(payload(st)->path, "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
						      "rg-vmss-swarm/providers/Microsoft.Compute/virtualMachineScaleSets/swarm-workers");
		plan_free(p);
	}
	spec_free(s);
}

static void test_vmss_capacity_down_removes_capacity(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("capacity: 4", "capacity: 2")));
	plan *p = diff_ok("vmss", s, vmss_recorded(), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_UPDATE, "scale set", "swarm-workers");
	assert_string_equal(plan_step_reason(st), "capacity decreased");
	assert_changes(st, CHANGES({"capacity", "4", "2"},
				   {"instances", "0=swarmwrk000000, 1=swarmwrk000001, 2=swarmwrk000002, 3=swarmwrk000003",
				    "(Azure's scale-in policy picks which go)"}));
	assert_refs(st, REFS("removes capacity swarm"));
	assert_body(st, "{\"sku\": {\"capacity\": 2}}");
	plan_free(p);
	spec_free(s);
}

/* A scale set that backs the swarm shrinks in two steps tied by references: the drain (after the
 * service steps: it removes the capacity) gives each chosen instance's "drained" key, which the
 * delete of exactly those instances needs. The least-loaded nodes are chosen (nodes 1 and 3). */
static void test_vmss_swarm_scale_in_drains_then_deletes_the_least_loaded(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("      capacity: 4\n", "      capacity: 2\n      swarm: {role: worker}\n")));
	json_t *vms = fixture("vmss-swarm-workers-vms.json");
	vmss_observed_mirror *o = vmss_observed(fixture("vmss-scale-sets.json"), "swarm-workers", json_incref(vms));
	o->vms = json_pack("{s:o}", "swarm-workers", vms);
	o->nodes = json_array();
	o->tasks = json_array();
	const int load[] = {2, 0, 3, 1};
	for (int i = 0; i < 4; i++) {
		char id[8], host[32];
		snprintf(id, sizeof(id), "n%d", i);
		snprintf(host, sizeof(host), "swarmwrk00000%d", i);
		json_array_append_new(o->nodes, json_pack("{s:s, s:{s:s}, s:{s:s}, s:{s:s}}", "ID", id, "Description", "Hostname",
							  host, "Status", "State", "ready", "Spec", "Role", "worker"));
		for (int k = 0; k < load[i]; k++)
			json_array_append_new(o->tasks, json_pack("{s:s, s:s}", "NodeID", id, "DesiredState", "running"));
	}
	plan *p = diff_ok("vmss", s, o, true);
	assert_steps(p, 2);
	const plan_step *drain = plan_step_at(p, 0), *del = plan_step_at(p, 1);
	assert_string_equal(plan_step_reason(drain), "drain nodes before deleting their instances");
	assert_changes(drain, CHANGES({"instance 1", "swarmwrk000001 (node swarmwrk000001, 0 tasks): fewest tasks", "drained"},
				      {"instance 3", "swarmwrk000003 (node swarmwrk000003, 1 task): fewest tasks", "drained"}));
	assert_refs(drain, REFS("removes capacity swarm", "gives drained swarm-workers/1", "gives drained swarm-workers/3"));
	assert_string_equal(plan_step_reason(del), "delete the drained instances");
	assert_refs(del, REFS("removes capacity swarm", "needs drained swarm-workers/1", "needs drained swarm-workers/3"));
	assert_int_equal(plan_n_notes(p), 1);
	assert_string_equal(plan_note(p, 0), "scale set swarm-workers: instances and swarm nodes: "
					     "0=swarmwrk000000 (node swarmwrk000000, ready, 2 tasks), "
					     "1=swarmwrk000001 (node swarmwrk000001, ready, 0 tasks), "
					     "2=swarmwrk000002 (node swarmwrk000002, ready, 3 tasks), "
					     "3=swarmwrk000003 (node swarmwrk000003, ready, 1 task)");
	plan_free(p);
	spec_free(s);
}

/* ---- cluster autoscale: the four nodes of the fixture's set, each 2 CPUs and 4 GiB ---- */

#define AS_NOW_MS 1800000000000LL
#define AS_GIB 4294967296LL /* 4 GiB */

/* An autoscaled swarm-workers set (min 1, max 10) with its four instances' nodes n0..n3: tasks[i]
 * running tasks of 0.5 CPU on node i, cpus[i] the CPUs they use (< 0: not read), idle[i] the
 * node's berth.idle-since (seconds before now; < 0: none). */
static vmss_observed_mirror *autoscaled(const int tasks[4], const double cpus[4], const int idle[4])
{
	json_t *vms = fixture("vmss-swarm-workers-vms.json");
	vmss_observed_mirror *o = vmss_observed(fixture("vmss-scale-sets.json"), "swarm-workers", json_incref(vms));
	o->vms = json_pack("{s:o}", "swarm-workers", vms);
	o->nodes = json_array();
	o->tasks = json_array();
	o->load = json_object();
	o->observed_ms = AS_NOW_MS;
	for (int i = 0; i < 4; i++) {
		char id[8], host[32], since[32];
		snprintf(id, sizeof(id), "n%d", i);
		snprintf(host, sizeof(host), "swarmwrk00000%d", i);
		json_t *labels = json_object();
		if (idle[i] >= 0) {
			snprintf(since, sizeof(since), "%lld", AS_NOW_MS / 1000 - idle[i]);
			json_object_set_new(labels, "berth.idle-since", json_string(since));
		}
		json_array_append_new(o->nodes,
				      json_pack("{s:s, s:{s:s, s:{s:I, s:I}}, s:{s:s}, s:{s:s, s:s, s:o}}", "ID", id,
						"Description", "Hostname", host, "Resources", "NanoCPUs", (json_int_t)2000000000,
						"MemoryBytes", (json_int_t)AS_GIB, "Status", "State", "ready", "Spec", "Role",
						"worker", "Availability", "active", "Labels", labels));
		for (int k = 0; k < tasks[i]; k++)
			json_array_append_new(o->tasks, json_pack("{s:s, s:s, s:s, s:{s:s}, s:{s:{s:{s:I}}}}", "ID", "t", "NodeID",
								  id, "DesiredState", "running", "Status", "State", "running",
								  "Spec", "Resources", "Reservations", "NanoCPUs",
								  (json_int_t)500000000));
		json_object_set_new(o->load, id, json_pack("{s:f, s:b}", "cpus", cpus[i] < 0 ? 0 : cpus[i], "known", cpus[i] >= 0));
	}
	return o;
}

static spec *autoscaled_spec(void)
{
	return example(VMSS_SWARM, EDITS(E("      capacity: 4\n", "      swarm: {role: worker}\n      autoscale: {min: 1, max: 10}\n")));
}

static const char *tag_of(const plan_step *st)
{
	azure_step *as = plan_step_payload(st);
	return json_string_value(json_object_get(json_object_get(as->body, "tags"), "berth-autoscale"));
}

/* Tasks pending for lack of resources for longer than pending_tasks_for: the set grows by the
 * nodes they need, the decision goes on the set's tags with the capacity, and the step says why. */
static void test_cluster_autoscale_out_on_pending_tasks(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {3, 3, 3, 3};
	const double cpus[4] = {1.5, 1.5, 1.5, 1.5};
	const int idle[4] = {-1, -1, -1, -1};
	vmss_observed_mirror *o = autoscaled(tasks, cpus, idle);
	for (int i = 0; i < 3; i++)
		json_array_append_new(o->tasks, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:I}}}}", "ID", "p", "ServiceID",
							  "svc", "CreatedAt", "2027-01-15T07:58:00.5Z", "DesiredState", "running",
							  "Status", "State", "pending", "Err",
							  "no suitable node (insufficient resources on 4 nodes)", "Spec", "Resources",
							  "Reservations", "NanoCPUs", (json_int_t)1500000000));
	plan *p = diff_ok("vmss", s, o, true);
	assert_steps(p, 1);
	const plan_step *up = step(p, PLAN_UPDATE, "scale set", "swarm-workers");
	assert_string_equal(plan_step_reason(up),
			    "capacity increased; autoscale up: 3 tasks pending for lack of resources for 1m00s or more "
			    "(the first since 2027-01-15T07:58:00Z); 3 new nodes of 2.00 CPUs, 4.0 GiB take them: 4 -> 7");
	assert_string_equal(find_change(up, "capacity")->new_value, "7");
	assert_string_equal(tag_of(up), "7 1800000000 up");
	assert_refs(up, REFS("gives capacity swarm"));
	plan_free(p);
	spec_free(s);
}

/* A node idle for longer than scale_in.for goes alone, through the drain: the decision is
 * recorded first, then exactly that node is drained and its instance deleted. */
static void test_cluster_autoscale_in_drains_the_idle_node(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {2, 0, 1, 2};
	const double cpus[4] = {1.2, 0, 1.0, 1.4};
	const int idle[4] = {-1, 700, -1, -1};
	plan *p = diff_ok("vmss", s, autoscaled(tasks, cpus, idle), true);
	assert_steps(p, 3);
	const plan_step *rec = plan_step_at(p, 1), *drain = plan_step_at(p, 0), *del = plan_step_at(p, 2);
	assert_string_equal(plan_step_reason(rec), "record the autoscale decision");
	assert_changes(rec, CHANGES({"tag berth-autoscale", NULL, "3 (known after apply) down"}));
	assert_string_equal(tag_of(rec), "3 1800000000 down");
	assert_string_equal(plan_step_reason(drain),
			    "drain nodes before deleting their instances; autoscale down: node swarmwrk000001 (instance 1, 0 "
			    "tasks) idle: cpu 0% below 20% since 2027-01-15T07:48:20Z (at least 10m00s): 4 -> 3");
	assert_changes(drain, CHANGES({"instance 1", "swarmwrk000001 (node swarmwrk000001, 0 tasks): fewest tasks", "drained"}));
	assert_changes(del, CHANGES({"capacity", "4", "3"}, {"instance 1", "swarmwrk000001 (node swarmwrk000001, 0 tasks): fewest tasks", "(deleted)"}));
	plan_free(p);
	spec_free(s);
}

/* A task pinned to the idle node (its constraints allow no other) keeps the node: a drain would
 * never finish. */
static void test_cluster_autoscale_pinned_task_keeps_the_idle_node(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {2, 1, 1, 2};
	const double cpus[4] = {1.2, 0, 1.0, 1.4};
	const int idle[4] = {-1, 700, -1, -1};
	vmss_observed_mirror *o = autoscaled(tasks, cpus, idle);
	size_t i;
	json_t *t;
	json_array_foreach(o->tasks, i, t)
		if (!strcmp(json_string_value(json_object_get(t, "NodeID")), "n1"))
			json_object_set_new(json_object_get(t, "Spec"), "Placement",
					    json_pack("{s:[s]}", "Constraints", "node.hostname == swarmwrk000001"));
	plan *p = diff_ok("vmss", s, o, true);
	assert_steps(p, 0);
	int found = 0;
	for (size_t k = 0; k < plan_n_notes(p); k++)
		found += strstr(plan_note(p, k), "1 idle node, but its tasks would not fit on the other nodes") != NULL;
	assert_int_equal(found, 1);
	plan_free(p);
	spec_free(s);
}

/* The cooldown counts from the change the tag records, once the set has that capacity: a
 * recorded scale-in that was cut short before its drain is not held back by itself. */
static void test_cluster_autoscale_cooldown_from_the_tag(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {2, 0, 1, 2};
	const double cpus[4] = {1.2, 0, 1.0, 1.4};
	const int idle[4] = {-1, 700, -1, -1};
	vmss_observed_mirror *o = autoscaled(tasks, cpus, idle);
	json_object_set_new(json_object_get(named(o->scale_sets, "swarm-workers"), "tags"), "berth-autoscale",
			    json_string("4 1799999940 up"));
	plan *p = diff_ok("vmss", s, o, true);
	assert_steps(p, 0);
	int found = 0;
	for (size_t i = 0; i < plan_n_notes(p); i++)
		found += strstr(plan_note(p, i), "node swarmwrk000001 is idle, scale-in held by the cooldown for 9m00s more") != NULL;
	assert_int_equal(found, 1);
	plan_free(p);
	o = autoscaled(tasks, cpus, idle);
	json_object_set_new(json_object_get(named(o->scale_sets, "swarm-workers"), "tags"), "berth-autoscale",
			    json_string("3 1799999940 down"));
	p = diff_ok("vmss", s, o, true);
	assert_steps(p, 3);
	assert_changes(plan_step_at(p, 1), CHANGES({"tag berth-autoscale", "3 1799999940 down", "3 (known after apply) down"}));
	plan_free(p);
	spec_free(s);
}

/* The idle clock: a node seen idle for the first time gets berth.idle-since (and the plan says
 * when a scale-in may follow: berth run comes back then); a busy node loses it, and so does one
 * whose load cannot be read. */
static void test_cluster_autoscale_idle_clock(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {2, 0, 1, 2};
	const double cpus[4] = {1.2, 0, 1.0, -1};
	const int idle[4] = {-1, -1, 300, 300};
	plan *p = diff_ok("vmss", s, autoscaled(tasks, cpus, idle), true);
	assert_steps(p, 3);
	const plan_step *mark = step(p, PLAN_UPDATE, "swarm node", "swarmwrk000001");
	assert_string_equal(plan_step_reason(mark), "idle: its tasks use less than 20% of its CPUs");
	assert_changes(mark, CHANGES({"label berth.idle-since", NULL, "(known after apply)"}));
	const plan_step *busy = step(p, PLAN_UPDATE, "swarm node", "swarmwrk000002");
	assert_string_equal(plan_step_reason(busy), "busy again: its tasks use 20% of its CPUs or more");
	assert_changes(busy, CHANGES({"label berth.idle-since", "1799999700", NULL}));
	/* node 3's load could not be read: its clock stops (a gap in the readings is no idle time) */
	const plan_step *unknown = step(p, PLAN_UPDATE, "swarm node", "swarmwrk000003");
	assert_string_equal(plan_step_reason(unknown), "its load could not be read");
	assert_changes(unknown, CHANGES({"label berth.idle-since", "1799999700", NULL}));
	int found = 0;
	for (size_t i = 0; i < plan_n_notes(p); i++)
		found += strstr(plan_note(p, i), "scale set swarm-workers: autoscale keeps 4 instances: 1 idle node (cpu below "
						 "20%), the first for 10m00s in 10m00s") != NULL;
	assert_int_equal(found, 1);
	assert_true(plan_recheck(p) > 599 && plan_recheck(p) <= 600);
	plan_free(p);
	spec_free(s);
}

/* A manual capacity next to autoscale is a spec error; an autoscale decision never undoes
 * itself: with nothing to do the plan is empty. */
static void test_cluster_autoscale_steady_plans_nothing(void **state)
{
	(void)state;
	spec *s = autoscaled_spec();
	const int tasks[4] = {2, 2, 2, 2};
	const double cpus[4] = {1.2, 1.2, 1.2, 1.2};
	const int idle[4] = {-1, -1, -1, -1};
	plan *p = diff_ok("vmss", s, autoscaled(tasks, cpus, idle), true);
	assert_steps(p, 0);
	assert_true(plan_recheck(p) == 0);
	plan_free(p);
	spec_free(s);
}

/* A node berth drained for a scale-in that is no longer wanted (the capacity put back after a
 * drain timed out) goes back into service, before the services (it gives capacity). */
static void test_vmss_drained_node_of_an_abandoned_scale_in_is_undrained(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("      capacity: 4\n", "      capacity: 4\n      swarm: {role: worker}\n")));
	const int tasks[4] = {1, 0, 1, 1};
	const double cpus[4] = {-1, -1, -1, -1};
	const int idle[4] = {-1, -1, -1, -1};
	vmss_observed_mirror *o = autoscaled(tasks, cpus, idle);
	json_t *spec1 = json_object_get(json_array_get(o->nodes, 1), "Spec");
	json_object_set_new(spec1, "Availability", json_string("drain"));
	json_object_set_new(json_object_get(spec1, "Labels"), "berth.draining", json_string("vmss-swarm"));
	plan *p = diff_ok("vmss", s, o, true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_UPDATE, "swarm node", "swarmwrk000001");
	assert_string_equal(plan_step_reason(st), "drained for a scale-in that is no longer wanted: back into service");
	assert_changes(st, CHANGES({"availability", "drain", "active"}));
	assert_refs(st, REFS("gives capacity swarm"));
	plan_free(p);
	spec_free(s);
}

/* Without listed instances there is nothing to say about them: the capacity alone changes. */
static void test_vmss_no_instances_no_instances_change(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("capacity: 4", "capacity: 5")));
	plan *p = diff_ok("vmss", s, vmss_observed(fixture("vmss-scale-sets.json"), "swarm-workers", json_array()), true);
	assert_steps(p, 1);
	assert_changes(step(p, PLAN_UPDATE, "scale set", "swarm-workers"), CHANGES({"capacity", "4", "5"}));
	plan_free(p);
	spec_free(s);
}

/* berth sizes scale sets it owns; it never creates one, nor sizes someone else's. */
static void test_vmss_missing_or_unowned_scale_sets_are_plan_errors(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("      capacity: 4\n", "      capacity: 4\n    missing: {capacity: 1}\n"
								"    build-agents: {capacity: 3}\n    other-team: {capacity: 2}\n")));
	diff_fails("vmss", s, vmss_recorded(),
		   "scale set 'missing' does not exist in resource group 'rg-vmss-swarm'; berth sizes scale sets, it does not "
		   "create them\n"
		   "scale set 'build-agents' is not tagged berth-owner=vmss-swarm; berth only sizes scale sets that carry its "
		   "owner tag\n"
		   "scale set 'other-team' is not tagged berth-owner=vmss-swarm (it belongs to 'someone-else'); berth only "
		   "sizes scale sets that carry its owner tag");
	spec_free(s);
}

/* Scale-set names are case-insensitive in Azure: "Swarm-Workers" is the recorded swarm-workers. */
static void test_vmss_names_match_case_insensitively(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, EDITS(E("swarm-workers:", "Swarm-Workers:")));
	/* observe keys the instances by the spec's name */
	plan *p = diff_ok("vmss", s, vmss_observed(fixture("vmss-scale-sets.json"), "Swarm-Workers",
						    fixture("vmss-swarm-workers-vms.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
	s = example(VMSS_SWARM, EDITS(E("swarm-workers:", "Swarm-Workers:"), E("capacity: 4", "capacity: 3")));
	p = diff_ok("vmss", s, vmss_observed(fixture("vmss-scale-sets.json"), "Swarm-Workers",
					     fixture("vmss-swarm-workers-vms.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_UPDATE, "scale set", "Swarm-Workers");
	assert_int_equal(plan_step_n_changes(st), 2);
	assert_string_equal(find_change(st, "capacity")->old_value, "4");
	assert_non_null(find_change(st, "instances"));
	plan_free(p);
	spec_free(s);
}

/* ---- fileshare ------------------------------------------------------------------------------- */

static void test_fileshare_applied_examples_plan_nothing(void **state)
{
	(void)state;
	spec *s = example(VMSS_SWARM, NO_EDITS);
	plan *p = diff_ok("fileshare", s, fileshare_observed("vmssswarmcontentweu", fixture("fileshare-vmssswarmcontentweu.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
	aci_jobs_env();
	s = example(ACI_JOBS, NO_EDITS);
	p = diff_ok("fileshare", s, fileshare_observed("acijobslogsweu", fixture("fileshare-acijobslogsweu.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
	/* Another owner's share and one made outside berth sit in the account: untouched. */
	s = load_yaml(SHARES_SPEC);
	p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_fileshare_create(void **state)
{
	(void)state;
	spec *s = yaml_edited(SHARES_SPEC, EDITS(E("    scratch:", "    uploads: {storage_account: berthsharesweu, quota_gb: 5}\n    scratch:")));
	plan *p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_CREATE, "file share", "uploads");
	assert_null(plan_step_reason(st));
	assert_changes(st, CHANGES({"storage_account", NULL, "berthsharesweu"}, {"quota_gb", NULL, "5"}, {"protect", NULL, "true"}));
	assert_refs(st, REFS("gives fileshare berthsharesweu/uploads"));
	assert_body(st, "{\"properties\": {\"shareQuota\": 5, \"metadata\": {\"berth-owner\": \"berth-shares\", \"berth-protect\": \"true\"}}}");
	assert_string_equal(payload(st)->path, "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-berth-shares/"
					      "providers/Microsoft.Storage/storageAccounts/berthsharesweu/fileServices/default/shares/uploads");
	plan_free(p);
	spec_free(s);
}

static void test_fileshare_update_in_place(void **state)
{
	(void)state;
	static const struct {
		const char *to, *reason;
		want_change changes[3];
		size_t n;
	} cases[] = {
		{"logs: {storage_account: berthsharesweu, quota_gb: 200, access_tier: Hot, protect: false}", "quota changed",
		 {{"quota_gb", "100", "200"}, {"access_tier", "TransactionOptimized", "Hot"}, {"protect", "true", "false"}}, 3},
		{"logs: {storage_account: berthsharesweu, quota_gb: 100, access_tier: Hot}", "access tier changed",
		 {{"access_tier", "TransactionOptimized", "Hot"}}, 1},
		{"logs: {storage_account: berthsharesweu, quota_gb: 100, access_tier: TransactionOptimized, protect: false}",
		 "protection changed", {{"protect", "true", "false"}}, 1},
		/* Without quota or tier in the spec, Azure's values stand: nothing to change. */
		{"logs: {storage_account: berthsharesweu}", NULL, {{NULL, NULL, NULL}}, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spec *s = yaml_edited(SHARES_SPEC, EDITS(E("logs: {storage_account: berthsharesweu, quota_gb: 100, access_tier: TransactionOptimized}", cases[i].to)));
		plan *p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), true);
		if (!cases[i].n) {
			assert_steps(p, 0);
		} else {
			assert_steps(p, 1);
			const plan_step *st = step(p, PLAN_UPDATE, "file share", "logs");
			assert_string_equal(plan_step_reason(st), cases[i].reason);
			assert_changes(st, cases[i].changes, cases[i].n);
			assert_refs(st, REFS("gives fileshare berthsharesweu/logs"));
			const char *protect = json_string_value(json_object_get(
				json_object_get(json_object_get(payload(st)->body, "properties"), "metadata"), "berth-protect"));
			assert_string_equal(protect, strstr(cases[i].to, "protect: false") ? "false" : "true");
		}
		plan_free(p);
		spec_free(s);
	}
}

/* Owned shares that left the spec: deleted only when they were declared protect: false; another
 * owner's (even unprotected) and a share made outside berth are never touched. */
static void test_fileshare_delete_only_unprotected_owned(void **state)
{
	(void)state;
	spec *s = yaml_edited(SHARES_SPEC, EDITS(CUT("    scratch:", "    archive:"), CUT("    archive:", "\n")));
	assert_int_equal(spec_model(s)->azure.n_file_shares, 1);
	plan *p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_DELETE, "file share", "scratch");
	assert_string_equal(plan_step_reason(st), "not in the spec (protect: false)");
	assert_refs(st, REFS("removes fileshare berthsharesweu/scratch"));
	assert_body(st, "null");
	assert_true(ends_with(payload(st)->path, "/storageAccounts/berthsharesweu/fileServices/default/shares/scratch"));
	assert_null(find_step(p, "file share", "archive"));    /* protected */
	assert_null(find_step(p, "file share", "other-data")); /* another owner's, protect false */
	assert_null(find_step(p, "file share", "team-data"));  /* not berth's */
	plan_free(p);
	/* An incomplete observation forbids deletes. */
	p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), false);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_fileshare_unowned_same_name_is_a_plan_error(void **state)
{
	(void)state;
	spec *s = yaml_edited(SHARES_SPEC, EDITS(E("    scratch:", "    team-data: {storage_account: berthsharesweu}\n"
									  "    other-data: {storage_account: berthsharesweu}\n    scratch:")));
	diff_fails("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")),
		   "file share 'team-data' in storage account 'berthsharesweu' exists and was not created by berth (no "
		   "berth-owner metadata); berth never adopts objects\n"
		   "file share 'other-data' in storage account 'berthsharesweu' exists and belongs to another berth owner; berth "
		   "never adopts objects");
	spec_free(s);
}

/* ---- aci --------------------------------------------------------------------------------------- */

static void test_aci_applied_examples_plan_nothing(void **state)
{
	(void)state;
	/* Azure fills in sku, fqdn, ip, provisioningState, autoGeneratedDomainNameLabelScope and drops
	 * the secure values; a group made outside berth and another owner's sit next to them. */
	spec *s = example(ROLLOUT, NO_EDITS);
	plan *p = diff_ok("aci", s, aci_obs(fixture("aci-contoso-web.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
	aci_jobs_env();
	s = example(ACI_JOBS, NO_EDITS);
	p = diff_ok("aci", s, aci_obs(fixture("aci-aci-jobs.json")), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

/* What Azure may return in another form than berth sent it: no change either. */
static void test_aci_equivalent_observed_forms_plan_nothing(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, NO_EDITS);
	json_t *obs = fixture("aci-contoso-web.json");
	json_t *v2 = named(obs, "app-v2");
	json_object_set_new(v2, "location", json_string("West Europe")); /* display name */
	json_t *web = json_array_get(json_object_get(json_object_get(v2, "properties"), "containers"), 0);
	json_t *req = json_object_get(json_object_get(json_object_get(web, "properties"), "resources"), "requests");
	json_object_set_new(req, "cpu", json_integer(1)); /* 1 for 1.0 */
	json_t *port = json_array_get(json_object_get(json_object_get(web, "properties"), "ports"), 0);
	json_object_set_new(port, "protocol", json_string("tcp"));
	json_object_del(json_array_get(json_object_get(json_object_get(json_object_get(v2, "properties"), "ipAddress"),
						       "ports"), 0), "protocol"); /* TCP is the default */
	plan *p = diff_ok("aci", s, aci_obs(obs), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_aci_create_with_refs_and_no_secret(void **state)
{
	(void)state;
	aci_jobs_env();
	spec *s = example(ACI_JOBS, NO_EDITS);
	plan *p = diff_ok("aci", s, aci_obs(json_array()), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_CREATE, "container group", "jobs");
	assert_refs(st, REFS("gives container_group jobs", "gives fqdn aci-jobs-demo.westeurope.azurecontainer.io",
			     "needs fileshare acijobslogsweu/job-logs"));
	const plan_change *c = find_change(st, "containers.logger.image");
	assert_non_null(c);
	assert_null(c->old_value);
	assert_string_equal(c->new_value, "fluent/fluent-bit:3.1");
	assert_string_equal(find_change(st, "volumes.logs")->new_value, "file share acijobslogsweu/job-logs");
	assert_string_equal(find_change(st, "containers.job-processor.secure_environment")->new_value,
			    "AzureWebJobsStorage, ServiceBusConnection");
	const plan_change *sec = find_change(st, "secure values");
	assert_non_null(sec);
	assert_true(sec->sensitive);
	assert_null(sec->old_value);
	assert_null(sec->new_value);
	/* The values are nowhere: not in the plan, its text, its JSON or the request body. */
	char *text = render(p);
	json_t *meta = json_object();
	json_t *j = plan_to_json(p, meta);
	char *dump = json_dumps(j, 0);
	char *body = json_dumps(payload(st)->body, 0);
	for (size_t i = 0; i < sizeof(ACI_JOBS_ENV) / sizeof(ACI_JOBS_ENV[0]); i++) {
		assert_null(strstr(text, ACI_JOBS_ENV[i][1]));
		assert_null(strstr(dump, ACI_JOBS_ENV[i][1]));
		assert_null(strstr(body, ACI_JOBS_ENV[i][1]));
	}
	assert_null(strstr(body, "secureValue"));
	assert_null(strstr(body, "storageAccountKey"));
	assert_non_null(strstr(text, "secure values: (sensitive value changed)"));
	free(body);
	free(dump);
	json_decref(j);
	json_decref(meta);
	free(text);
	plan_free(p);
	spec_free(s);
}

static void test_aci_update_in_place_lists_field_changes(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("image: nginx:1.27", "image: nginx:1.28"), E("APP_REVISION: v2", "APP_REVISION: v2b")));
	plan *p = diff_ok("aci", s, aci_obs(fixture("aci-contoso-web.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_UPDATE, "container group", "app-v2");
	assert_null(plan_step_reason(st));
	assert_changes(st, CHANGES({"containers.web.environment.APP_REVISION", "v2", "v2b"},
				   {"containers.web.image", "nginx:1.27", "nginx:1.28"}));
	assert_refs(st, REFS("gives container_group app-v2", "gives fqdn contoso-web-v2.westeurope.azurecontainer.io"));
	assert_string_equal(json_string_value(json_object_get(payload(st)->body, "location")), "westeurope");
	plan_free(p);
	spec_free(s);
}

/* A change Azure cannot make in place: the group is replaced, and the reason names the field. */
static void test_aci_replacements(void **state)
{
	(void)state;
	static const struct {
		edit e[2];
		const char *field, *old_value, *new_value;
	} cases[] = {
		{{E("location: westeurope", "location: northeurope")}, "location", "westeurope", "northeurope"},
		{{E("    app-v2:\n", "    app-v2:\n      os: windows\n")}, "os_type", "Linux", "Windows"},
		{{E("contoso-web-v2.westeurope.azurecontainer.io\n      restart_policy: always",
		    "contoso-web-v2.westeurope.azurecontainer.io\n      restart_policy: on_failure")},
		 "restart_policy", "Always", "OnFailure"},
		/* A private group has no DNS label, so endpoint v2 points at a name instead. */
		{{E("ip: public\n      dns_label: contoso-web-v2       # contoso-web-v2.westeurope.azurecontainer.io\n",
		    "ip: private\n"),
		  E("container_group: app-v2", "target: www.contoso.example")},
		 "ip", "Public", "Private"},
		{{E("nginx:1.27\n          cpu: 1\n", "nginx:1.27\n          cpu: 2\n")}, "containers.web.cpu", "1", "2"},
		{{E("cpu: 1\n          memory_gb: 1.5\n          ports: [80]\n          environment:\n            APP_REVISION: v2",
		    "cpu: 1\n          memory_gb: 2\n          ports: [80]\n          environment:\n            APP_REVISION: v2")},
		 "containers.web.memory_gb", "1.5", "2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spec *s = example(ROLLOUT, cases[i].e, cases[i].e[1].from ? 2 : 1);
		plan *p = diff_ok("aci", s, aci_obs(fixture("aci-contoso-web.json")), true);
		const plan_step *st = step(p, PLAN_REPLACE, "container group", "app-v2");
		char reason[128];
		snprintf(reason, sizeof(reason), "%s forces replacement", cases[i].field);
		assert_string_equal(plan_step_reason(st), reason);
		const plan_change *c = find_change(st, cases[i].field);
		assert_non_null(c);
		assert_string_equal(c->old_value, cases[i].old_value);
		assert_string_equal(c->new_value, cases[i].new_value);
		/* The group gives its name and, with a DNS label, the FQDN of its (new) location. */
		if (!strcmp(cases[i].field, "ip"))
			assert_refs(st, REFS("gives container_group app-v2"));
		else if (!strcmp(cases[i].field, "location"))
			assert_refs(st, REFS("gives container_group app-v2", "gives fqdn contoso-web-v2.northeurope.azurecontainer.io"));
		else
			assert_refs(st, REFS("gives container_group app-v2", "gives fqdn contoso-web-v2.westeurope.azurecontainer.io"));
		/* Only the location is shared by both groups. */
		assert_steps(p, strcmp(cases[i].field, "location") ? 1 : 2);
		plan_free(p);
		spec_free(s);
	}
}

/* Owned groups that left the spec are deleted (what points at their FQDN goes first); a group
 * made outside berth and another owner's are never touched. */
static void test_aci_delete_only_owned(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(WITHOUT_V1));
	assert_int_equal(spec_model(s)->azure.n_container_groups, 1);
	plan *p = diff_ok("aci", s, aci_obs(fixture("aci-contoso-web.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_DELETE, "container group", "app-v1");
	assert_string_equal(plan_step_reason(st), "not in the spec");
	assert_refs(st, REFS("removes container_group app-v1", "removes fqdn contoso-web-v1.westeurope.azurecontainer.io"));
	assert_body(st, "null");
	assert_true(ends_with(payload(st)->path, "/providers/Microsoft.ContainerInstance/containerGroups/app-v1"));
	plan_free(p);
	p = diff_ok("aci", s, aci_obs(fixture("aci-contoso-web.json")), false); /* incomplete: no delete */
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_aci_unowned_same_name_is_a_plan_error(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("    app-v1:", "    legacy-web:"), E("container_group: app-v1", "container_group: legacy-web"),
					 E("    app-v2:", "    other-app:"), E("container_group: app-v2", "container_group: other-app")));
	diff_fails("aci", s, aci_obs(fixture("aci-contoso-web.json")),
		   "container group 'legacy-web' exists in resource group 'rg-contoso-web' and was not created by berth (no "
		   "berth-owner tag); berth never adopts objects\n"
		   "container group 'other-app' exists in resource group 'rg-contoso-web' and belongs to another berth owner; "
		   "berth never adopts objects");
	spec_free(s);
}

/* Azure never returns secure values: they are compared through the berth-secure-hash tag, and a
 * change is shown without either value. */
static void test_aci_secure_values_change_by_hash(void **state)
{
	(void)state;
	aci_jobs_env();
	setenv("SERVICEBUS_CONNECTION_STRING", "rotated-servicebus-secret", 1);
	spec *s = example(ACI_JOBS, NO_EDITS);
	plan *p = diff_ok("aci", s, aci_obs(fixture("aci-aci-jobs.json")), true);
	assert_steps(p, 1);
	const plan_step *st = step(p, PLAN_UPDATE, "container group", "jobs");
	assert_int_equal(plan_step_n_changes(st), 1);
	const plan_change *c = plan_step_change(st, 0);
	assert_string_equal(c->field, "secure values");
	assert_true(c->sensitive);
	assert_null(c->old_value);
	assert_null(c->new_value);
	/* The new hash goes in the tag; the value goes nowhere. */
	const char *tag = json_string_value(json_object_get(json_object_get(payload(st)->body, "tags"), AZURE_TAG_SECURE_HASH));
	json_t *obs = fixture("aci-aci-jobs.json");
	const char *old_tag = json_string_value(json_object_get(json_object_get(named(obs, "jobs"), "tags"), AZURE_TAG_SECURE_HASH));
	assert_non_null(tag);
	assert_non_null(old_tag);
	assert_string_not_equal(tag, old_tag);
	char *text = render(p), *body = json_dumps(payload(st)->body, 0);
	assert_null(strstr(text, "rotated-servicebus-secret"));
	assert_null(strstr(body, "rotated-servicebus-secret"));
	free(text);
	free(body);
	plan_free(p);
	spec_free(s);
	/* A group whose hash tag is gone (changed by hand) is updated too: the values are unknown. */
	aci_jobs_env();
	s = example(ACI_JOBS, NO_EDITS);
	json_object_del(json_object_get(named(obs, "jobs"), "tags"), AZURE_TAG_SECURE_HASH);
	p = diff_ok("aci", s, aci_obs(obs), true);
	assert_steps(p, 1);
	st = step(p, PLAN_UPDATE, "container group", "jobs");
	assert_int_equal(plan_step_n_changes(st), 1);
	assert_true(plan_step_change(st, 0)->sensitive);
	plan_free(p);
	spec_free(s);
}

/* A secure value that cannot be read at plan time is a plan error naming it (never a value). */
static void test_aci_unreadable_secure_value_is_a_plan_error(void **state)
{
	(void)state;
	aci_jobs_env();
	spec *s = example(ACI_JOBS, NO_EDITS);
	unsetenv("JOBS_STORAGE_CONNECTION_STRING");
	diff_fails("aci", s, aci_obs(fixture("aci-aci-jobs.json")),
		   "container group 'jobs': environment variable 'JOBS_STORAGE_CONNECTION_STRING' is not set");
	aci_jobs_env();
	spec_free(s);
}

/* ---- trafficmanager -------------------------------------------------------------------------- */

static void test_tm_applied_example_plans_nothing(void **state)
{
	(void)state;
	/* Azure adds fqdn, monitor statuses, priorities, trafficViewEnrollmentStatus; legacy-tm (made
	 * outside berth) sits next to it. */
	spec *s = example(ROLLOUT, NO_EDITS);
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

static void test_tm_create_profile_then_endpoints(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, NO_EDITS);
	plan *p = diff_ok("trafficmanager", s, json_array(), true);
	assert_steps(p, 3);
	const plan_step *prof = step(p, PLAN_CREATE, "traffic manager profile", "contoso-web");
	assert_changes(prof, CHANGES({"dns_name", NULL, "contoso-web-rollout"}, {"monitor.interval", NULL, "30"},
				     {"monitor.path", NULL, "/"}, {"monitor.port", NULL, "80"}, {"monitor.protocol", NULL, "HTTP"},
				     {"monitor.timeout", NULL, "10"}, {"monitor.tolerated_failures", NULL, "3"},
				     {"routing", NULL, "Weighted"}, {"status", NULL, "Enabled"}, {"ttl", NULL, "60"}));
	assert_refs(prof, REFS("gives tm_profile contoso-web"));
	/* The profile is created without endpoints: they are steps of their own. */
	assert_null(json_object_get(json_object_get(payload(prof)->body, "properties"), "endpoints"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(payload(prof)->body, "tags"), "berth-owner")),
			    "contoso-web");
	const plan_step *v1 = step(p, PLAN_CREATE, "endpoint", "contoso-web/v1");
	assert_changes(v1, CHANGES({"enabled", NULL, "true"}, {"target", NULL, "contoso-web-v1.westeurope.azurecontainer.io"},
				   {"weight", NULL, "900"}));
	assert_refs(v1, REFS("needs tm_profile contoso-web", "needs container_group app-v1"));
	assert_body(v1, "{\"properties\": {\"target\": \"contoso-web-v1.westeurope.azurecontainer.io\", \"weight\": 900, "
			"\"endpointStatus\": \"Enabled\"}}");
	assert_true(ends_with(payload(v1)->path, "/trafficmanagerprofiles/contoso-web/externalEndpoints/v1"));
	assert_refs(step(p, PLAN_CREATE, "endpoint", "contoso-web/v2"), REFS("needs tm_profile contoso-web", "needs container_group app-v2"));
	plan_free(p);
	spec_free(s);
}

static void test_tm_endpoint_weight_change(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("weight: 900", "weight: 500"), E("weight: 100", "weight: 500")));
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 2); /* the profile is unchanged */
	const plan_step *v1 = step(p, PLAN_UPDATE, "endpoint", "contoso-web/v1");
	assert_changes(v1, CHANGES({"weight", "900", "500"}));
	/* it sends traffic to its current target until it ran */
	assert_refs(v1, REFS("needs tm_profile contoso-web", "needs container_group app-v1",
			     "needs fqdn contoso-web-v1.westeurope.azurecontainer.io"));
	assert_body(v1, "{\"properties\": {\"target\": \"contoso-web-v1.westeurope.azurecontainer.io\", \"weight\": 500, "
			"\"endpointStatus\": \"Enabled\"}}");
	const plan_step *v2 = step(p, PLAN_UPDATE, "endpoint", "contoso-web/v2");
	assert_changes(v2, CHANGES({"weight", "100", "500"}));
	plan_free(p);
	spec_free(s);
}

static void test_tm_endpoint_disabled(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("weight: 900\n", "weight: 900\n          enabled: false\n")));
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 1);
	const plan_step *v1 = step(p, PLAN_UPDATE, "endpoint", "contoso-web/v1");
	assert_changes(v1, CHANGES({"enabled", "true", "false"}));
	assert_string_equal(json_string_value(json_object_get(json_object_get(payload(v1)->body, "properties"), "endpointStatus")),
			    "Disabled");
	plan_free(p);
	spec_free(s);
}

/* A profile change is its own step, whose body (PATCHed) has no endpoints, so it leaves them be. */
static void test_tm_profile_update_leaves_endpoints(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("ttl: 60", "ttl: 30"), E("path: /", "path: /healthz")));
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 1);
	const plan_step *prof = step(p, PLAN_UPDATE, "traffic manager profile", "contoso-web");
	assert_changes(prof, CHANGES({"monitor.path", "/", "/healthz"}, {"ttl", "60", "30"}));
	assert_refs(prof, REFS("gives tm_profile contoso-web"));
	json_t *props = json_object_get(payload(prof)->body, "properties");
	assert_null(json_object_get(props, "endpoints"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(props, "dnsConfig"), "ttl")), 30);
	assert_true(ends_with(payload(prof)->path, "/trafficmanagerprofiles/contoso-web"));
	plan_free(p);
	spec_free(s);
}

/* Rollout step 3: endpoint v1 leaves the spec; its delete needs the FQDN it points at, so the
 * group behind it is deleted only after. */
static void test_tm_endpoint_delete_needs_its_target(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(WITHOUT_V1));
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 1);
	const plan_step *v1 = step(p, PLAN_DELETE, "endpoint", "contoso-web/v1");
	assert_string_equal(plan_step_reason(v1), "not in the spec");
	assert_refs(v1, REFS("needs fqdn contoso-web-v1.westeurope.azurecontainer.io"));
	assert_body(v1, "null");
	assert_true(ends_with(payload(v1)->path, "/trafficmanagerprofiles/contoso-web/externalEndpoints/v1"));
	plan_free(p);
	p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), false); /* incomplete: no delete */
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

/* An owned profile that left the spec is deleted with its endpoints (needing their targets);
 * legacy-tm, not berth's, is never touched. */
static void test_tm_owned_profile_delete(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("    contoso-web:\n      routing", "    contoso-web-2:\n      routing"),
					 E("dns_name: contoso-web-rollout", "dns_name: contoso-web-two")));
	plan *p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), true);
	assert_steps(p, 4);
	step(p, PLAN_CREATE, "traffic manager profile", "contoso-web-2");
	step(p, PLAN_CREATE, "endpoint", "contoso-web-2/v1");
	step(p, PLAN_CREATE, "endpoint", "contoso-web-2/v2");
	const plan_step *old = step(p, PLAN_DELETE, "traffic manager profile", "contoso-web");
	assert_refs(old, REFS("removes tm_profile contoso-web", "needs fqdn contoso-web-v1.westeurope.azurecontainer.io",
			      "needs fqdn contoso-web-v2.westeurope.azurecontainer.io"));
	assert_null(find_step(p, "traffic manager profile", "legacy-tm"));
	plan_free(p);
	p = diff_ok("trafficmanager", s, fixture("tm-contoso-web.json"), false);
	assert_steps(p, 3);
	assert_null(find_step(p, "traffic manager profile", "contoso-web"));
	plan_free(p);
	spec_free(s);
}

static void test_tm_unowned_same_name_is_a_plan_error(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(E("    contoso-web:\n      routing", "    legacy-tm:\n      routing")));
	diff_fails("trafficmanager", s, fixture("tm-contoso-web.json"),
		   "Traffic Manager profile 'legacy-tm' exists in resource group 'rg-contoso-web' and was not created by berth "
		   "(no berth-owner tag); berth never adopts objects");
	spec_free(s);
	s = example(ROLLOUT, NO_EDITS);
	json_t *obs = fixture("tm-contoso-web.json");
	json_object_set_new(json_object_get(named(obs, "contoso-web"), "tags"), "berth-owner", json_string("someone-else"));
	diff_fails("trafficmanager", s, obs,
		   "Traffic Manager profile 'contoso-web' exists in resource group 'rg-contoso-web' and belongs to another "
		   "berth owner; berth never adopts objects");
	spec_free(s);
}

static void upper(json_t *obj, const char *key)
{
	char *v = strdup(json_string_value(json_object_get(obj, key)));
	for (char *c = v; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	json_object_set_new(obj, key, json_string(v));
	free(v);
}

/* Profile and endpoint names, the relative DNS name and targets are case-insensitive in Azure. */
static void test_tm_names_match_case_insensitively(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, NO_EDITS);
	json_t *obs = fixture("tm-contoso-web.json");
	json_t *prof = named(obs, "contoso-web");
	json_object_set_new(prof, "name", json_string("Contoso-Web"));
	json_t *props = json_object_get(prof, "properties");
	json_object_set_new(json_object_get(props, "dnsConfig"), "relativeName", json_string("Contoso-Web-Rollout"));
	size_t i;
	json_t *ep;
	json_array_foreach(json_object_get(props, "endpoints"), i, ep) {
		upper(ep, "name");
		upper(json_object_get(ep, "properties"), "target");
	}
	plan *p = diff_ok("trafficmanager", s, obs, true);
	assert_steps(p, 0);
	plan_free(p);
	spec_free(s);
}

/* ---- across providers: core/order ------------------------------------------------------------ */

/* One plan from fileshare, aci and trafficmanager, built as the engine builds it, then ordered:
 * rollout step 3 with a third revision that mounts a new share. */
static void test_order_across_providers(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT, EDITS(WITHOUT_V1,
					 E("  container_groups:\n",
					  "  file_shares:\n    web-content: {storage_account: contosowebweu, quota_gb: 10}\n"
					  "  container_groups:\n"
					  "    app-v3:\n      ip: public\n      dns_label: contoso-web-v3\n"
					  "      volumes:\n        content: {file_share: web-content, read_only: true}\n"
					  "      containers:\n        web:\n          image: nginx:1.28\n          cpu: 1\n"
					  "          memory_gb: 1.5\n          ports: [80]\n"
					  "          volume_mounts: {content: /usr/share/nginx/html}\n"),
					 E("          weight: 100\n", "          weight: 100\n        v3:\n          container_group: app-v3\n"
								 "          weight: 100\n")));
	plan *p = plan_new();
	char *msg;
	/* In the registry's order, as the engine diffs them. */
	assert_int_equal(diff_into(p, "fileshare", s, fileshare_observed("contosowebweu", fixture("fileshare-contosowebweu.json")), true, &msg), 0);
	assert_int_equal(diff_into(p, "aci", s, aci_obs(fixture("aci-contoso-web.json")), true, &msg), 0);
	assert_int_equal(diff_into(p, "trafficmanager", s, fixture("tm-contoso-web.json"), true, &msg), 0);
	berth_error err = {0};
	assert_int_equal(order_plan(p, &err), 0);
	assert_null(err.message);
	assert_steps(p, 5);
	const plan_step *share = step(p, PLAN_CREATE, "file share", "web-content");
	const plan_step *v3 = step(p, PLAN_CREATE, "container group", "app-v3");
	const plan_step *v1 = step(p, PLAN_DELETE, "container group", "app-v1");
	const plan_step *ep3 = step(p, PLAN_CREATE, "endpoint", "contoso-web/v3");
	const plan_step *ep1 = step(p, PLAN_DELETE, "endpoint", "contoso-web/v1");
	assert_int_equal(plan_step_owner(share), provider_index("fileshare"));
	assert_int_equal(plan_step_owner(v3), provider_index("aci"));
	assert_int_equal(plan_step_owner(ep1), provider_index("trafficmanager"));
	assert_refs(v3, REFS("gives container_group app-v3", "gives fqdn contoso-web-v3.westeurope.azurecontainer.io",
			     "needs fileshare contosowebweu/web-content"));
	/* The share before the group that mounts it; the group before the endpoint at it; the
	 * endpoint's delete before the delete of the group it points at. */
	assert_true(plan_step_depends_on(v3, plan_step_id(share)));
	assert_true(plan_step_depends_on(ep3, plan_step_id(v3)));
	assert_true(plan_step_depends_on(v1, plan_step_id(ep1)));
	/* and nothing else. */
	assert_int_equal(plan_step_n_deps(share), 0);
	assert_int_equal(plan_step_n_deps(v3), 1);
	assert_int_equal(plan_step_n_deps(ep3), 1);
	assert_int_equal(plan_step_n_deps(ep1), 0);
	assert_int_equal(plan_step_n_deps(v1), 1);
	size_t cycle;
	size_t *order = plan_topo_order(p, &cycle);
	assert_non_null(order);
	size_t pos[5];
	for (size_t i = 0; i < 5; i++)
		pos[order[i]] = i;
	assert_true(pos[plan_step_id(share)] < pos[plan_step_id(v3)]);
	assert_true(pos[plan_step_id(v3)] < pos[plan_step_id(ep3)]);
	assert_true(pos[plan_step_id(ep1)] < pos[plan_step_id(v1)]);
	free(order);
	plan_free(p);
	spec_free(s);
}

/* ---- bugs this file found, fixed: kept as regression tests ---- */

static void test_fixed_endpoint_retarget_waits_for_old_group(void **state)
{
	(void)state;

	spec *s = example(ROLLOUT, EDITS(E("    app-v1:\n      ip: public\n      dns_label: contoso-web-v1",
					   "    app-v3:\n      ip: public\n      dns_label: contoso-web-v3"),
					 E("container_group: app-v1", "container_group: app-v3")));
	plan *p = plan_new();
	char *msg;
	assert_int_equal(diff_into(p, "aci", s, aci_obs(fixture("aci-contoso-web.json")), true, &msg), 0);
	assert_int_equal(diff_into(p, "trafficmanager", s, fixture("tm-contoso-web.json"), true, &msg), 0);
	berth_error err = {0};
	assert_int_equal(order_plan(p, &err), 0);
	const plan_step *ep = step(p, PLAN_UPDATE, "endpoint", "contoso-web/v1");
	const plan_step *old = step(p, PLAN_DELETE, "container group", "app-v1");
	assert_true(plan_step_depends_on(ep, plan_step_id(step(p, PLAN_CREATE, "container group", "app-v3"))));
	assert_true(plan_step_depends_on(old, plan_step_id(ep)));
	plan_free(p);
	spec_free(s);
}

/* aci.c: deleting a group declares no need of the shares it mounts, so a share (protect: false)
 * that leaves the spec with it may be deleted while the group still mounts it. */
static void test_fixed_share_delete_waits_for_group_delete(void **state)
{
	(void)state;

	spec *s = load_yaml("version: 1\nname: aci-jobs\nazure:\n  subscription: 00000000-0000-0000-0000-000000000000\n"
			    "  resource_group: rg-aci-jobs\n  location: westeurope\n  file_shares:\n"
			    "    other: {storage_account: acijobslogsweu}\n");
	json_t *shares = fixture("fileshare-acijobslogsweu.json"); /* job-logs, as if declared protect: false */
	json_object_set_new(json_object_get(json_object_get(named(shares, "job-logs"), "properties"), "metadata"),
			    "berth-protect", json_string("false"));
	plan *p = plan_new();
	char *msg;
	assert_int_equal(diff_into(p, "fileshare", s, fileshare_observed("acijobslogsweu", shares), true, &msg), 0);
	assert_int_equal(diff_into(p, "aci", s, aci_obs(fixture("aci-aci-jobs.json")), true, &msg), 0);
	berth_error err = {0};
	assert_int_equal(order_plan(p, &err), 0);
	const plan_step *share = step(p, PLAN_DELETE, "file share", "job-logs");
	const plan_step *group = step(p, PLAN_DELETE, "container group", "jobs");
	assert_true(plan_step_depends_on(share, plan_step_id(group)));
	plan_free(p);
	spec_free(s);
}

/* fileshare.c: a new share's access tier is in its body but not among the plan's changes. */
static void test_fixed_share_create_lists_access_tier(void **state)
{
	(void)state;

	spec *s = yaml_edited(SHARES_SPEC, EDITS(E("    scratch:", "    uploads: {storage_account: berthsharesweu, access_tier: Hot}\n    scratch:")));
	plan *p = diff_ok("fileshare", s, fileshare_observed("berthsharesweu", fixture("fileshare-berthsharesweu.json")), true);
	const plan_step *st = step(p, PLAN_CREATE, "file share", "uploads");
	assert_string_equal(json_string_value(json_object_get(json_object_get(payload(st)->body, "properties"), "accessTier")), "Hot");
	const plan_change *c = find_change(st, "access_tier");
	assert_non_null(c);
	assert_string_equal(c->new_value, "Hot");
	plan_free(p);
	spec_free(s);
}

/* ---- rollouts (examples/aci-rollout) ---------------------------------------------------------- */

#define ROLLOUT_EXAMPLE "examples/aci-rollout/berth.yaml"

/* A live revision group of web (owner shop) and the profile shop-web routing to it, with tag. */
static json_t *rollout_groups(const char *rev)
{
	return json_pack("[{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s}}]", "name", "web-aaaaaaa", "tags", "berth-owner", "shop",
			 "berth-group", "web", "berth-revision", rev, "berth-profile", "shop-web", "properties",
			 "provisioningState", "Succeeded");
}

static json_t *rollout_profile(const char *tag)
{
	json_t *p = json_pack("{s:s, s:{s:s}, s:{s:s, s:[{s:s, s:s, s:{s:s, s:i, s:s}}]}}", "name", "shop-web", "tags",
			      "berth-owner", "shop", "properties", "trafficRoutingMethod", "Weighted", "endpoints", "name",
			      "web-aaaaaaa", "type", "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
			      "properties", "target", "shop-web-aaaaaaa.westeurope.azurecontainer.io", "weight", 1000,
			      "endpointMonitorStatus", "Online");
	if (tag)
		json_object_set_new(json_object_get(p, "tags"), "berth-rollout", json_string(tag));
	return p;
}

static void *rollout_obs(const char *tag)
{
	aci_observed *o = aci_obs(rollout_groups("aaaaaaa"));
	json_object_set_new(o->profiles, "shop-web", rollout_profile(tag));
	return o;
}

static void test_rollout_plans_one_step_with_its_weights(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT_EXAMPLE, NO_EDITS);
	plan *p = plan_new();
	char *msg = NULL;
	assert_int_equal(diff_into(p, "aci", s, rollout_obs("phase=succeeded;group=web;rev=aaaaaaa;from=;step=2;since=1;healthy=-1;promote=0;reason="), true, &msg), 0);
	const plan_step *st = step(p, PLAN_UPDATE, "rollout", "web");
	const plan_change *rev = find_change(st, "revision");
	assert_non_null(rev);
	assert_string_equal(rev->old_value, "aaaaaaa");
	char want[160];
	snprintf(want, sizeof(want), "aaaaaaa \u2192 %s, 10%% \u2192 50%% \u2192 100%%, pause 2m", rev->new_value);
	assert_string_equal(plan_step_reason(st), want);
	snprintf(want, sizeof(want), "10%%: %s 100 / aaaaaaa 900, pause 120s once healthy", rev->new_value);
	assert_string_equal(find_change(st, "step 1")->new_value, want);
	snprintf(want, sizeof(want), "100%%: %s 1000, endpoint of aaaaaaa removed, then its group", rev->new_value);
	assert_string_equal(find_change(st, "step 3")->new_value, want);
	/* The revision group is the rollout's: the container-group provider leaves it alone. */
	assert_null(find_step(p, "container group", "web-aaaaaaa"));
	assert_int_equal(plan_count(p), 1);
	plan_free(p);
	spec_free(s);
}

static void test_rollout_failed_revision_is_a_note_not_a_step(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT_EXAMPLE, NO_EDITS);
	/* Learn the spec's revision from the plan of a fresh start. */
	plan *p = plan_new();
	char *msg = NULL;
	assert_int_equal(diff_into(p, "aci", s, rollout_obs(NULL), true, &msg), 0);
	char desired[8];
	snprintf(desired, sizeof(desired), "%s", find_change(step(p, PLAN_UPDATE, "rollout", "web"), "revision")->new_value);
	plan_free(p);
	char tag[200];
	snprintf(tag, sizeof(tag), "phase=failed;group=web;rev=%s;from=aaaaaaa;step=1;since=1;healthy=-1;promote=0;reason=monitor Degraded", desired);
	p = plan_new();
	assert_int_equal(diff_into(p, "aci", s, rollout_obs(tag), true, &msg), 0);
	assert_int_equal(plan_count(p), 0);
	assert_int_equal(plan_n_notes(p), 1);
	assert_non_null(strstr(plan_note(p, 0), "failed at step 2/3 (monitor Degraded); not retried until the spec changes"));
	plan_free(p);
	spec_free(s);
}

static void test_rollout_endpoints_are_not_the_traffic_managers(void **state)
{
	(void)state;
	spec *s = example(ROLLOUT_EXAMPLE, NO_EDITS);
	json_t *profiles = json_pack("[o]", rollout_profile("phase=succeeded;group=web;rev=aaaaaaa;from=;step=2;since=1;healthy=-1;promote=0;reason="));
	/* A profile setting changed: PATCHed, and the rollout's tag rides along. */
	json_object_set_new(json_object_get(json_array_get(profiles, 0), "properties"), "dnsConfig",
			    json_pack("{s:s, s:i}", "relativeName", "shop-web", "ttl", 300));
	plan *p = plan_new();
	char *msg = NULL;
	assert_int_equal(diff_into(p, "trafficmanager", s, profiles, true, &msg), 0);
	assert_null(find_step(p, "endpoint", "shop-web/web-aaaaaaa"));
	const plan_step *up = step(p, PLAN_UPDATE, "traffic manager profile", "shop-web");
	json_t *tags = json_object_get(payload(up)->body, "tags");
	assert_non_null(json_object_get(tags, "berth-rollout"));
	plan_free(p);
	spec_free(s);
}

/* The observation keeps what health gates read (a group's instance view, endpoint monitor status),
 * but the fingerprint leaves it out: it changes by itself, and must not make saved plans stale. */
static char *fp(const char *provider, json_t *observed)
{
	if (strcmp(provider, "aci"))
		return berth_provider_named(provider)->fingerprint(observed);
	aci_observed o = {.groups = observed, .profiles = json_object()};
	char *f = berth_provider_named(provider)->fingerprint(&o);
	json_decref(o.profiles);
	return f;
}

static void test_fingerprints_ignore_health_but_not_changes(void **state)
{
	(void)state;
	json_t *groups = fixture("aci-contoso-web.json");
	json_t *g = json_array_get(groups, 0);
	json_t *props = json_object_get(g, "properties");
	char *before = fp("aci", groups);
	json_object_set_new(props, "instanceView", json_pack("{s:s}", "state", "Stopped"));
	json_t *c0 = json_object_get(json_array_get(json_object_get(props, "containers"), 0), "properties");
	json_object_set_new(c0, "instanceView", json_pack("{s:i}", "restartCount", 7));
	char *health = fp("aci", groups);
	assert_string_equal(before, health);
	assert_string_equal(json_string_value(json_object_get(json_object_get(props, "instanceView"), "state")), "Stopped");
	json_object_set_new(json_object_get(g, "tags"), "berth-secure-hash", json_string("changed"));
	char *changed = fp("aci", groups);
	assert_string_not_equal(before, changed);
	free(before), free(health), free(changed);
	json_decref(groups);

	json_t *profiles = fixture("tm-contoso-web.json");
	json_t *pp = json_object_get(json_array_get(profiles, 0), "properties");
	before = fp("trafficmanager", profiles);
	json_object_set_new(json_object_get(pp, "monitorConfig"), "profileMonitorStatus", json_string("Degraded"));
	json_t *e0 = json_object_get(json_array_get(json_object_get(pp, "endpoints"), 0), "properties");
	json_object_set_new(e0, "endpointMonitorStatus", json_string("Degraded"));
	health = fp("trafficmanager", profiles);
	assert_string_equal(before, health);
	json_object_set_new(e0, "weight", json_integer(3));
	changed = fp("trafficmanager", profiles);
	assert_string_not_equal(before, changed);
	free(before), free(health), free(changed);
	json_decref(profiles);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmss_applied_example_plans_nothing),
		cmocka_unit_test(test_vmss_capacity_up_gives_capacity),
		cmocka_unit_test(test_vmss_capacity_down_removes_capacity),
		cmocka_unit_test(test_vmss_swarm_scale_in_drains_then_deletes_the_least_loaded),
		cmocka_unit_test(test_vmss_no_instances_no_instances_change),
		cmocka_unit_test(test_vmss_drained_node_of_an_abandoned_scale_in_is_undrained),
		cmocka_unit_test(test_cluster_autoscale_out_on_pending_tasks),
		cmocka_unit_test(test_cluster_autoscale_in_drains_the_idle_node),
		cmocka_unit_test(test_cluster_autoscale_idle_clock),
		cmocka_unit_test(test_cluster_autoscale_cooldown_from_the_tag),
		cmocka_unit_test(test_cluster_autoscale_pinned_task_keeps_the_idle_node),
		cmocka_unit_test(test_cluster_autoscale_steady_plans_nothing),
		cmocka_unit_test(test_vmss_missing_or_unowned_scale_sets_are_plan_errors),
		cmocka_unit_test(test_vmss_names_match_case_insensitively),
		cmocka_unit_test(test_fileshare_applied_examples_plan_nothing),
		cmocka_unit_test(test_fileshare_create),
		cmocka_unit_test(test_fileshare_update_in_place),
		cmocka_unit_test(test_fileshare_delete_only_unprotected_owned),
		cmocka_unit_test(test_fileshare_unowned_same_name_is_a_plan_error),
		cmocka_unit_test(test_aci_applied_examples_plan_nothing),
		cmocka_unit_test(test_aci_equivalent_observed_forms_plan_nothing),
		cmocka_unit_test(test_aci_create_with_refs_and_no_secret),
		cmocka_unit_test(test_aci_update_in_place_lists_field_changes),
		cmocka_unit_test(test_aci_replacements),
		cmocka_unit_test(test_aci_delete_only_owned),
		cmocka_unit_test(test_aci_unowned_same_name_is_a_plan_error),
		cmocka_unit_test(test_aci_secure_values_change_by_hash),
		cmocka_unit_test(test_aci_unreadable_secure_value_is_a_plan_error),
		cmocka_unit_test(test_tm_applied_example_plans_nothing),
		cmocka_unit_test(test_tm_create_profile_then_endpoints),
		cmocka_unit_test(test_tm_endpoint_weight_change),
		cmocka_unit_test(test_tm_endpoint_disabled),
		cmocka_unit_test(test_tm_profile_update_leaves_endpoints),
		cmocka_unit_test(test_tm_endpoint_delete_needs_its_target),
		cmocka_unit_test(test_tm_owned_profile_delete),
		cmocka_unit_test(test_tm_unowned_same_name_is_a_plan_error),
		cmocka_unit_test(test_tm_names_match_case_insensitively),
		cmocka_unit_test(test_order_across_providers),
		cmocka_unit_test(test_fixed_endpoint_retarget_waits_for_old_group),
		cmocka_unit_test(test_fixed_share_delete_waits_for_group_delete),
		cmocka_unit_test(test_fixed_share_create_lists_access_tier),
		cmocka_unit_test(test_fingerprints_ignore_health_but_not_changes),
		cmocka_unit_test(test_rollout_plans_one_step_with_its_weights),
		cmocka_unit_test(test_rollout_failed_revision_is_a_note_not_a_step),
		cmocka_unit_test(test_rollout_endpoints_are_not_the_traffic_managers),
	};
	return cmocka_run_group_tests_name("azure planners", tests, NULL, NULL);
}
