/* Cluster autoscaling, the pure part: the capacity a scale set that backs the swarm should have,
 * from its nodes (load, idleness, what runs there), the tasks pending for lack of resources, the
 * last change and the time. Like Kubernetes' cluster autoscaler: scale out when tasks stay
 * pending that a new node would take, by as many nodes as they need; scale in, one node at a
 * time, when a node stays idle and its tasks fit on the others; never outside [min, max], never a
 * manager or a node protected from scale-in. No I/O: the vmss provider observes, asks
 * cluster_decide() and carries the decision out through its drain and join steps.
 *
 * No history is kept: how long a node has been idle is the label berth.idle-since on the node
 * (written by a plan step when berth first sees it idle, removed when it is busy again), and
 * when the capacity last changed is the scale set's tag berth-autoscale. */
#ifndef BERTH_AUTOSCALE_CLUSTER_H
#define BERTH_AUTOSCALE_CLUSTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoscale/autoscale.h"

#define CLUSTER_LABEL_IDLE_SINCE "berth.idle-since" /* node label: unix seconds */
#define CLUSTER_TAG "berth-autoscale"                /* scale set tag: "<capacity> <unix seconds> <direction>" */
#define CLUSTER_TAG_REASON "berth-autoscale-reason"  /* the explanation, cut to Azure's 256 characters */

typedef struct cluster_node {
	const char *hostname, *instance; /* the node's hostname; its instance id */
	bool ready;          /* Ready and active: it takes tasks */
	bool removable;      /* a worker, not protected from scale-in */
	bool draining_ours;  /* berth drained it for a scale-in that has not finished */
	int tasks;           /* tasks that should run there */
	bool cpu_known;      /* every running task's stats were read (a node with no task: 0%) */
	double cpu_percent;  /* its tasks' CPU, as a share of the node's CPUs */
	int64_t idle_since_ns; /* its berth.idle-since label (wall ns); -1: none */
	int64_t nano_cpus, memory; /* what the node has */
	int64_t used_cpus, used_memory; /* what its tasks reserve */
	/* The tasks to move if it goes: reservations and their service's max per node. */
	const struct cluster_task *own;
	size_t n_own;
} cluster_node;

typedef struct cluster_task {
	const char *service;
	int64_t since_ns;         /* pending: when it was created (wall ns) */
	int64_t nano_cpus, memory; /* its reservations */
	int64_t max_per_node;     /* its service's max replicas per node; 0: no limit */
	bool fits_new_node;       /* its placement constraints hold on a new node of this set */
	/* A node's own task: allowed[i] whether its placement constraints hold on nodes[i] (where it
	 * could move to); NULL: on every node. */
	const bool *allowed;
} cluster_task;

typedef struct cluster_input {
	int64_t current, min, max;
	int64_t now_ns;
	int64_t last_at_ns; /* wall time of the last change (the tag); -1: none */
	int64_t cooldown_ns, pending_for_ns, idle_for_ns;
	double cpu_below; /* percent */
	const cluster_node *nodes; /* the set's instances that have a node */
	size_t n_nodes;
	/* Tasks pending for lack of resources (the scheduler's explanation says so); other pending
	 * tasks (constraints no node satisfies, just created) are not the cluster's to fix. */
	const cluster_task *pending;
	size_t n_pending;
	int64_t new_cpus, new_memory; /* what a new instance's node would have; 0: unknown */
} cluster_input;

typedef struct cluster_decision {
	int64_t capacity;
	autoscale_direction direction;
	long victim;       /* DOWN of one idle node: its index in nodes; -1 otherwise */
	int64_t wait_ns;   /* > 0: the decision may change after this long (a pending or idle clock) */
	char reason[512];  /* input values, rule, result */
} cluster_decision;

/* Whether the node counts as idle now (its label is then due); false when its CPU is unknown. */
bool cluster_node_idle(const cluster_input *in, const cluster_node *n);

/* The decision for one evaluation. Always fills *out. */
void cluster_decide(const cluster_input *in, cluster_decision *out);

#endif
