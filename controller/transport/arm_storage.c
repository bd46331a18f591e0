#include "transport/arm_storage.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "core/util.h"

static void wipe_keys(json_t *keys)
{
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		json_t *v = json_object_get(k, "value");
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	}
}

int arm_storage_key(arm *a, const char *subscription, const char *resource_group, const char *account, char **key,
		    char **err)
{
	char *path = xasprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s/listKeys",
			       subscription, resource_group, account);
	arm_response r;
	int rc = arm_request(a, "POST", path, ARM_API_STORAGE, NULL, &r, err);
	free(path);
	json_t *keys = json_object_get(r.body, "keys");
	const char *value = json_string_value(json_object_get(json_array_get(keys, 0), "value"));
	if (rc == 0 && !value) {
		set_err(err, xasprintf("storage account %s: listKeys returned no key", account));
		rc = -1;
	}
	if (rc == 0)
		*key = xstrdup(value);
	wipe_keys(keys);
	arm_response_free(&r);
	return rc;
}
