/* What an Azure plan step carries to the executor, and the helpers the Azure providers share
 * (internal to the Azure providers: azure_plan.c, azure_apply.c, aci.c, trafficmanager.c). */
#ifndef BERTH_AZURE_STEP_H
#define BERTH_AZURE_STEP_H
#include <stdio.h>

#include "providers/azure/azure.h"
#include "core/util.h"

typedef enum { AZURE_SCALE_SET, AZURE_FILE_SHARE, AZURE_CONTAINER_GROUP, AZURE_TM_PROFILE, AZURE_TM_ENDPOINT } azure_kind;

#define AZURE_TAG_SECURE_HASH "berth-secure-hash"

typedef struct azure_step {
	azure_kind kind;
	char *path;   /* the resource's ARM path */
	json_t *body; /* PUT/PATCH body; NULL for deletes. Never holds a secret: container groups get
		       * theirs (secureValue, secret volume files, storage account keys) at apply time */
	char *name;   /* container groups: the spec's group name (to find its secrets at apply time) */
	/* What the planner orders by (strings): for an endpoint create/update the container group
	 * it points at (if any); for an endpoint or profile delete the targets it points at; for a
	 * container group delete its observed FQDN. */
	json_t *refs;
} azure_step;

json_t *azure_find_named(json_t *items, const char *name);
azure_step *azure_new_step(azure_kind kind, char *path, json_t *body);
/* Adds a change per field of the two flat string views that differs (old NULL: added, new NULL:
 * removed). Only fields of want are compared when only_wanted. Returns the number added. */
size_t azure_diff_views(plan *p, size_t id, json_t *have, json_t *want, bool only_wanted);
/* The first step at or after first of this kind and name that is not a delete; SIZE_MAX if none. */
size_t azure_find_step(const plan *p, size_t first, const char *kind, const char *name, bool include_delete);

/* Container groups (aci.c). */
#define AZURE_KIND_CG "container group"
char *azure_container_group_path(const struct spec_model *m, const char *name);
int aci_observe(arm *a, const struct spec_model *m, json_t **out, char **err);
void aci_plan(const struct spec_model *m, json_t *observed, plan *p, problems *pr);
/* A normalised flat view (field -> string) of a container group body, desired or observed. */
json_t *aci_view(json_t *group);
int aci_apply(arm *a, const struct spec_model *m, const plan_step *step, azure_step *s, char **err);

/* Traffic Manager (trafficmanager.c). */
#define AZURE_KIND_TM_PROFILE "traffic manager profile"
#define AZURE_KIND_TM_ENDPOINT "endpoint"
char *azure_tm_profile_path(const struct spec_model *m, const char *name);
int tm_observe(arm *a, const struct spec_model *m, json_t **out, char **err);
void tm_plan(const struct spec_model *m, json_t *observed, plan *p, problems *pr);
int tm_apply(arm *a, const plan_step *step, azure_step *s, char **err);

#endif
