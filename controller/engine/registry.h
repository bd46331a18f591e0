/* The table of providers, in the order their steps appear in a plan. Adding a provider is its
 * own file (a const berth_provider berth_provider_NAME) and one line in BERTH_PROVIDERS. */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H
#include <stddef.h>

#include "core/provider.h"

/* The Azure providers come first: capacity and shares exist before the services that use them
 * (core/order makes that so whatever the table says; the table only sets the listing order). */
#define BERTH_PROVIDERS(X) X(vmss) X(fileshare) X(aci) X(trafficmanager) X(swarm)

size_t berth_provider_count(void);
const berth_provider *berth_provider_at(size_t i);
/* By name ("swarm"); NULL if there is none. */
const berth_provider *berth_provider_named(const char *name);

#endif
