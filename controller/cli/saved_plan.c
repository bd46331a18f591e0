/* The CLI's view of a saved plan: render/plan_file reads and checks it; this compares it with the
 * plan made now. */
#include "cli/saved_plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "render/plan_file.h"

struct saved_plan {
	plan_file *f;
};

saved_plan_status saved_plan_read(const char *path, saved_plan **out, char **err)
{
	*out = NULL;
	/* An unreadable path is not a plan: the spec loader then says what is wrong with it. */
	if (plan_file_sniff(path, NULL) != 1)
		return SAVED_PLAN_NOT_A_PLAN;
	plan_file *f = NULL;
	if (plan_file_read(path, &f, err) != 0)
		return SAVED_PLAN_INVALID;
	*out = xcalloc(1, sizeof(**out));
	(*out)->f = f;
	return SAVED_PLAN_OK;
}

void saved_plan_free(saved_plan *p)
{
	if (!p)
		return;
	plan_file_free(p->f);
	free(p);
}

const char *saved_plan_spec_path(const saved_plan *p)
{
	return plan_file_spec_path(p->f);
}

const char *saved_plan_stale(const saved_plan *p, const char *digest, const char *fingerprint, json_t *now)
{
	if (strcmp(plan_file_spec_digest(p->f), digest))
		return "the spec changed since the plan was made";
	if (strcmp(plan_file_fingerprint(p->f), fingerprint))
		return "the live state changed since the plan was made";
	if (!json_equal((json_t *)plan_file_steps(p->f), json_object_get(now, "steps")))
		return "the plan made now differs from the saved one";
	return NULL;
}
