/* Inside the engine: what engine.c keeps and reconcile.c uses. */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H
#include "engine/berth.h"
#include "transport/arm.h"
#include "transport/docker.h"

struct berth_engine {
	const berth_clock *clock;
	berth_cancel *cancel;
	berth_cancel *own_cancel; /* when the config gave none */
	berth_cancel *drain;
	bool (*before_step)(void *ctx);
	void *before_step_ctx;
	berth_events events;
	arm_config arm_cfg; /* without endpoints; hooks filled in */
	bool arm_hooks_given;
	docker *docker;
	char *docker_key; /* the configuration it was opened with */
	arm *arm;
	char *arm_key;
	unsigned long reconciles;
};

/* Opens (or keeps) the transports in needs (BERTH_NEEDS_*) for m. Returns 0 or a code with *err. */
int engine_transports(berth_engine *e, const struct spec_model *m, unsigned needs, berth_error *err);

#endif
