/* The swarm side of a scale set that backs the swarm (spec: scale_sets.NAME.swarm): which node is
 * which instance (the node's hostname is the instance's computer name), which instances a
 * scale-in removes, and the Engine API calls that drain nodes, wait for joins and remove nodes.
 *
 * The choice is pure (vmss_choose, unit-tested); the rest talks to the Docker engine through the
 * engine's client and sleeps through the injected clock. Resumption needs no journal: a node
 * berth drained carries the label berth.draining=<owner>, and such a node is chosen again (and
 * its drain continued) before any other. */
#ifndef BERTH_VMSS_NODES_H
#define BERTH_VMSS_NODES_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/provider.h"

#define VMSS_LABEL_DRAINING "berth.draining"

/* The instance's computer name (properties.osProfile.computerName), or NULL. */
const char *vmss_vm_computer_name(json_t *vm);
/* The node whose hostname is cn: a node that is not down before one that is; NULL if none. */
json_t *vmss_node_for(json_t *nodes, const char *cn);
/* Tasks that should run (DesiredState running) on the node with this id. */
int vmss_node_tasks(json_t *tasks, const char *node_id);
/* The node's berth.draining label, or NULL. */
const char *vmss_node_draining(json_t *node);

/* One line per instance: "ID=COMPUTER (node HOSTNAME, ready, N tasks)" or "ID=COMPUTER (no
 * swarm node)"; caller frees. */
char *vmss_mapping_text(json_t *vms, json_t *nodes, json_t *tasks);

/* Chooses the k instances a scale-in removes: first those whose node berth already drained for
 * owner (a resumed scale-in), then instances without a node, then the ones whose nodes run the
 * fewest tasks (ties: the highest instance id); never a manager node, never an instance
 * protected from scale-in. Returns 0 with *chosen a new array of {"instance", "computer", "node"
 * (id or null), "hostname", "tasks", "reason"}, or -1 with *why (malloc'd) saying why fewer than
 * k can go. */
int vmss_choose(json_t *vms, json_t *nodes, json_t *tasks, const char *owner, size_t k, json_t **chosen, char **why);

/* Sets the chosen nodes to availability drain with berth.draining=owner (skipping those already
 * so), then waits until none of them has a task that should run and every replicated service that
 * had a task there runs its replicas elsewhere, for at most timeout_s. BERTH_ETIMEOUT names what
 * did not move; the nodes stay drained. */
int vmss_drain(const berth_env *env, json_t *chosen, const char *owner, double timeout_s, berth_error *err);

/* Puts a node berth drained back into service: availability active, its berth.draining label gone. */
int vmss_undrain(const berth_env *env, const char *node_id, berth_error *err);

/* Sets the label key=value on a node (value NULL: removes it), unless it is so already. */
int vmss_set_node_label(const berth_env *env, const char *node_id, const char *key, const char *value,
			berth_error *err);

/* Waits until every node of the chosen list is down (its instance is gone), then removes it from
 * the swarm; a node already removed is fine. */
int vmss_remove_nodes(const berth_env *env, json_t *chosen, double timeout_s, berth_error *err);

/* Waits until each computer name (a JSON array of strings) has a Ready node, for at most
 * timeout_s. */
int vmss_wait_joined(const berth_env *env, json_t *computer_names, double timeout_s, berth_error *err);

#endif
