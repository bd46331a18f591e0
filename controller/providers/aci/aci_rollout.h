/* Inside the container-group provider: groups with a rollout run as revisions behind their
 * weighted Traffic Manager profile (aci_rollout.c); the provider file (aci.c) routes to it. */
#ifndef BERTH_ACI_ROLLOUT_H
#define BERTH_ACI_ROLLOUT_H
#include <jansson.h>

#include "core/provider.h"
#include "core/util.h"
#include "spec/spec.h"

/* What the provider observed: every container group of the resource group (list), the
 * profiles its rollouts go through (by name; absent when the profile does not exist yet) and
 * the wall time of the observation (the plan is a function of it). */
typedef struct aci_observed {
	json_t *groups;   /* array */
	json_t *profiles; /* object: profile name -> profile */
	double wall;
} aci_observed;

/* Observes the profiles of m's rollouts into o->profiles. */
int aci_rollout_observe(const berth_env *env, const struct spec_model *m, aci_observed *o, berth_error *err);
/* The observed group is a revision of one of m's rolled-out groups (the rollout owns it). */
bool aci_rollout_owns(const struct spec_model *m, json_t *group);
/* Plans one "rollout" step per rolled-out group that is not where the spec wants it. */
void aci_rollout_diff(const struct spec_model *m, const aci_observed *o, plan *p, problems *pr);
/* Drives the rollout of the step's group (see berth_options.rollout_wait). */
int aci_rollout_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, berth_error *err);
/* The provider's status callback: every rollout, as JSON text. */
char *aci_rollout_status(const struct spec_model *m, const aci_observed *o, double wall);
/* rollout-promote, rollout-abort. */
int aci_rollout_command(const berth_env *env, const struct spec_model *m, const char *verb, const char *name,
			berth_error *err);

#define ACI_KIND_ROLLOUT "rollout"
#define ROLLOUT_TAG_GROUP_KEY "berth-group" /* rollout/rollout.h's ROLLOUT_TAG_GROUP */

#endif
