#include "providers/common/azure_common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/digest.h"
#include "core/util.h"

azure_step *azure_step_new(int kind, char *path, json_t *body, const char *name)
{
	azure_step *s = xcalloc(1, sizeof(*s));
	s->kind = kind;
	s->path = path;
	s->body = body;
	s->name = name ? xstrdup(name) : NULL;
	return s;
}

void azure_step_free(void *payload)
{
	azure_step *s = payload;
	if (!s)
		return;
	free(s->path);
	json_decref(s->body);
	free(s->name);
	free(s);
}

bool azure_section_active(const struct spec_model *m)
{
	const spec_azure *az = &m->azure;
	return az->present && (az->n_scale_sets || az->n_file_shares || az->n_container_groups || az->n_traffic_managers);
}

char *azure_resource_path(const struct spec_model *m, const char *type, const char *name)
{
	return xasprintf("/subscriptions/%s/resourceGroups/%s/providers/%s%s%s", m->azure.subscription,
			 m->azure.resource_group, type, name ? "/" : "", name ? name : "");
}

json_t *azure_find_named(json_t *items, const char *name)
{
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		if (n && !strcasecmp(n, name))
			return it;
	}
	return NULL;
}

const char *azure_owner_of(json_t *resource)
{
	return json_string_value(json_object_get(json_object_get(resource, "tags"), AZURE_TAG_OWNER));
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t azure_diff_views(plan *p, size_t id, json_t *have, json_t *want, bool only_wanted)
{
	/* Both views' keys, sorted, so the changes read in a stable order. */
	json_t *keys = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(want, k, v)
		json_object_set(keys, k, json_true());
	if (!only_wanted)
		json_object_foreach(have, k, v)
			json_object_set(keys, k, json_true());
	size_t n = json_object_size(keys), i = 0, added = 0;
	const char **sorted = xcalloc(n, sizeof(char *));
	json_object_foreach(keys, k, v)
		sorted[i++] = k;
	qsort(sorted, n, sizeof(char *), strcmp_ptr);
	for (i = 0; i < n; i++) {
		const char *o = json_string_value(json_object_get(have, sorted[i]));
		const char *w = json_string_value(json_object_get(want, sorted[i]));
		if ((!o && !w) || (o && w && !strcmp(o, w)))
			continue;
		plan_add_change(p, id, sorted[i], o, w, false);
		added++;
	}
	free(sorted);
	json_decref(keys);
	return added;
}

char *azure_json_fingerprint(json_t *j)
{
	char *text = json_dumps(j ? j : json_null(), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *hex = berth_sha256_hex_dup(text ? text : "", text ? strlen(text) : 0);
	free(text);
	return hex;
}

int azure_error(arm *a, int rc, const arm_response *r, char *msg, berth_error *err)
{
	if (rc == 0) {
		free(msg);
		return 0;
	}
	berth_error_code code = arm_canceled(a) ? BERTH_ECANCELED : berth_error_from_http(r ? r->status : 0);
	if (code == BERTH_OK)
		code = BERTH_EFAILED; /* a 2xx answer to an operation that then failed */
	return berth_error_take(err, code, msg);
}

int azure_delete(arm *a, const char *path, arm_api api, bool follow_operation, berth_error *err)
{
	arm_response r;
	char *msg = NULL;
	int rc = follow_operation ? arm_call(a, "DELETE", path, api, NULL, &r, &msg)
				  : arm_request(a, "DELETE", path, api, NULL, &r, &msg);
	if (rc != 0 && r.status == 404) { /* already gone: the goal is met */
		free(msg);
		msg = NULL;
		rc = 0;
	}
	rc = azure_error(a, rc, &r, msg, err);
	arm_response_free(&r);
	return rc;
}
