/* Cluster autoscaling of the scale sets that back the swarm: the load of their nodes (read at
 * observe time), and the inputs of cluster_decide() (controller/autoscale/cluster.h) built from
 * what the vmss provider observed: the set's instances and their nodes, the swarm's tasks, the
 * set's berth-autoscale tag. Pure but for vmss_observe_load. */
#ifndef BERTH_VMSS_AUTOSCALE_H
#define BERTH_VMSS_AUTOSCALE_H
#include <jansson.h>

#include "autoscale/cluster.h"
#include "spec/spec.h"
#include "transport/docker.h"

/* The load of each node of an autoscaled set: node id -> {"cpus": CPUs its running tasks use,
 * "known": whether every one of their stats could be read}; one stats call per running task on
 * those nodes, on each node's engine (swarm.engines). vms: set name -> VM list; a new object.
 * *requests counts the stats calls. */
json_t *vmss_observe_load(docker *d, const struct spec_model *m, json_t *vms, json_t *nodes, json_t *tasks,
			  unsigned long *requests);

/* One evaluation: the input (pointing into the storage here and into the borrowed JSON) and
 * the decision. */
typedef struct vmss_scaling {
	cluster_input in;
	cluster_decision d;
	bool resumed;       /* the decision continues a scale-in berth started (nothing new to record) */
	json_t **node_of;   /* in.nodes[i]'s swarm node (borrowed) */
	cluster_node *nodes;
	cluster_task *tasks; /* the nodes' own tasks, then the pending ones */
	bool *allowed;       /* own task i may go to node x: allowed[i * in.n_nodes + x] */
} vmss_scaling;

/* Evaluates ss (autoscaled) whose scale set is obs, instances vms; nodes, tasks and load as
 * observed; now_ms the wall clock of the observation. Free with vmss_scaling_free. */
void vmss_autoscale_eval(const spec_scale_set *ss, const char *owner, json_t *obs, json_t *vms, json_t *nodes,
			 json_t *tasks, json_t *load, long long now_ms, vmss_scaling *out);
void vmss_scaling_free(vmss_scaling *s);

/* The scale set's tags with the decision recorded (a new object). */
json_t *vmss_autoscale_tags(json_t *obs, const cluster_decision *d, long long now_ms);

/* Whether a task pending with this scheduler explanation (Status.Err) waits for resources a new
 * node would bring: insufficient resources, or the max replicas per node reached. */
bool vmss_pending_for_resources(const char *err);

/* Whether placement constraints ("node.role==worker", "node.labels.zone!=a", ...) hold on a new
 * node of a set of this role, like the template node (its platform and labels; NULL: unknown,
 * then what depends on it holds). */
bool vmss_constraints_fit_new(json_t *constraints, spec_node_role role, json_t *template_node);

#endif
