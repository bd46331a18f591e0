/* The one place storage account keys come from (Azure Files mounts of swarm volumes and of
 * container groups): POST .../storageAccounts/NAME/listKeys, the first key. The answer is wiped
 * before it is freed; the key itself goes only into the request body that needs it. */
#ifndef BERTH_ARM_STORAGE_H
#define BERTH_ARM_STORAGE_H
#include "transport/arm.h"

/* Returns 0 with *key (malloc'd; wipe and free it with azure_token_free), or a negative code
 * with *err naming the account (never the key). */
int arm_storage_key(arm *a, const char *subscription, const char *resource_group, const char *account, char **key,
		    char **err);

#endif
