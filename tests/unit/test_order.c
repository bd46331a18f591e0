/* core/order: the rules that turn references into dependencies, one test per rule, and the
 * orders they give between providers. */
#include "testutil.h"
#include "core/order.h"

static bool dep(const plan *p, size_t step, size_t on)
{
	return plan_step_depends_on(plan_step_at(p, step), on);
}

static void ordered(plan *p)
{
	berth_error err = {0};
	assert_int_equal(order_plan(p, &err), 0);
	assert_null(err.message);
}

/* Rule 1: a step that needs K runs after every step that gives K. */
static void test_rule1_needs_after_gives(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t share = plan_add_step(p, PLAN_CREATE, "file share", "logs", NULL, NULL);
	plan_add_ref(p, share, PLAN_GIVES, "fileshare acct/logs");
	size_t other = plan_add_step(p, PLAN_CREATE, "file share", "data", NULL, NULL);
	plan_add_ref(p, other, PLAN_GIVES, "fileshare acct/data");
	size_t svc = plan_add_step(p, PLAN_CREATE, "service", "web", NULL, NULL);
	plan_add_ref(p, svc, PLAN_NEEDS, "fileshare acct/logs");
	ordered(p);
	assert_true(dep(p, svc, share));
	assert_false(dep(p, svc, other)); /* another key: no edge */
	assert_false(dep(p, share, svc));
	plan_free(p);
}

/* Rule 2: a step that removes K runs after every step that needs K. */
static void test_rule2_removes_after_needs(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t group = plan_add_step(p, PLAN_DELETE, "container group", "web", NULL, NULL);
	plan_add_ref(p, group, PLAN_REMOVES, "fqdn web.westeurope.azurecontainer.io");
	size_t ep = plan_add_step(p, PLAN_DELETE, "endpoint", "tm/web", NULL, NULL);
	plan_add_ref(p, ep, PLAN_NEEDS, "fqdn web.westeurope.azurecontainer.io");
	size_t unrelated = plan_add_step(p, PLAN_DELETE, "endpoint", "tm/api", NULL, NULL);
	plan_add_ref(p, unrelated, PLAN_NEEDS, "fqdn api.westeurope.azurecontainer.io");
	ordered(p);
	assert_true(dep(p, group, ep));
	assert_false(dep(p, group, unrelated));
	assert_false(dep(p, ep, group));
	plan_free(p);
}

/* Rule 3: no step waits for itself, and a giver and a remover of one key get no edge between
 * them (only through the steps that need it). */
static void test_rule3_no_self_and_no_giver_remover_edge(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t both = plan_add_step(p, PLAN_REPLACE, "container group", "web", NULL, NULL);
	plan_add_ref(p, both, PLAN_GIVES, "container_group web");
	plan_add_ref(p, both, PLAN_NEEDS, "container_group web");
	size_t up = plan_add_step(p, PLAN_UPDATE, "scale set", "a", NULL, NULL);
	plan_add_ref(p, up, PLAN_GIVES, "capacity swarm");
	size_t down = plan_add_step(p, PLAN_UPDATE, "scale set", "b", NULL, NULL);
	plan_add_ref(p, down, PLAN_REMOVES, "capacity swarm");
	ordered(p);
	assert_int_equal(plan_step_n_deps(plan_step_at(p, both)), 0);
	assert_false(dep(p, up, down));
	assert_false(dep(p, down, up));
	plan_free(p);
}

/* Keys compare case-insensitively, as DNS names and Azure names do. */
static void test_keys_match_case_insensitively(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t group = plan_add_step(p, PLAN_CREATE, "container group", "web", NULL, NULL);
	plan_add_ref(p, group, PLAN_GIVES, "fqdn Web.WestEurope.AzureContainer.io");
	size_t ep = plan_add_step(p, PLAN_CREATE, "endpoint", "tm/web", NULL, NULL);
	plan_add_ref(p, ep, PLAN_NEEDS, "fqdn web.westeurope.azurecontainer.io");
	ordered(p);
	assert_true(dep(p, ep, group));
	plan_free(p);
}

/* Capacity: services run after it grows and before it shrinks (two providers, two rules). */
static void test_capacity_around_services(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t grow = plan_add_step(p, PLAN_UPDATE, "scale set", "workers", "capacity increased", NULL);
	plan_add_ref(p, grow, PLAN_GIVES, "capacity swarm");
	size_t shrink = plan_add_step(p, PLAN_UPDATE, "scale set", "spare", "capacity decreased", NULL);
	plan_add_ref(p, shrink, PLAN_REMOVES, "capacity swarm");
	size_t svc[3];
	plan_action acts[3] = {PLAN_CREATE, PLAN_UPDATE, PLAN_DELETE};
	for (int i = 0; i < 3; i++) {
		svc[i] = plan_add_step(p, acts[i], "service", "s", NULL, NULL);
		plan_add_ref(p, svc[i], PLAN_NEEDS, "capacity swarm");
	}
	ordered(p);
	for (int i = 0; i < 3; i++) {
		assert_true(dep(p, svc[i], grow));
		assert_true(dep(p, shrink, svc[i]));
	}
	plan_free(p);
}

/* A cycle through references is refused with the step it goes through (a provider bug). */
static void test_cycle_is_an_error(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t a = plan_add_step(p, PLAN_CREATE, "x", "a", NULL, NULL);
	size_t b = plan_add_step(p, PLAN_CREATE, "x", "b", NULL, NULL);
	plan_add_ref(p, a, PLAN_GIVES, "k1");
	plan_add_ref(p, b, PLAN_NEEDS, "k1");
	plan_add_ref(p, b, PLAN_GIVES, "k2");
	plan_add_ref(p, a, PLAN_NEEDS, "k2");
	berth_error err = {0};
	assert_int_equal(order_plan(p, &err), BERTH_EPLAN);
	assert_int_equal(err.code, BERTH_EPLAN);
	assert_non_null(strstr(err.message, "dependency cycle through create x "));
	berth_error_clear(&err);
	plan_free(p);
}

/* Without references the rules add nothing: intra-provider order stays the provider's. */
static void test_no_refs_no_edges(void **state)
{
	(void)state;
	plan *p = plan_new();
	size_t a = plan_add_step(p, PLAN_CREATE, "network", "n", NULL, NULL);
	size_t b = plan_add_step(p, PLAN_CREATE, "service", "s", NULL, NULL);
	plan_add_dep(p, b, a);
	ordered(p);
	assert_int_equal(plan_step_n_deps(plan_step_at(p, a)), 0);
	assert_int_equal(plan_step_n_deps(plan_step_at(p, b)), 1);
	plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule1_needs_after_gives),
		cmocka_unit_test(test_rule2_removes_after_needs),
		cmocka_unit_test(test_rule3_no_self_and_no_giver_remover_edge),
		cmocka_unit_test(test_keys_match_case_insensitively),
		cmocka_unit_test(test_capacity_around_services),
		cmocka_unit_test(test_cycle_is_an_error),
		cmocka_unit_test(test_no_refs_no_edges),
	};
	return cmocka_run_group_tests_name("order", tests, NULL, NULL);
}
