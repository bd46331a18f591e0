#include "cli/saved_plan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

struct saved_plan {
	json_t *j;
};

/* Recognised by content: a JSON object that has berth's plan format_version. */
static bool looks_like_plan(const char *path, json_t **out)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	json_error_t e;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(j) || !json_object_get(j, "format_version")) {
		json_decref(j);
		return false;
	}
	*out = j;
	return true;
}

static const char *string_at(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

saved_plan_status saved_plan_read(const char *path, saved_plan **out, char **err)
{
	*out = NULL;
	json_t *j = NULL;
	if (!looks_like_plan(path, &j))
		return SAVED_PLAN_NOT_A_PLAN;
	const char *missing = !string_at(j, "spec", "path")              ? "spec.path"
			      : !string_at(j, "spec", "digest")          ? "spec.digest"
			      : !string_at(j, "observed", "fingerprint") ? "observed.fingerprint"
			      : !json_is_array(json_object_get(j, "steps")) ? "steps"
									     : NULL;
	if (missing) {
		*err = xasprintf("%s: not a usable berth plan: %s is missing or not of the right type", path, missing);
		json_decref(j);
		return SAVED_PLAN_INVALID;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->j = j;
	return SAVED_PLAN_OK;
}

void saved_plan_free(saved_plan *p)
{
	if (!p)
		return;
	json_decref(p->j);
	free(p);
}

const char *saved_plan_spec_path(const saved_plan *p)
{
	return string_at(p->j, "spec", "path");
}

const char *saved_plan_stale(const saved_plan *p, const char *digest, const char *fingerprint, json_t *now)
{
	if (strcmp(string_at(p->j, "spec", "digest"), digest))
		return "the spec changed since the plan was made";
	if (strcmp(string_at(p->j, "observed", "fingerprint"), fingerprint))
		return "the live state changed since the plan was made";
	if (!json_equal(json_object_get(p->j, "steps"), json_object_get(now, "steps")))
		return "the plan made now differs from the saved one";
	return NULL;
}
