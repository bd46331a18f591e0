/* The Azure providers: each observes with ARM list calls, plans as a pure function of (spec,
 * observed), and applies one step through the ARM client. berth tags what it creates with
 * berth-owner=<spec name> (file shares: metadata) and only changes or deletes what carries it.
 *
 * Providers: scale-set capacity, file shares, container groups (aci.c) and Traffic Manager
 * profiles with their endpoints (trafficmanager.c). One plan holds them all, ordered: shares
 * before the groups that mount them, groups before the endpoints that point at them, endpoints
 * removed before the groups they point at are deleted, a profile before its endpoints. */
#ifndef BERTH_AZURE_H
#define BERTH_AZURE_H
#include <jansson.h>

#include "spec/spec.h"
#include "transport/arm.h"
#include "core/plan.h"

#define AZURE_TAG_OWNER "berth-owner"
#define AZURE_META_PROTECT "berth-protect"

typedef struct azure_state {
	json_t *scale_sets; /* the resource group's scale sets (list items) */
	json_t *instances;  /* scale set name -> ["<instance id>=<computer name>", ...] */
	json_t *shares;     /* storage account name -> its shares (list items) */
	json_t *container_groups; /* the resource group's container groups (list items) */
	json_t *profiles;   /* the resource group's Traffic Manager profiles, endpoints included
			     * (monitor statuses removed: they change by themselves) */
} azure_state;

/* Observes what the spec's Azure section concerns: one list call for the scale sets of the
 * resource group, one per storage account the spec names, one for the container groups and one
 * for the Traffic Manager profiles of the resource group. Returns 0 or -1 with *err; a failed
 * list fails the whole observation (berth never deletes on an incomplete one). */
int azure_observe(arm *a, const struct spec_model *m, azure_state *out, char **err);
void azure_state_free(azure_state *st);
char *azure_fingerprint(const azure_state *st);

typedef struct azure_plan_result {
	size_t *scale_up; /* steps that add capacity: they go before swarm services */
	size_t n_scale_up;
	size_t *scale_down; /* steps that remove capacity: after swarm services */
	size_t n_scale_down;
} azure_plan_result;

/* Adds the Azure steps to p (pure). Returns 0, or -1 with *err listing every problem. */
int azure_plan(const struct spec_model *m, const azure_state *st, plan *p, azure_plan_result *res, char **err);
void azure_plan_result_free(azure_plan_result *r);

typedef struct azure_apply_ctx {
	arm *a;
	const struct spec_model *m;
} azure_apply_ctx;

int azure_apply_step(void *ctx, const plan_step *step, char **err);
void azure_step_free(void *payload);

/* ARM paths. */
char *azure_scale_set_path(const struct spec_model *m, const char *name);
char *azure_share_path(const struct spec_model *m, const char *account, const char *share);

#endif
