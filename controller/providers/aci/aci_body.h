/* Inside the container-group provider: its desired body, secure hash and flat view
 * (aci_body.c), shared with its provider file (aci.c). */
#ifndef BERTH_ACI_BODY_H
#define BERTH_ACI_BODY_H
#include <jansson.h>
#include <stdbool.h>

#include "spec/spec.h"

#define ACI_TYPE "Microsoft.ContainerInstance/containerGroups"
#define ACI_KIND "container group"

const spec_container_group *aci_find_group(const struct spec_model *m, const char *name);
/* The hex SHA-256 over the group's secure environment values and secret volume files, names
 * included; NULL with *err (naming the variable or file, never a value) if one cannot be read. */
char *aci_secure_hash(const spec_container_group *g, char **err);
/* The ARM body berth wants for g (no secret in it), tagged with the owner and hash. */
json_t *aci_desired_body(const struct spec_model *m, const spec_container_group *g, const char *hash);
/* A normalised flat view (field -> string) of a container group body, desired or observed. */
json_t *aci_view(json_t *group);

/* The body of step s with its secrets: secure environment values, secret volume files (base64)
 * and the storage key of each file-share volume (listKeys). NULL with *err. Wipe it with
 * aci_wipe_secrets before freeing. */
struct azure_step;
struct arm;
json_t *aci_body_with_secrets(struct arm *a, const struct spec_model *m, const struct azure_step *s, char **err);
void aci_wipe_secrets(json_t *body);
/* All containers of an observed group run; *failed: provisioning failed or a container ended. */
bool aci_all_running(json_t *g, bool *failed);
/* The group's and its containers' states, with their events and exit codes (malloc'd). */
char *aci_describe_group(json_t *g);

#endif
