/* The human rendering of a plan. */
#include <stdlib.h>

#include "render/render.h"

#define C_RESET "\033[0m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_RED "\033[31m"
#define C_BOLD "\033[1m"

static const struct {
	const char *sym;
	const char *color;
	const char *verb;
} looks[] = {
	[PLAN_CREATE] = {"  +", C_GREEN, "created"},
	[PLAN_UPDATE] = {"  ~", C_YELLOW, "updated in place"},
	[PLAN_REPLACE] = {"-/+", C_RED, "replaced"},
	[PLAN_DELETE] = {"  -", C_RED, "destroyed"},
};

/* Lists (commands, entrypoints) are already JSON: they are shown as they are, strings quoted. */
static void value(FILE *out, const char *v)
{
	fprintf(out, v[0] == '[' ? "%s" : "\"%s\"", v);
}

static void render_change(const plan_change *c, FILE *out, bool color)
{
	const char *sym = !c->old_value && !c->sensitive ? "+" : !c->new_value && !c->sensitive ? "-" : "~";
	const char *col = *sym == '+' ? C_GREEN : *sym == '-' ? C_RED : C_YELLOW;
	fprintf(out, "      %s%s%s %s: ", color ? col : "", sym, color ? C_RESET : "", c->field);
	if (c->sensitive) {
		fputs("(sensitive value changed)\n", out);
		return;
	}
	if (c->old_value)
		value(out, c->old_value);
	if (c->old_value)
		fputs(" -> ", out);
	if (c->new_value)
		value(out, c->new_value);
	else
		fputs("null", out);
	fputc('\n', out);
}

static void render_notes(const plan *p, FILE *out)
{
	for (size_t i = 0; i < plan_n_notes(p); i++)
		fprintf(out, "\nNote: %s\n", plan_note(p, i));
}

void plan_render_text(const plan *p, FILE *out, bool color)
{
	size_t n = plan_count(p);
	if (n == 0) {
		fputs("No changes. The live state matches the spec.\n", out);
		render_notes(p, out);
		return;
	}
	size_t *order = plan_topo_order(p, NULL);
	size_t counts[4] = {0};
	fputs("berth will perform the following actions:\n", out);
	for (size_t k = 0; k < n; k++) {
		const plan_step *s = plan_step_at(p, order ? order[k] : k);
		plan_action a = plan_step_action(s);
		const char *reason = plan_step_reason(s);
		counts[a]++;
		fprintf(out, "\n  %s# %s %s will be %s%s%s%s\n", color ? C_BOLD : "", plan_step_kind(s), plan_step_name(s),
			looks[a].verb, reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
		if (color)
			fputs(C_RESET, out);
		fprintf(out, "%s%s%s %s \"%s\"\n", color ? looks[a].color : "", looks[a].sym, color ? C_RESET : "",
			plan_step_kind(s), plan_step_name(s));
		for (size_t i = 0; i < plan_step_n_changes(s); i++)
			render_change(plan_step_change(s, i), out, color);
	}
	free(order);
	render_notes(p, out);
	fprintf(out, "\nPlan: %zu to add, %zu to change, %zu to replace, %zu to destroy.\n", counts[PLAN_CREATE],
		counts[PLAN_UPDATE], counts[PLAN_REPLACE], counts[PLAN_DELETE]);
}
