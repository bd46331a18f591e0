/* The one place that knows the order between providers. Providers never call each other; what
 * one needs from another is a reference on its steps (core/plan.h: gives / needs / removes a key),
 * and these rules turn references into dependencies:
 *
 *   1. a step that needs K runs after every step that gives K
 *      (a share is created before the service that mounts it; capacity grows before services;
 *       a container group exists before the endpoint that points at it);
 *   2. a step that removes K runs after every step that needs K
 *      (an endpoint goes before the container group it points at is deleted; capacity shrinks
 *       after the services that use it changed);
 *   3. a step never waits for itself, and a giver and a remover of the same key in one plan are
 *      ordered by rule 1 and 2 through the steps that need it, not with each other.
 *
 * Keys match case-insensitively. */
#ifndef BERTH_ORDER_H
#define BERTH_ORDER_H
#include "core/error.h"
#include "core/plan.h"

/* Adds the dependencies the rules give. Returns 0, or BERTH_EPLAN with *err naming a step on a
 * cycle (which would be a provider bug: the plan must not run). */
int order_plan(plan *p, berth_error *err);

#endif
