/* berth's desired-state model (format version 1): parse, validate, and read.
 *
 * A spec is loaded from one YAML file or a directory of *.yaml files. Everything reachable from
 * a spec (strings, arrays, nested structs) is owned by it and freed by spec_free(). The model is
 * read-only for callers. Unset optional values are NULL for strings and -1 for numbers, unless
 * the field's comment names a default. */
#ifndef BERTH_SPEC_H
#define BERTH_SPEC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define SPEC_FORMAT_VERSION 1

typedef struct spec_loc {
	const char *file;
	int line, col;
} spec_loc;

/* A string pair: labels, environment, driver options. */
typedef struct spec_kv {
	const char *key;
	const char *value;
	spec_loc loc;
	bool from_env; /* environment only: written without a value, so the value is the one berth's
			* own environment had when the spec was loaded (a key whose variable was unset
			* is not in the model at all) */
} spec_kv;

/* A secret value is never in the model: only where to read it at run time. */
typedef enum { SPEC_REF_ENV = 1, SPEC_REF_FILE } spec_ref_kind;
typedef struct spec_secret_ref {
	spec_ref_kind kind;
	const char *name; /* environment variable name, or file path (resolved against the spec file) */
	spec_loc loc;
} spec_secret_ref;

typedef struct spec_strv {
	const char **v;
	size_t n;
} spec_strv;

/* ---- swarm ---------------------------------------------------------------------------------- */

typedef enum { SPEC_PROTO_TCP, SPEC_PROTO_UDP, SPEC_PROTO_SCTP } spec_proto;
typedef enum { SPEC_PUBLISH_INGRESS, SPEC_PUBLISH_HOST } spec_publish_mode;

typedef struct spec_port {
	int target;    /* container port */
	int published; /* 0 = not published */
	spec_proto protocol;
	spec_publish_mode mode;
	spec_loc loc;
} spec_port;

typedef enum { SPEC_MOUNT_VOLUME, SPEC_MOUNT_BIND, SPEC_MOUNT_TMPFS } spec_mount_type;
typedef struct spec_mount {
	spec_mount_type type;
	const char *source; /* volume name or host path; NULL for tmpfs and anonymous volumes */
	const char *target;
	bool read_only;
	bool nocopy;
	const char *propagation; /* bind only */
	int64_t tmpfs_size;      /* bytes */
	spec_loc loc;
} spec_mount;

/* A secret or config made available to a service. */
typedef struct spec_file_ref {
	const char *source;
	const char *target; /* default: the source name (secrets under /run/secrets/, configs at /) */
	const char *uid, *gid;
	int mode; /* -1 = engine default (0444) */
	spec_loc loc;
} spec_file_ref;

typedef struct spec_service_network {
	const char *name;
	spec_strv aliases;
	spec_loc loc;
} spec_service_network;

typedef struct spec_healthcheck {
	bool present;
	bool disable;
	spec_strv test; /* ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"] */
	int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns;
	int64_t retries;
} spec_healthcheck;

typedef struct spec_update_config {
	bool present;
	int64_t parallelism;
	int64_t delay_ns;
	const char *failure_action; /* pause | continue | rollback (update only) */
	int64_t monitor_ns;
	double max_failure_ratio; /* -1 = unset */
	const char *order;        /* stop-first | start-first */
} spec_update_config;

typedef struct spec_restart_policy {
	bool present;
	const char *condition; /* none | on-failure | any */
	int64_t delay_ns;
	int64_t max_attempts;
	int64_t window_ns;
} spec_restart_policy;

typedef enum { SPEC_MODE_REPLICATED, SPEC_MODE_GLOBAL } spec_service_mode;

/* Replicas sized from load (issue 10): the ratio rule of Kubernetes' HPA, in
 * controller/autoscale/. At least one metric is set: cpu_percent, memory_percent (of each task's
 * limit, else its reservation), or a Prometheus query with the value it should have per task. */
typedef struct spec_autoscale {
	bool present;
	spec_loc loc;                       /* the autoscale key */
	int64_t min, max;                   /* 1 <= min <= max; min default 1, max required */
	int64_t cpu_percent;                /* -1 unset */
	int64_t memory_percent;             /* -1 unset */
	double tolerance;                   /* default 0.1: no change while |metric/target - 1| <= it */
	int64_t cooldown_ns;                /* scale-in waits this long after the last change; default 3m */
	const char *prometheus;             /* source: the server's base URL, or NULL */
	const char *query;                  /* its PromQL: the sum of its samples is the service's total */
	double target;                      /* what that total should be per task; -1 unset */
} spec_autoscale;

typedef struct spec_deploy {
	spec_service_mode mode; /* default replicated */
	int64_t replicas;       /* default 1 for replicated */
	int64_t limit_nano_cpus, limit_memory, limit_pids;
	int64_t reserve_nano_cpus, reserve_memory;
	spec_strv constraints;
	spec_strv spread_preferences;
	int64_t max_replicas_per_node;
	spec_update_config update_config, rollback_config;
	spec_restart_policy restart_policy;
	spec_kv *labels; /* service labels */
	size_t n_labels;
	const char *endpoint_mode; /* vip | dnsrr */
	spec_autoscale autoscale;  /* replicas is then the decision's, never written */
} spec_deploy;

typedef struct spec_service {
	const char *name;
	spec_loc loc;
	const char *image;
	spec_strv command, entrypoint; /* n == 0 and v == NULL: unset (image default) */
	spec_kv *environment;
	size_t n_environment;
	spec_port *ports;
	size_t n_ports;
	spec_mount *volumes;
	size_t n_volumes;
	spec_file_ref *secrets;
	size_t n_secrets;
	spec_file_ref *configs;
	size_t n_configs;
	spec_service_network *networks;
	size_t n_networks;
	spec_kv *labels; /* container labels */
	size_t n_labels;
	spec_healthcheck healthcheck;
	spec_deploy deploy;
	const char *hostname, *user, *working_dir, *stop_signal;
	int64_t stop_grace_period_ns;
	int init, read_only, tty; /* -1 unset, 0, 1 */
	spec_strv dns, dns_search, extra_hosts, cap_add, cap_drop;
	spec_kv *sysctls;
	size_t n_sysctls;
	const char *logging_driver;
	spec_kv *logging_options;
	size_t n_logging_options;
} spec_service;

typedef struct spec_network {
	const char *name;
	spec_loc loc;
	const char *driver; /* default "overlay" */
	bool attachable, internal;
	spec_kv *labels;
	size_t n_labels;
	spec_kv *driver_opts;
	size_t n_driver_opts;
} spec_network;

typedef struct spec_swarm_secret {
	const char *name;
	spec_loc loc;
	spec_secret_ref value;
	spec_kv *labels;
	size_t n_labels;
} spec_swarm_secret;

typedef struct spec_config {
	const char *name;
	spec_loc loc;
	const char *content; /* inline text, or NULL when file is set */
	const char *file;    /* path resolved against the spec file's directory */
	spec_loc file_loc;
	spec_kv *labels;
	size_t n_labels;
} spec_config;

typedef struct spec_volume {
	const char *name;
	spec_loc loc;
	const char *driver; /* default "local" */
	spec_kv *driver_opts;
	size_t n_driver_opts;
	spec_kv *labels;
	size_t n_labels;
	const char *file_share; /* an azure.file_shares name: a CIFS mount of that share */
	spec_loc file_share_loc;
} spec_volume;

typedef struct spec_swarm {
	bool present;
	const char *endpoint; /* NULL: DOCKER_HOST, else unix:///var/run/docker.sock */
	const char *tls_ca, *tls_cert, *tls_key;
	int64_t managers, workers; /* expected node counts */
	/* How the engine of each node is reached for its tasks' container stats (autoscaling):
	 * n_engines == 0 is "local", the engine berth talks to serves the tasks of its own node;
	 * otherwise hostname -> tcp:// endpoint, with the tls above. */
	spec_kv *engines;
	size_t n_engines;
	spec_network *networks;
	size_t n_networks;
	spec_swarm_secret *secrets;
	size_t n_secrets;
	spec_config *configs;
	size_t n_configs;
	spec_volume *volumes;
	size_t n_volumes;
	spec_service *services;
	size_t n_services;
} spec_swarm;

/* ---- azure ---------------------------------------------------------------------------------- */

typedef enum { SPEC_NODE_WORKER, SPEC_NODE_MANAGER } spec_node_role;

/* A scale set whose instances are swarm nodes (the node's hostname is the instance's computer
 * name): scale-in drains the chosen nodes before their instances are deleted, scale-out waits for
 * the new nodes to join. */
typedef struct spec_scale_set_swarm {
	bool present;
	spec_loc loc;
	spec_node_role role;      /* default worker */
	int64_t drain_timeout_ns; /* default 10 m: the drained nodes' tasks must have moved by then */
	int64_t join_timeout_ns;  /* default 10 m: the new instances' nodes must be Ready by then */
} spec_scale_set_swarm;

/* Cluster autoscaling of a scale set that backs the swarm (controller/autoscale/cluster.h): out
 * when tasks stay pending for lack of resources, in (through the drain) when a node stays idle. */
typedef struct spec_cluster_autoscale {
	bool present;
	spec_loc loc;           /* the autoscale key */
	int64_t min, max;       /* 0 <= min <= max <= 1000; max required */
	int64_t cooldown_ns;    /* default 10m: no scale-in this long after any change */
	int64_t pending_for_ns; /* scale_out.pending_tasks_for, default 1m */
	double cpu_below;       /* scale_in.cpu_below: percent of the node's CPUs, default 20 */
	int64_t idle_for_ns;    /* scale_in.for, default 10m */
} spec_cluster_autoscale;

typedef struct spec_scale_set {
	const char *name;
	spec_loc loc;
	int64_t capacity; /* -1 with autoscale: the autoscaler decides */
	spec_scale_set_swarm swarm;
	spec_cluster_autoscale autoscale;
} spec_scale_set;

typedef struct spec_file_share {
	const char *name;
	spec_loc loc;
	const char *storage_account;
	int64_t quota_gb;
	bool protect;            /* default true: never deleted by berth */
	const char *access_tier; /* TransactionOptimized | Hot | Cool | Premium, or NULL */
} spec_file_share;

typedef struct spec_aci_port {
	int port;
	spec_proto protocol; /* tcp or udp */
	spec_loc loc;
} spec_aci_port;

typedef struct spec_secure_env {
	const char *name;
	spec_secret_ref value;
} spec_secure_env;

typedef struct spec_volume_mount {
	const char *volume;
	const char *path;
	spec_loc loc;
} spec_volume_mount;

typedef struct spec_container {
	const char *name;
	spec_loc loc;
	const char *image;
	double cpu, memory_gb;
	spec_aci_port *ports;
	size_t n_ports;
	spec_strv command;
	spec_kv *environment;
	size_t n_environment;
	spec_secure_env *secure_environment;
	size_t n_secure_environment;
	spec_volume_mount *volume_mounts;
	size_t n_volume_mounts;
} spec_container;

typedef enum { SPEC_CGVOL_FILE_SHARE = 1, SPEC_CGVOL_EMPTY_DIR, SPEC_CGVOL_SECRET } spec_cg_volume_kind;

typedef struct spec_secret_file {
	const char *file_name;
	spec_secret_ref value;
} spec_secret_file;

typedef struct spec_cg_volume {
	const char *name;
	spec_loc loc;
	spec_cg_volume_kind kind;
	const char *file_share;
	spec_loc file_share_loc;
	bool read_only;
	spec_secret_file *secret_files;
	size_t n_secret_files;
} spec_cg_volume;

typedef enum { SPEC_OS_LINUX, SPEC_OS_WINDOWS } spec_os;
typedef enum { SPEC_IP_NONE, SPEC_IP_PUBLIC, SPEC_IP_PRIVATE } spec_ip;
typedef enum { SPEC_RESTART_ALWAYS, SPEC_RESTART_ON_FAILURE, SPEC_RESTART_NEVER } spec_aci_restart;

/* A rolling upgrade through a weighted Traffic Manager profile of the same spec (issue 9): the
 * group runs as revisions "<name>-<rev>" and each content change is shifted over in steps. */
typedef struct spec_rollout_step {
	int64_t weight;   /* percent of traffic on the new revision, 1..100; the last is 100 */
	int64_t pause_ns; /* hold once healthy; -1: the rollout's pause */
	spec_loc loc;
	spec_loc pause_loc; /* where pause_ns was written: its check needs the profile, which may be
			     * in another file, so it runs on the merged model, after the nodes */
} spec_rollout_step;

typedef struct spec_rollout {
	bool present;
	spec_loc loc;
	const char *traffic_manager; /* a weighted profile of azure.traffic_manager */
	spec_loc traffic_manager_loc;
	spec_rollout_step *steps;
	size_t n_steps;
	int64_t pause_ns;     /* -1 unset: spec_rollout_pause_s() gives the profile's minimum */
	spec_loc pause_loc;
	const char *monitor;  /* endpointMonitorStatus the new endpoint must show: "Online" (default)
			       * or NULL when written as "none" (no monitor gate) */
	bool probe;           /* berth's own HTTP probe of the revision's FQDN */
	const char *probe_path; /* default "/" */
	int64_t probe_port;     /* default 80 */
	int64_t probe_expect;   /* HTTP status, default 200 */
	int64_t probe_interval_ns; /* default 10 s */
	int64_t max_restarts;   /* container restarts tolerated in the new revision, default 0 */
	int64_t timeout_ns;     /* a step not healthy within this fails the rollout, default 15 m */
} spec_rollout;

typedef struct spec_container_group {
	const char *name;
	spec_loc loc;
	spec_os os;                     /* default linux */
	spec_ip ip;                     /* default none; dns_label and ports need public (or private) */
	const char *dns_label;
	spec_aci_port *ports;           /* group (IP address) ports */
	size_t n_ports;
	spec_aci_restart restart_policy; /* default always */
	spec_container *containers;
	size_t n_containers;
	spec_cg_volume *volumes;
	size_t n_volumes;
	spec_rollout rollout; /* present: runs as revisions behind rollout.traffic_manager */
} spec_container_group;

typedef struct spec_tm_endpoint {
	const char *name;
	spec_loc loc;
	const char *container_group; /* exactly one of container_group and target */
	spec_loc container_group_loc;
	const char *target;
	int64_t weight; /* 1..1000, default 1 */
	bool enabled;   /* default true */
} spec_tm_endpoint;

typedef enum { SPEC_MONITOR_HTTP, SPEC_MONITOR_HTTPS, SPEC_MONITOR_TCP } spec_monitor_protocol;

typedef struct spec_traffic_manager {
	const char *name;
	spec_loc loc;
	const char *routing;  /* "weighted" */
	const char *dns_name; /* relative DNS name; default the profile name */
	int64_t ttl;          /* seconds, default 30 */
	spec_monitor_protocol monitor_protocol; /* default HTTP */
	int64_t monitor_port;                     /* default 80 (443 for HTTPS) */
	const char *monitor_path;               /* default "/" for HTTP(S), NULL for TCP */
	int64_t monitor_interval, monitor_timeout, monitor_tolerated_failures;
	spec_tm_endpoint *endpoints;
	size_t n_endpoints;
} spec_traffic_manager;

typedef struct spec_azure {
	bool present;
	const char *subscription, *resource_group, *location;
	const char *resource_manager_endpoint, *active_directory_endpoint;
	spec_scale_set *scale_sets;
	size_t n_scale_sets;
	spec_file_share *file_shares;
	size_t n_file_shares;
	spec_container_group *container_groups;
	size_t n_container_groups;
	spec_traffic_manager *traffic_managers;
	size_t n_traffic_managers;
} spec_azure;

/* ---- the document --------------------------------------------------------------------------- */

typedef struct spec spec;

struct spec_model {
	int version;
	const char *name; /* the owner id */
	spec_loc name_loc;
	spec_swarm swarm;
	spec_azure azure;
};

/* All false (a zeroed struct, or NULL) is the strict load that plan and apply need. */
typedef struct spec_options {
	/* Do not check that ${env:...} variables are set and ${file:...} files are readable
	 * (for editors and pre-commit hooks that run without the secrets). */
	bool skip_secret_refs;
	/* Check them, but report an unset variable or an unreadable file as a warning, not an error:
	 * `berth validate` must work where the secrets are not (pre-commit hooks, CI for pull
	 * requests). The reference itself must still be well formed. */
	bool secret_refs_warn;
} spec_options;

/* Loads and validates PATH (a file, or a directory whose *.yaml files are merged). Problems are
 * added to diags (sorted). Returns NULL when there is any error; free the result with spec_free. */
spec *spec_load(const char *path, const spec_options *opts, spec_diags *diags);
/* Same, for a document held in memory; file is the name used in diagnostics. */
spec *spec_load_buffer(const char *buf, size_t len, const char *file, const spec_options *opts,
		       spec_diags *diags);
void spec_free(spec *s);
/* The files spec_load(path) reads, in order (each and the array malloc'd). Returns 0 or -1. */
int spec_list_files(const char *path, char ***files, size_t *n);

/* The whole file at path, NUL-terminated (malloc'd; *len excludes the NUL). NULL with errno set
 * on failure (EFBIG when it is larger than max bytes). */
char *spec_read_file(const char *path, size_t max, size_t *len);

/* Compose durations ("1m30s", "500ms") and sizes ("512m", "1g"), as the spec reads them. */
bool spec_parse_duration(const char *s, int64_t *ns);
bool spec_parse_bytes(const char *s, int64_t *bytes);
/* The other way: 90 s is "1m30s", 500 ms "500ms", like Go's time.Duration (into out, n bytes). */
void spec_format_duration(char *out, size_t n, int64_t ns);
const struct spec_model *spec_model(const spec *s);

/* ---- names derived from the model, per Azure cloud (spec/cloud.c; pure) ----
 * The cloud is the one azure.endpoints.resource_manager names: public Azure by default (and for
 * loopback simulators), Azure US Government (*.usgovcloudapi.net), Azure China (*.chinacloudapi.cn). */
const char *spec_storage_suffix(const struct spec_model *m); /* core.windows.net, ... */
/* "<account>.file.<suffix>" and "//<account>.file.<suffix>/<share>" (malloc'd). */
char *spec_file_share_host(const struct spec_model *m, const char *account);
char *spec_file_share_unc(const struct spec_model *m, const char *account, const char *share);
/* "<dns_label>.<location>.azurecontainer.io" (per cloud; malloc'd), NULL without a dns_label. */
char *spec_aci_fqdn(const struct spec_model *m, const spec_container_group *g);
/* The storage account of the spec's file share named share; NULL if there is none. */
const char *spec_file_share_account(const struct spec_model *m, const char *share);
/* A rollout's profile (NULL if the spec has none of that name). */
const spec_traffic_manager *spec_rollout_profile(const struct spec_model *m, const spec_container_group *g);
/* The shortest pause that lets traffic move and the monitor notice: the profile's DNS TTL plus
 * interval x (tolerated failures + 1), with Azure's defaults (TTL 30, interval 30, 3) for unset. */
int64_t spec_rollout_min_pause_s(const spec_traffic_manager *tm);
/* Its three terms, Azure's defaults applied, for messages that show how it is computed:
 * ttl + interval x (tolerated + 1). */
void spec_rollout_min_pause_terms(const spec_traffic_manager *tm, int64_t *ttl, int64_t *interval, int64_t *tolerated);
/* The pause of step i in seconds: the step's own, else the rollout's, else the minimum above. */
int64_t spec_rollout_pause_s(const struct spec_model *m, const spec_container_group *g, size_t i);

#endif
