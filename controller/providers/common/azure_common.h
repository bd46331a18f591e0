/* What the Azure providers (vmss, fileshare, aci, trafficmanager) share and that is not a
 * provider itself: the ownership tags, the payload their steps carry, ARM paths, the flat-view
 * diff, and turning ARM answers into berth errors. */
#ifndef BERTH_AZURE_COMMON_H
#define BERTH_AZURE_COMMON_H
#include <jansson.h>
#include <stdbool.h>

#include "core/error.h"
#include "core/plan.h"
#include "spec/spec.h"
#include "transport/arm.h"

#define AZURE_TAG_OWNER "berth-owner"
#define AZURE_META_PROTECT "berth-protect"
#define AZURE_TAG_SECURE_HASH "berth-secure-hash"

/* What an Azure step carries from diff to apply. Never a secret: container groups get theirs
 * (secure values, secret volume files, storage keys) at apply time. */
typedef struct azure_step {
	char *path;   /* the resource's ARM path */
	json_t *body; /* PUT/PATCH body; NULL for deletes */
	char *name;   /* the spec's name of the resource */
	int kind;     /* the provider's own sub-kind (profile or endpoint, ...) */
} azure_step;

azure_step *azure_step_new(int kind, char *path, json_t *body, const char *name); /* path, body taken */
void azure_step_free(void *payload);

/* The spec has an Azure section with something in it: berth then owns its kinds of resources in
 * the resource group (owned ones the spec does not list are deleted), as before any list. */
bool azure_section_active(const struct spec_model *m);

/* "/subscriptions/S/resourceGroups/G/providers/TYPE[/NAME]" (malloc'd). */
char *azure_resource_path(const struct spec_model *m, const char *type, const char *name);

/* The list item named name (case-insensitively, as Azure names compare); NULL if none. */
json_t *azure_find_named(json_t *items, const char *name);
/* The berth-owner tag of an ARM resource (tags.berth-owner), NULL if absent. */
const char *azure_owner_of(json_t *resource);
/* Adds a change per field of the two flat string views that differs (have NULL: all added).
 * Only fields of want are compared when only_wanted. Returns the number added. */
size_t azure_diff_views(plan *p, size_t id, json_t *have, json_t *want, bool only_wanted);
/* A digest of JSON, canonically encoded (sorted keys), malloc'd hex. */
char *azure_json_fingerprint(json_t *j);

/* Turns an ARM client result into a berth error: rc 0 is 0; else the code from the HTTP status
 * (berth_error_from_http), BERTH_ECANCELED when arm reports a cancel, and msg (taken). */
int azure_error(arm *a, int rc, const arm_response *r, char *msg, berth_error *err);
/* DELETE path (following its operation); a resource already gone counts as deleted. */
int azure_delete(arm *a, const char *path, arm_api api, bool follow_operation, berth_error *err);

#endif
