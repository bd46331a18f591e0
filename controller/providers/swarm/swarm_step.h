/* What a swarm plan step carries from the planner to the executor (internal to the provider). */
#ifndef BERTH_SWARM_STEP_H
#define BERTH_SWARM_STEP_H
#include "providers/swarm/swarm.h"

typedef struct swarm_step {
	swarm_kind kind;
	char *engine_name; /* the object's name in the engine */
	char *logical;     /* its name in the spec */
	size_t index;      /* position in the spec's list of its kind (creates and updates) */
	char *id;          /* the existing object (updates, deletes) */
	long long version; /* its version when observed */
	json_t *body;      /* services: the desired ServiceSpec */
	/* Services whose spec is already the desired one but that have not converged: apply only
	 * waits for them (settle), after submitting the same spec again when the engine paused or
	 * rolled back the update (resubmit: that resumes it). */
	bool settle, resubmit;
} swarm_step;

#endif
