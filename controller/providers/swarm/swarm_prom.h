/* Prometheus sources of autoscaled services: one instant query per service per evaluation
 * (GET <url>/api/v1/query?query=...), its samples summed into the service's total. */
#ifndef BERTH_SWARM_PROM_H
#define BERTH_SWARM_PROM_H
#include <stdbool.h>

#include "spec/spec.h"
#include "providers/swarm/swarm.h"

/* Runs the query of every autoscaled service that has a source; results into st->queries. */
void swarm_prom_observe(const struct spec_model *m, swarm_state *st);

/* The sum of the samples of a query API answer (a vector, or a scalar); true with *total, or
 * false with *err (malloc'd): Prometheus' own error, a result that is not a number (NaN, Inf),
 * an unexpected type (matrix, string) or an answer that is not the API's. An empty vector is 0. */
bool swarm_prom_total(const char *body, double *total, char **err);

#endif
