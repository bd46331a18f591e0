/* The machine-readable rendering of a plan. Sensitive values are absent, not masked. */
#include <stdlib.h>

#include "core/version.h"
#include "render/render.h"

static json_t *nullable(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *plan_to_json(const plan *p, json_t *meta)
{
	json_t *steps = json_array();
	size_t counts[4] = {0};
	size_t *order = plan_topo_order(p, NULL);
	for (size_t k = 0; k < plan_count(p); k++) {
		const plan_step *s = plan_step_at(p, order ? order[k] : k);
		counts[plan_step_action(s)]++;
		json_t *deps = json_array();
		for (size_t d = 0; d < plan_step_n_deps(s); d++)
			json_array_append_new(deps, json_integer((json_int_t)plan_step_dep(s, d)));
		json_t *changes = json_array();
		for (size_t c = 0; c < plan_step_n_changes(s); c++) {
			const plan_change *ch = plan_step_change(s, c);
			json_array_append_new(changes, json_pack("{s:s, s:o, s:o, s:b}", "field", ch->field, "old",
								 nullable(ch->old_value), "new", nullable(ch->new_value),
								 "sensitive", ch->sensitive));
		}
		json_array_append_new(steps, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o}", "id",
						       (json_int_t)plan_step_id(s), "action",
						       plan_action_name(plan_step_action(s)), "kind", plan_step_kind(s),
						       "name", plan_step_name(s), "reason", nullable(plan_step_reason(s)),
						       "depends_on", deps, "changes", changes));
	}
	free(order);
	json_t *out = json_pack("{s:i, s:s}", "format_version", PLAN_JSON_FORMAT_VERSION, "berth_version", BERTH_VERSION);
	if (meta)
		json_object_update(out, meta);
	json_object_set_new(out, "steps", steps);
	json_t *notes = json_array();
	for (size_t i = 0; i < plan_n_notes(p); i++)
		json_array_append_new(notes, json_string(plan_note(p, i)));
	json_object_set_new(out, "notes", notes);
	json_object_set_new(out, "summary", json_pack("{s:I, s:I, s:I, s:I}", "add", (json_int_t)counts[PLAN_CREATE],
						      "change", (json_int_t)counts[PLAN_UPDATE], "replace",
						      (json_int_t)counts[PLAN_REPLACE], "destroy", (json_int_t)counts[PLAN_DELETE]));
	return out;
}
