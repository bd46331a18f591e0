/* Inside the container-group provider: its desired body, secure hash and flat view
 * (aci_body.c), shared with its provider file (aci.c). */
#ifndef BERTH_ACI_BODY_H
#define BERTH_ACI_BODY_H
#include <jansson.h>

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

#endif
