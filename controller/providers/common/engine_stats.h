/* Container stats from the engines of a swarm's nodes, for the autoscalers (services: the CPU
 * and memory of their tasks; the cluster: each node's load). A manager's engine serves only its
 * own containers' stats, so the engine of a node is the one berth talks to for its own node
 * ("local", the default), or the node's endpoint from swarm.engines (hostname -> tcp://, with
 * swarm.tls). Opening costs one GET /info (local) or one GET /nodes plus a connection per listed
 * engine, whatever the number of tasks; the reads then run side by side (the engine answers a
 * stats call once it has a second reading, a second or so later). */
#ifndef BERTH_ENGINE_STATS_H
#define BERTH_ENGINE_STATS_H
#include <jansson.h>
#include <stdbool.h>

#include "spec/spec.h"
#include "transport/docker.h"

typedef struct engine_stats engine_stats;

/* The engines of sw's nodes, through d (borrowed: it must outlive the result). Never fails: a
 * node whose engine cannot be reached has none, and its containers' reads are missing. Free
 * with engine_stats_free. */
engine_stats *engine_stats_open(docker *d, const spec_swarm *sw);
/* Whether the node with this id has an engine to read from. */
bool engine_stats_reaches(const engine_stats *es, const char *node_id);
/* Queues GET /containers/{cid}/stats?stream=false on node_id's engine; returns the read's
 * index, or -1 when the node has no engine. */
long engine_stats_add(engine_stats *es, const char *node_id, const char *container_id);
/* Runs the queued reads (32 at once at most). */
void engine_stats_run(engine_stats *es);
/* The answer of read k (borrowed, valid until engine_stats_free), or NULL when it failed. */
json_t *engine_stats_answer(const engine_stats *es, long k);
/* Stats calls made (benchmarks). */
unsigned long engine_stats_requests(const engine_stats *es);
void engine_stats_free(engine_stats *es);

/* CPUs and bytes in use from one stats answer, with the Engine API's formula (as `docker stats`):
 * CPUs = cpu_delta / system_cpu_delta x online CPUs; memory = usage less the page cache that can
 * be dropped. False when it has no previous CPU reading (a container's first read). */
bool engine_stats_usage(json_t *stats, double *cpus, double *memory, bool *has_memory);

#endif
