#include "engine/registry.h"

#include <string.h>

#define DECLARE(name) extern const berth_provider berth_provider_##name;
BERTH_PROVIDERS(DECLARE)
#undef DECLARE

#define ENTRY(name) &berth_provider_##name,
static const berth_provider *const providers[] = {BERTH_PROVIDERS(ENTRY)};
#undef ENTRY

size_t berth_provider_count(void)
{
	return sizeof(providers) / sizeof(providers[0]);
}

const berth_provider *berth_provider_at(size_t i)
{
	return i < berth_provider_count() ? providers[i] : NULL;
}

const berth_provider *berth_provider_named(const char *name)
{
	for (size_t i = 0; i < berth_provider_count(); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}
