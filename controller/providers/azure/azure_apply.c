/* Applying one Azure step through the ARM client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/azure/azure.h"
#include "providers/azure/azure_step.h"

int azure_apply_step(void *vctx, const plan_step *step, char **err)
{
	azure_apply_ctx *ctx = vctx;
	azure_step *s = step->payload;
	arm_response r;
	int rc;
	switch (s->kind) {
	case AZURE_SCALE_SET:
		/* PATCH the capacity and follow the operation until the scale set has it. */
		rc = arm_call(ctx->a, "PATCH", s->path, ARM_API_COMPUTE, s->body, &r, err);
		break;
	case AZURE_FILE_SHARE:
		if (step->action == PLAN_DELETE) {
			rc = arm_call(ctx->a, "DELETE", s->path, ARM_API_STORAGE, NULL, &r, err);
			if (rc != 0 && r.status == 404) { /* already gone */
				free(*err);
				*err = NULL;
				rc = 0;
			}
		} else {
			rc = arm_call(ctx->a, step->action == PLAN_CREATE ? "PUT" : "PATCH", s->path, ARM_API_STORAGE, s->body,
				      &r, err);
		}
		break;
	case AZURE_CONTAINER_GROUP:
		return aci_apply(ctx->a, ctx->m, step, s, err);
	case AZURE_TM_PROFILE:
	case AZURE_TM_ENDPOINT:
		return tm_apply(ctx->a, step, s, err);
	default:
		rc = -1;
		*err = strdup("unknown Azure step");
		return rc;
	}
	arm_response_free(&r);
	return rc;
}
