/* A plan saved with `berth plan --out`, as `berth apply FILE` reads it: recognised by its content
 * (whatever the file is called), checked field by field (a malformed plan is an error that says
 * what is missing, never a crash), and compared with the plan made now. */
#ifndef BERTH_SAVED_PLAN_H
#define BERTH_SAVED_PLAN_H
#include <jansson.h>

typedef struct saved_plan saved_plan;

typedef enum { SAVED_PLAN_OK = 0, SAVED_PLAN_NOT_A_PLAN = 1, SAVED_PLAN_INVALID = 2 } saved_plan_status;

/* SAVED_PLAN_OK with *out; SAVED_PLAN_NOT_A_PLAN when path is not a saved plan (a spec file or
 * directory); SAVED_PLAN_INVALID with *err when it is one but cannot be used. */
saved_plan_status saved_plan_read(const char *path, saved_plan **out, char **err);
void saved_plan_free(saved_plan *p);
const char *saved_plan_spec_path(const saved_plan *p);
/* Why the saved plan no longer holds (NULL: it does): the spec's digest, the observed fingerprint
 * or the steps (now, as cli_plan_json makes them) differ. */
const char *saved_plan_stale(const saved_plan *p, const char *digest, const char *fingerprint, json_t *now);

#endif
