#include "core/order.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

typedef struct {
	const char *key;
	size_t step;
	plan_ref_mode mode;
} ref_entry;

static int by_key(const void *a, const void *b)
{
	const ref_entry *x = a, *y = b;
	int c = strcasecmp(x->key, y->key);
	if (c)
		return c;
	return x->step < y->step ? -1 : x->step > y->step;
}

int order_plan(plan *p, berth_error *err)
{
	/* All references sorted by key: each key's givers, needers and removers are then adjacent, so
	 * the rules cost O(r log r + edges) rather than a scan per pair of steps. */
	size_t n = 0;
	for (size_t i = 0; i < plan_count(p); i++)
		n += plan_step_n_refs(plan_step_at(p, i));
	ref_entry *refs = xcalloc(n, sizeof(*refs));
	size_t k = 0;
	for (size_t i = 0; i < plan_count(p); i++) {
		const plan_step *s = plan_step_at(p, i);
		for (size_t r = 0; r < plan_step_n_refs(s); r++) {
			const plan_ref *ref = plan_step_ref(s, r);
			refs[k++] = (ref_entry){ref->key, i, ref->mode};
		}
	}
	qsort(refs, n, sizeof(*refs), by_key);
	for (size_t lo = 0; lo < n;) {
		size_t hi = lo;
		while (hi < n && !strcasecmp(refs[hi].key, refs[lo].key))
			hi++;
		for (size_t a = lo; a < hi; a++) {
			if (refs[a].mode != PLAN_NEEDS)
				continue;
			for (size_t b = lo; b < hi; b++) {
				if (refs[a].step == refs[b].step)
					continue; /* rule 3 */
				if (refs[b].mode == PLAN_GIVES)
					plan_add_dep(p, refs[a].step, refs[b].step); /* rule 1 */
				else if (refs[b].mode == PLAN_REMOVES)
					plan_add_dep(p, refs[b].step, refs[a].step); /* rule 2 */
			}
		}
		lo = hi;
	}
	free(refs);
	size_t cycle = 0;
	size_t *order = plan_topo_order(p, &cycle);
	if (!order) {
		const plan_step *s = plan_step_at(p, cycle);
		return berth_error_set(err, BERTH_EPLAN, "the plan has a dependency cycle through %s %s %s (a bug: please report it)",
				       plan_action_name(plan_step_action(s)), plan_step_kind(s), plan_step_name(s));
	}
	free(order);
	return 0;
}
