/* What an Azure plan step carries to the executor (internal to the Azure providers). */
#ifndef BERTH_AZURE_STEP_H
#define BERTH_AZURE_STEP_H
#include "azure.h"

typedef enum { AZURE_SCALE_SET, AZURE_FILE_SHARE } azure_kind;

typedef struct azure_step {
	azure_kind kind;
	char *path;   /* the resource's ARM path */
	json_t *body; /* PUT/PATCH body; NULL for deletes */
} azure_step;

#endif
