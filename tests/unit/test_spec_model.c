/* Valid documents load into the model with every field as written (or its documented default). */
#include <dirent.h>
#include <unistd.h>

#include "testutil.h"
#include "spec/spec_internal.h"

static const char *full_swarm =
	"version: 1\n"
	"name: shop\n"
	"x-common: &common\n"
	"  image: example/app:1.0\n"
	"  user: \"1000\"\n"
	"swarm:\n"
	"  endpoint: tcp://10.0.0.4:2376\n"
	"  tls: {ca: ca.pem, cert: /etc/berth/cert.pem, key: /etc/berth/key.pem}\n"
	"  nodes: {managers: 3, workers: 5}\n"
	"  networks:\n"
	"    front: {attachable: true, labels: {tier: front}, driver_opts: {encrypted: \"\"}}\n"
	"    back: {internal: true}\n"
	"  secrets:\n"
	"    db-password: {value: \"${env:DB_PASSWORD}\", labels: [team=core]}\n"
	"    tls-key: {file: keys/tls.key}\n"
	"  configs:\n"
	"    nginx-conf: {content: \"server {}\\n\"}\n"
	"    app-conf: {file: /etc/passwd}\n"
	"  volumes:\n"
	"    data: {driver_opts: {type: none}, labels: {backup: daily}}\n"
	"    shared: {file_share: logs}\n"
	"  services:\n"
	"    web:\n"
	"      <<: *common\n"
	"      command: nginx -g 'daemon off;'\n"
	"      entrypoint: [\"/docker-entrypoint.sh\"]\n"
	"      environment: [MODE=prod, EMPTY=]\n"
	"      ports:\n"
	"        - \"8080:80\"\n"
	"        - 53:53/udp\n"
	"        - {target: 443, published: \"8443\", protocol: tcp, mode: host}\n"
	"        - \"9000-9001:7000-7001\"\n"
	"        - 3000\n"
	"      volumes:\n"
	"        - data:/var/lib/data:ro\n"
	"        - /var/run/docker.sock:/var/run/docker.sock\n"
	"        - /cache\n"
	"        - {type: tmpfs, target: /tmp, tmpfs: {size: 64m}}\n"
	"        - {type: bind, source: /srv, target: /srv, bind: {propagation: rshared}}\n"
	"        - {type: volume, source: shared, target: /logs, volume: {nocopy: true}}\n"
	"      secrets:\n"
	"        - db-password\n"
	"        - {source: tls-key, target: server.key, uid: \"0\", gid: \"0\", mode: 0400}\n"
	"      configs: [{source: nginx-conf, target: /etc/nginx/nginx.conf}]\n"
	"      networks:\n"
	"        front: {aliases: [www, web.local]}\n"
	"        back:\n"
	"      labels: {com.example.role: web}\n"
	"      healthcheck: {test: curl -f http://localhost/, interval: 30s, timeout: 5s, retries: 3, start_period: 1m30s}\n"
	"      hostname: web-host\n"
	"      working_dir: /srv\n"
	"      stop_signal: SIGQUIT\n"
	"      stop_grace_period: 1m\n"
	"      init: true\n"
	"      read_only: false\n"
	"      dns: [1.1.1.1]\n"
	"      extra_hosts: [\"db:10.0.0.9\"]\n"
	"      cap_add: [NET_ADMIN]\n"
	"      sysctls: {net.core.somaxconn: 1024}\n"
	"      logging: {driver: json-file, options: {max-size: 10m}}\n"
	"      x-note: ignored\n"
	"      deploy:\n"
	"        replicas: 4\n"
	"        resources:\n"
	"          limits: {cpus: \"0.5\", memory: 512M, pids: 100}\n"
	"          reservations: {cpus: 0.25, memory: 128m}\n"
	"        placement:\n"
	"          constraints: [node.role == worker]\n"
	"          preferences: [{spread: node.labels.zone}]\n"
	"          max_replicas_per_node: 2\n"
	"        update_config: {parallelism: 2, delay: 10s, failure_action: rollback, monitor: 500ms, max_failure_ratio: 0.25, order: start-first}\n"
	"        rollback_config: {parallelism: 0, failure_action: continue}\n"
	"        restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}\n"
	"        labels: [com.example.svc=web]\n"
	"        endpoint_mode: vip\n"
	"    agent:\n"
	"      image: example/agent\n"
	"      deploy: {mode: global}\n"
	"azure:\n"
	"  subscription: 00000000-0000-0000-0000-000000000000\n"
	"  resource_group: rg-shop\n"
	"  location: westeurope\n"
	"  file_shares:\n"
	"    logs: {storage_account: shopstorage, quota_gb: 100}\n";

static void test_swarm_round_trip(void **state)
{
	(void)state;
	setenv("DB_PASSWORD", "hunter2", 1);
	spec_diags *d = spec_diags_new();
	/* tls-key is a ${file:} reference to a file that does not exist here. */
	spec_options o = {.skip_secret_refs = true};
	spec *s = spec_load_buffer(full_swarm, strlen(full_swarm), "dir/t.yaml", &o, d);
	if (!s)
		spec_diags_print(d, stderr);
	assert_non_null(s);
	assert_int_equal(spec_diags_count(d), 0);
	const struct spec_model *m = spec_model(s);
	assert_int_equal(m->version, 1);
	assert_string_equal(m->name, "shop");
	assert_int_equal(m->name_loc.line, 2);
	assert_int_equal(m->name_loc.col, 7);

	const spec_swarm *sw = &m->swarm;
	assert_true(sw->present);
	assert_string_equal(sw->endpoint, "tcp://10.0.0.4:2376");
	assert_string_equal(sw->tls_ca, "dir/ca.pem");
	assert_string_equal(sw->tls_cert, "/etc/berth/cert.pem");
	assert_string_equal(sw->tls_key, "/etc/berth/key.pem");
	assert_int_equal(sw->managers, 3);
	assert_int_equal(sw->workers, 5);

	assert_int_equal(sw->n_networks, 2);
	assert_string_equal(sw->networks[0].name, "front");
	assert_string_equal(sw->networks[0].driver, "overlay");
	assert_true(sw->networks[0].attachable);
	assert_false(sw->networks[0].internal);
	assert_int_equal(sw->networks[0].n_labels, 1);
	assert_string_equal(sw->networks[0].labels[0].key, "tier");
	assert_string_equal(sw->networks[0].labels[0].value, "front");
	assert_int_equal(sw->networks[0].n_driver_opts, 1);
	assert_string_equal(sw->networks[0].driver_opts[0].key, "encrypted");
	assert_string_equal(sw->networks[0].driver_opts[0].value, "");
	assert_true(sw->networks[1].internal);

	assert_int_equal(sw->n_secrets, 2);
	assert_string_equal(sw->secrets[0].name, "db-password");
	assert_int_equal(sw->secrets[0].value.kind, SPEC_REF_ENV);
	assert_string_equal(sw->secrets[0].value.name, "DB_PASSWORD");
	assert_int_equal(sw->secrets[0].n_labels, 1);
	assert_string_equal(sw->secrets[0].labels[0].key, "team");
	assert_string_equal(sw->secrets[0].labels[0].value, "core");
	assert_int_equal(sw->secrets[1].value.kind, SPEC_REF_FILE);
	assert_string_equal(sw->secrets[1].value.name, "dir/keys/tls.key");

	assert_int_equal(sw->n_configs, 2);
	assert_string_equal(sw->configs[0].content, "server {}\n");
	assert_null(sw->configs[0].file);
	assert_string_equal(sw->configs[1].file, "/etc/passwd");

	assert_int_equal(sw->n_volumes, 2);
	assert_string_equal(sw->volumes[0].driver, "local");
	assert_string_equal(sw->volumes[0].driver_opts[0].value, "none");
	assert_string_equal(sw->volumes[0].labels[0].key, "backup");
	assert_null(sw->volumes[0].file_share);
	assert_string_equal(sw->volumes[1].file_share, "logs");

	assert_int_equal(sw->n_services, 2);
	const spec_service *w = &sw->services[0];
	assert_string_equal(w->name, "web");
	assert_int_equal(w->loc.line, 23);
	assert_string_equal(w->image, "example/app:1.0");
	assert_string_equal(w->user, "1000");
	assert_int_equal(w->command.n, 3);
	assert_string_equal(w->command.v[0], "nginx");
	assert_string_equal(w->command.v[1], "-g");
	assert_string_equal(w->command.v[2], "daemon off;");
	assert_int_equal(w->entrypoint.n, 1);
	assert_string_equal(w->entrypoint.v[0], "/docker-entrypoint.sh");
	assert_int_equal(w->n_environment, 2);
	assert_string_equal(w->environment[0].key, "MODE");
	assert_string_equal(w->environment[0].value, "prod");
	assert_string_equal(w->environment[1].key, "EMPTY");
	assert_string_equal(w->environment[1].value, "");

	assert_int_equal(w->n_ports, 6);
	assert_int_equal(w->ports[0].published, 8080);
	assert_int_equal(w->ports[0].target, 80);
	assert_int_equal(w->ports[0].protocol, SPEC_PROTO_TCP);
	assert_int_equal(w->ports[0].mode, SPEC_PUBLISH_INGRESS);
	assert_int_equal(w->ports[1].published, 53);
	assert_int_equal(w->ports[1].protocol, SPEC_PROTO_UDP);
	assert_int_equal(w->ports[2].target, 443);
	assert_int_equal(w->ports[2].published, 8443);
	assert_int_equal(w->ports[2].mode, SPEC_PUBLISH_HOST);
	assert_int_equal(w->ports[3].published, 9000);
	assert_int_equal(w->ports[3].target, 7000);
	assert_int_equal(w->ports[4].published, 9001);
	assert_int_equal(w->ports[4].target, 7001);
	assert_int_equal(w->ports[5].target, 3000);
	assert_int_equal(w->ports[5].published, 0);

	assert_int_equal(w->n_volumes, 6);
	assert_int_equal(w->volumes[0].type, SPEC_MOUNT_VOLUME);
	assert_string_equal(w->volumes[0].source, "data");
	assert_string_equal(w->volumes[0].target, "/var/lib/data");
	assert_true(w->volumes[0].read_only);
	assert_int_equal(w->volumes[1].type, SPEC_MOUNT_BIND);
	assert_false(w->volumes[1].read_only);
	assert_int_equal(w->volumes[2].type, SPEC_MOUNT_VOLUME);
	assert_null(w->volumes[2].source);
	assert_int_equal(w->volumes[3].type, SPEC_MOUNT_TMPFS);
	assert_int_equal(w->volumes[3].tmpfs_size, 64 * 1024 * 1024);
	assert_string_equal(w->volumes[4].propagation, "rshared");
	assert_true(w->volumes[5].nocopy);

	assert_int_equal(w->n_secrets, 2);
	assert_string_equal(w->secrets[0].source, "db-password");
	assert_null(w->secrets[0].target);
	assert_int_equal(w->secrets[0].mode, -1);
	assert_string_equal(w->secrets[1].target, "server.key");
	assert_string_equal(w->secrets[1].uid, "0");
	assert_int_equal(w->secrets[1].mode, 0400);
	assert_int_equal(w->n_configs, 1);
	assert_string_equal(w->configs[0].target, "/etc/nginx/nginx.conf");

	assert_int_equal(w->n_networks, 2);
	assert_string_equal(w->networks[0].name, "front");
	assert_int_equal(w->networks[0].aliases.n, 2);
	assert_string_equal(w->networks[0].aliases.v[1], "web.local");
	assert_string_equal(w->networks[1].name, "back");
	assert_int_equal(w->networks[1].aliases.n, 0);

	assert_string_equal(w->labels[0].key, "com.example.role");
	assert_true(w->healthcheck.present);
	assert_int_equal(w->healthcheck.test.n, 2);
	assert_string_equal(w->healthcheck.test.v[0], "CMD-SHELL");
	assert_string_equal(w->healthcheck.test.v[1], "curl -f http://localhost/");
	assert_int_equal(w->healthcheck.interval_ns, 30000000000LL);
	assert_int_equal(w->healthcheck.timeout_ns, 5000000000LL);
	assert_int_equal(w->healthcheck.start_period_ns, 90000000000LL);
	assert_int_equal(w->healthcheck.retries, 3);
	assert_string_equal(w->hostname, "web-host");
	assert_string_equal(w->working_dir, "/srv");
	assert_string_equal(w->stop_signal, "SIGQUIT");
	assert_int_equal(w->stop_grace_period_ns, 60000000000LL);
	assert_int_equal(w->init, 1);
	assert_int_equal(w->read_only, 0);
	assert_int_equal(w->tty, -1);
	assert_string_equal(w->dns.v[0], "1.1.1.1");
	assert_string_equal(w->extra_hosts.v[0], "db:10.0.0.9");
	assert_string_equal(w->cap_add.v[0], "NET_ADMIN");
	assert_int_equal(w->cap_drop.n, 0);
	assert_string_equal(w->sysctls[0].value, "1024");
	assert_string_equal(w->logging_driver, "json-file");
	assert_string_equal(w->logging_options[0].key, "max-size");

	const spec_deploy *dp = &w->deploy;
	assert_int_equal(dp->mode, SPEC_MODE_REPLICATED);
	assert_int_equal(dp->replicas, 4);
	assert_int_equal(dp->limit_nano_cpus, 500000000);
	assert_int_equal(dp->limit_memory, 512 * 1024 * 1024);
	assert_int_equal(dp->limit_pids, 100);
	assert_int_equal(dp->reserve_nano_cpus, 250000000);
	assert_int_equal(dp->reserve_memory, 128 * 1024 * 1024);
	assert_string_equal(dp->constraints.v[0], "node.role == worker");
	assert_string_equal(dp->spread_preferences.v[0], "node.labels.zone");
	assert_int_equal(dp->max_replicas_per_node, 2);
	assert_int_equal(dp->update_config.parallelism, 2);
	assert_int_equal(dp->update_config.delay_ns, 10000000000LL);
	assert_string_equal(dp->update_config.failure_action, "rollback");
	assert_int_equal(dp->update_config.monitor_ns, 500000000);
	assert_true(dp->update_config.max_failure_ratio == 0.25);
	assert_string_equal(dp->update_config.order, "start-first");
	assert_int_equal(dp->rollback_config.parallelism, 0);
	assert_string_equal(dp->rollback_config.failure_action, "continue");
	assert_int_equal(dp->rollback_config.delay_ns, -1);
	assert_string_equal(dp->restart_policy.condition, "on-failure");
	assert_int_equal(dp->restart_policy.max_attempts, 3);
	assert_int_equal(dp->restart_policy.window_ns, 120000000000LL);
	assert_string_equal(dp->labels[0].value, "web");
	assert_string_equal(dp->endpoint_mode, "vip");

	const spec_service *a = &sw->services[1];
	assert_int_equal(a->deploy.mode, SPEC_MODE_GLOBAL);
	assert_int_equal(a->deploy.replicas, -1);
	assert_false(a->healthcheck.present);
	assert_int_equal(a->command.n, 0);
	assert_null(a->command.v);

	assert_int_equal(m->azure.n_file_shares, 1);
	assert_true(m->azure.file_shares[0].protect);
	spec_free(s);
	spec_diags_free(d);
}

static const char *full_azure =
	"version: 1\n"
	"name: jobs\n"
	"azure:\n"
	"  subscription: 0b1f6471-1bf0-4dda-aec3-cb9272f09590\n"
	"  resource_group: rg-jobs\n"
	"  location: westeurope\n"
	"  endpoints: {resource_manager: \"http://127.0.0.1:8443\", active_directory: \"https://login.example\"}\n"
	"  scale_sets:\n"
	"    swarm-workers: {capacity: 3}\n"
	"  file_shares:\n"
	"    joblogs: {storage_account: jobsstore, quota_gb: 50, protect: false, access_tier: Hot}\n"
	"  container_groups:\n"
	"    jobs-v1:\n"
	"      os: linux\n"
	"      ip: public\n"
	"      dns_label: jobs-v1\n"
	"      restart_policy: on_failure\n"
	"      containers:\n"
	"        generator: {image: gen:1, cpu: 1, memory_gb: 1.5, ports: [80], command: run --fast,\n"
	"                    environment: {LEVEL: 3}, secure_environment: {TOKEN: \"${env:JOB_TOKEN}\"}}\n"
	"        logger: {image: log:1, cpu: 0.5, memory_gb: 0.5, ports: [8080, 514/udp],\n"
	"                 volume_mounts: {logs: /var/log/jobs, certs: /etc/certs}}\n"
	"      volumes:\n"
	"        logs: {file_share: joblogs, read_only: false}\n"
	"        certs: {secret: {ca.pem: \"${file:/dev/null}\"}}\n"
	"        scratch: {empty_dir: {}}\n"
	"  traffic_manager:\n"
	"    jobs:\n"
	"      ttl: 60\n"
	"      monitor: {protocol: HTTPS, path: /healthz, interval: 30, timeout: 10, tolerated_failures: 3}\n"
	"      endpoints:\n"
	"        v1: {container_group: jobs-v1, weight: 900}\n"
	"        legacy: {target: old.example.com, weight: 100, enabled: false}\n";

static void test_azure_round_trip(void **state)
{
	(void)state;
	setenv("JOB_TOKEN", "x", 1);
	char *text;
	spec *s = load_text(full_azure, &text);
	if (!s)
		fprintf(stderr, "%s", text);
	assert_non_null(s);
	assert_string_equal(text, "");
	free(text);
	const spec_azure *az = &spec_model(s)->azure;
	assert_string_equal(az->subscription, "0b1f6471-1bf0-4dda-aec3-cb9272f09590");
	assert_string_equal(az->resource_group, "rg-jobs");
	assert_string_equal(az->location, "westeurope");
	assert_string_equal(az->resource_manager_endpoint, "http://127.0.0.1:8443");
	assert_string_equal(az->active_directory_endpoint, "https://login.example");
	assert_int_equal(az->n_scale_sets, 1);
	assert_string_equal(az->scale_sets[0].name, "swarm-workers");
	assert_int_equal(az->scale_sets[0].capacity, 3);
	assert_int_equal(az->n_file_shares, 1);
	assert_string_equal(az->file_shares[0].storage_account, "jobsstore");
	assert_int_equal(az->file_shares[0].quota_gb, 50);
	assert_false(az->file_shares[0].protect);
	assert_string_equal(az->file_shares[0].access_tier, "Hot");

	assert_int_equal(az->n_container_groups, 1);
	const spec_container_group *g = &az->container_groups[0];
	assert_int_equal(g->os, SPEC_OS_LINUX);
	assert_int_equal(g->ip, SPEC_IP_PUBLIC);
	assert_string_equal(g->dns_label, "jobs-v1");
	assert_int_equal(g->restart_policy, SPEC_RESTART_ON_FAILURE);
	/* Without explicit group ports, the address exposes every container port. */
	assert_int_equal(g->n_ports, 3);
	assert_int_equal(g->ports[2].port, 514);
	assert_int_equal(g->ports[2].protocol, SPEC_PROTO_UDP);
	assert_int_equal(g->n_containers, 2);
	const spec_container *gen = &g->containers[0];
	assert_string_equal(gen->name, "generator");
	assert_string_equal(gen->image, "gen:1");
	assert_true(gen->cpu == 1.0);
	assert_true(gen->memory_gb == 1.5);
	assert_int_equal(gen->n_ports, 1);
	assert_int_equal(gen->ports[0].port, 80);
	assert_int_equal(gen->command.n, 2);
	assert_string_equal(gen->command.v[1], "--fast");
	assert_string_equal(gen->environment[0].key, "LEVEL");
	assert_string_equal(gen->environment[0].value, "3");
	assert_int_equal(gen->n_secure_environment, 1);
	assert_string_equal(gen->secure_environment[0].name, "TOKEN");
	assert_int_equal(gen->secure_environment[0].value.kind, SPEC_REF_ENV);
	assert_string_equal(gen->secure_environment[0].value.name, "JOB_TOKEN");
	const spec_container *lg = &g->containers[1];
	assert_int_equal(lg->n_volume_mounts, 2);
	assert_string_equal(lg->volume_mounts[0].volume, "logs");
	assert_string_equal(lg->volume_mounts[0].path, "/var/log/jobs");
	assert_int_equal(g->n_volumes, 3);
	assert_int_equal(g->volumes[0].kind, SPEC_CGVOL_FILE_SHARE);
	assert_string_equal(g->volumes[0].file_share, "joblogs");
	assert_int_equal(g->volumes[1].kind, SPEC_CGVOL_SECRET);
	assert_int_equal(g->volumes[1].n_secret_files, 1);
	assert_string_equal(g->volumes[1].secret_files[0].file_name, "ca.pem");
	assert_int_equal(g->volumes[1].secret_files[0].value.kind, SPEC_REF_FILE);
	assert_int_equal(g->volumes[2].kind, SPEC_CGVOL_EMPTY_DIR);

	assert_int_equal(az->n_traffic_managers, 1);
	const spec_traffic_manager *tm = &az->traffic_managers[0];
	assert_string_equal(tm->routing, "weighted");
	assert_string_equal(tm->dns_name, "jobs");
	assert_int_equal(tm->ttl, 60);
	assert_int_equal(tm->monitor_protocol, SPEC_MONITOR_HTTPS);
	assert_int_equal(tm->monitor_port, 443);
	assert_string_equal(tm->monitor_path, "/healthz");
	assert_int_equal(tm->monitor_interval, 30);
	assert_int_equal(tm->monitor_timeout, 10);
	assert_int_equal(tm->monitor_tolerated_failures, 3);
	assert_int_equal(tm->n_endpoints, 2);
	assert_string_equal(tm->endpoints[0].container_group, "jobs-v1");
	assert_int_equal(tm->endpoints[0].weight, 900);
	assert_true(tm->endpoints[0].enabled);
	assert_null(tm->endpoints[1].container_group);
	assert_string_equal(tm->endpoints[1].target, "old.example.com");
	assert_false(tm->endpoints[1].enabled);
	spec_free(s);
}

static void test_defaults(void **state)
{
	(void)state;
	const char *doc = "version: 1\nname: d\nswarm:\n  services:\n    s: {image: busybox}\n"
			  "azure:\n  subscription: 00000000-0000-0000-0000-000000000000\n  resource_group: rg\n"
			  "  location: westus\n  file_shares:\n    share1: {storage_account: acct1}\n"
			  "  container_groups:\n    grp: {containers: {c: {image: i, cpu: 1, memory_gb: 1}}}\n"
			  "  traffic_manager:\n    tm: {endpoints: {e: {target: a.example}}}\n";
	spec *s = load_text(doc, NULL);
	assert_non_null(s);
	const struct spec_model *m = spec_model(s);
	assert_int_equal(m->swarm.managers, -1);
	assert_null(m->swarm.endpoint);
	const spec_service *sv = &m->swarm.services[0];
	assert_int_equal(sv->deploy.mode, SPEC_MODE_REPLICATED);
	assert_int_equal(sv->deploy.replicas, 1);
	assert_int_equal(sv->deploy.limit_memory, -1);
	assert_int_equal(sv->stop_grace_period_ns, -1);
	assert_int_equal(sv->init, -1);
	assert_false(sv->deploy.update_config.present);
	const spec_file_share *fs = &m->azure.file_shares[0];
	assert_true(fs->protect);
	assert_int_equal(fs->quota_gb, -1);
	assert_null(fs->access_tier);
	const spec_container_group *g = &m->azure.container_groups[0];
	assert_int_equal(g->os, SPEC_OS_LINUX);
	assert_int_equal(g->ip, SPEC_IP_NONE);
	assert_int_equal(g->restart_policy, SPEC_RESTART_ALWAYS);
	assert_int_equal(g->n_ports, 0);
	const spec_traffic_manager *tm = &m->azure.traffic_managers[0];
	assert_string_equal(tm->routing, "weighted");
	assert_int_equal(tm->ttl, 30);
	assert_int_equal(tm->monitor_protocol, SPEC_MONITOR_HTTP);
	assert_int_equal(tm->monitor_port, 80);
	assert_string_equal(tm->monitor_path, "/");
	assert_int_equal(tm->endpoints[0].weight, 1);
	assert_true(tm->endpoints[0].enabled);
	spec_free(s);
}

static void test_durations(void **state)
{
	(void)state;
	int64_t ns;
	assert_true(spec_parse_duration("0", &ns));
	assert_int_equal(ns, 0);
	assert_true(spec_parse_duration("1h30m", &ns));
	assert_int_equal(ns, 5400000000000LL);
	assert_true(spec_parse_duration("1.5s", &ns));
	assert_int_equal(ns, 1500000000LL);
	assert_true(spec_parse_duration("250ms", &ns));
	assert_int_equal(ns, 250000000LL);
	assert_true(spec_parse_duration("10us", &ns));
	assert_int_equal(ns, 10000);
	assert_false(spec_parse_duration("10", &ns));
	assert_false(spec_parse_duration("s", &ns));
	assert_false(spec_parse_duration("", &ns));
	assert_false(spec_parse_duration("-5s", &ns));
	assert_false(spec_parse_duration("5 s", &ns));
	assert_false(spec_parse_duration("9999999999h", &ns));
	/* And back, as messages show a duration (a pause that is too short, ...). */
	char buf[32];
	spec_format_duration(buf, sizeof(buf), 150 * 1000000000LL);
	assert_string_equal(buf, "2m30s");
	spec_format_duration(buf, sizeof(buf), 3600 * 1000000000LL);
	assert_string_equal(buf, "1h");
	spec_format_duration(buf, sizeof(buf), 500000000LL);
	assert_string_equal(buf, "500ms");
	spec_format_duration(buf, sizeof(buf), 1500000000LL);
	assert_string_equal(buf, "1.5s");
	spec_format_duration(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0s");
}

static void test_sizes(void **state)
{
	(void)state;
	int64_t b;
	assert_true(spec_parse_bytes("512", &b));
	assert_int_equal(b, 512);
	assert_true(spec_parse_bytes("512m", &b));
	assert_int_equal(b, 512LL << 20);
	assert_true(spec_parse_bytes("1G", &b));
	assert_int_equal(b, 1LL << 30);
	assert_true(spec_parse_bytes("1.5gb", &b));
	assert_int_equal(b, 3LL << 29);
	assert_true(spec_parse_bytes("64k", &b));
	assert_int_equal(b, 65536);
	assert_false(spec_parse_bytes("1x", &b));
	assert_false(spec_parse_bytes("m", &b));
	assert_false(spec_parse_bytes("-1m", &b));
	assert_false(spec_parse_bytes("0.5b", &b));
}

static void test_missing_file(void **state)
{
	(void)state;
	spec_diags *d = spec_diags_new();
	spec *s = spec_load("/nonexistent/berth.yaml", NULL, d);
	assert_null(s);
	assert_int_equal(spec_diags_count(d), 1);
	assert_string_equal(spec_diags_get(d, 0)->message, "cannot open: No such file or directory");
	spec_diags_free(d);
}

static void test_empty_directory_is_an_error(void **state)
{
	(void)state;
	char dir[] = "/tmp/berth-empty-XXXXXX";
	assert_non_null(mkdtemp(dir));
	spec_diags *d = spec_diags_new();
	spec *s = spec_load(dir, NULL, d);
	assert_null(s);
	assert_int_equal(spec_diags_errors(d), 1);
	assert_string_equal(spec_diags_get(d, 0)->message, "no *.yaml files in this directory");
	spec_diags_free(d);
	rmdir(dir);
}

static void test_alias_bomb_is_refused(void **state)
{
	(void)state;
	char doc[4096] = "version: 1\nname: x\nx-a0: &a0 [1,1,1,1,1,1,1,1,1,1]\n";
	for (int i = 1; i < 9; i++) {
		char line[128];
		snprintf(line, sizeof(line), "x-a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i,
			 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		strcat(doc, line);
	}
	char *text;
	spec *s = load_text(doc, &text);
	assert_null(s);
	assert_non_null(strstr(text, "aliases expand this document to too many nodes"));
	free(text);
}

static void test_secret_value_never_echoed(void **state)
{
	(void)state;
	char *text;
	spec *s = load_text("version: 1\nname: x\nswarm:\n  secrets:\n    db: {value: hunter2-s3cr3t}\n", &text);
	assert_null(s);
	assert_null(strstr(text, "hunter2-s3cr3t"));
	assert_string_equal(text, "t.yaml:5:17: error: swarm.secrets.db.value: secret values must not be written "
				  "inline; use ${env:NAME} or ${file:PATH}\n");
	free(text);
}

/* Compose's "KEY:" and "- KEY": the value comes from berth's environment when the spec is
 * loaded; a variable that is unset leaves the key out. */
static void test_environment_inherited_from_deployer(void **state)
{
	(void)state;
	setenv("BERTH_T_REGION", "eu-west", 1);
	setenv("BERTH_T_EMPTY", "", 1);
	setenv("BERTH_T_LOOKS_LIKE_REF", "${env:NOT_EXPANDED}", 1);
	unsetenv("BERTH_T_UNSET");
	const char *doc = "version: 1\nname: x\nswarm:\n  services:\n"
			  "    map:\n      image: i\n      environment:\n"
			  "        MODE: prod\n        BERTH_T_REGION:\n        BERTH_T_UNSET:\n        BERTH_T_EMPTY: ~\n"
			  "        BLANK: \"\"\n        BERTH_T_LOOKS_LIKE_REF:\n"
			  "    list:\n      image: i\n"
			  "      environment: [MODE=prod, BERTH_T_REGION, BERTH_T_UNSET, BERTH_T_EMPTY, BLANK=]\n"
			  "azure:\n  subscription: 00000000-0000-0000-0000-000000000000\n  resource_group: rg\n"
			  "  location: westus\n  container_groups:\n    grp:\n      containers:\n"
			  "        c: {image: i, cpu: 1, memory_gb: 1, environment: {BERTH_T_REGION: , BERTH_T_UNSET: , A: b}}\n";
	char *text;
	spec *s = load_text(doc, &text);
	if (!s)
		fprintf(stderr, "%s", text);
	assert_non_null(s);
	assert_string_equal(text, "");
	free(text);
	/* The model holds a copy: changing the environment afterwards changes nothing. */
	setenv("BERTH_T_REGION", "changed", 1);
	const struct spec_model *m = spec_model(s);
	for (size_t i = 0; i < 2; i++) {
		const spec_service *sv = &m->swarm.services[i];
		assert_int_equal(sv->n_environment, i == 0 ? 5 : 4);
		assert_string_equal(sv->environment[0].key, "MODE");
		assert_string_equal(sv->environment[0].value, "prod");
		assert_false(sv->environment[0].from_env);
		assert_string_equal(sv->environment[1].key, "BERTH_T_REGION");
		assert_string_equal(sv->environment[1].value, "eu-west");
		assert_true(sv->environment[1].from_env);
		/* BERTH_T_UNSET is not there; a variable set to "" is kept, empty. */
		assert_string_equal(sv->environment[2].key, "BERTH_T_EMPTY");
		assert_string_equal(sv->environment[2].value, "");
		assert_true(sv->environment[2].from_env);
		assert_string_equal(sv->environment[3].key, "BLANK");
		assert_string_equal(sv->environment[3].value, "");
		assert_false(sv->environment[3].from_env);
		assert_int_equal(sv->environment[3].loc.line, i == 0 ? 12 : 16);
	}
	/* An inherited value is taken literally, not as a secret reference. */
	assert_string_equal(m->swarm.services[0].environment[4].value, "${env:NOT_EXPANDED}");
	const spec_container *ct = &m->azure.container_groups[0].containers[0];
	assert_int_equal(ct->n_environment, 2);
	assert_string_equal(ct->environment[0].key, "BERTH_T_REGION");
	assert_string_equal(ct->environment[0].value, "eu-west");
	assert_string_equal(ct->environment[1].key, "A");
	spec_free(s);

	/* Read again at the next load. */
	s = load_text(doc, NULL);
	assert_string_equal(spec_model(s)->swarm.services[0].environment[1].value, "changed");
	spec_free(s);
	unsetenv("BERTH_T_REGION");
	unsetenv("BERTH_T_EMPTY");
	unsetenv("BERTH_T_LOOKS_LIKE_REF");
}

/* A key left out because its variable is unset is still a key: repeating it is still an error. */
static void test_environment_inherited_key_set_twice(void **state)
{
	(void)state;
	unsetenv("BERTH_T_UNSET");
	assert_diags("version: 1\nname: x\nswarm:\n  services:\n    web:\n      image: i\n"
		     "      environment: [BERTH_T_UNSET, BERTH_T_UNSET=1]\n",
		     "t.yaml:7:36: error: swarm.services.web.environment[1]: 'BERTH_T_UNSET' is set twice (first at 7:21)\n");
}

static char *load_with(const char *yaml, const spec_options *o, spec **out)
{
	spec_diags *d = spec_diags_new();
	*out = spec_load_buffer(yaml, strlen(yaml), "t.yaml", o, d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spec_diags_print(d, f);
	fclose(f);
	spec_diags_free(d);
	return buf;
}

/* berth validate's default: a secret that cannot be read here is a warning, the spec loads;
 * the zeroed options of plan and apply keep it an error. Only names are printed. */
static void test_secret_refs_as_warnings(void **state)
{
	(void)state;
	unsetenv("BERTH_T_NO_SUCH_SECRET");
	setenv("BERTH_T_SET_SECRET", "hunter2-value", 1);
	const char *doc = "version: 1\nname: x\nswarm:\n  secrets:\n"
			  "    a: {value: \"${env:BERTH_T_NO_SUCH_SECRET}\"}\n"
			  "    b: {file: /nonexistent/berth-t/b}\n"
			  "    c: {environment: BERTH_T_SET_SECRET}\n";
	spec_options warn = {.secret_refs_warn = true}, strict = {0};
	spec *s;
	char *text = load_with(doc, &warn, &s);
	assert_non_null(s);
	assert_string_equal(text,
			    "t.yaml:5:16: warning: swarm.secrets.a: environment variable 'BERTH_T_NO_SUCH_SECRET' is not set\n"
			    "t.yaml:6:15: warning: swarm.secrets.b: cannot read secret file '/nonexistent/berth-t/b': No such "
			    "file or directory\n");
	assert_int_equal(spec_model(s)->swarm.n_secrets, 3);
	spec_free(s);
	free(text);
	text = load_with(doc, &strict, &s);
	assert_null(s);
	assert_string_equal(text,
			    "t.yaml:5:16: error: swarm.secrets.a: environment variable 'BERTH_T_NO_SUCH_SECRET' is not set\n"
			    "t.yaml:6:15: error: swarm.secrets.b: cannot read secret file '/nonexistent/berth-t/b': No such "
			    "file or directory\n");
	assert_null(strstr(text, "hunter2-value"));
	free(text);
	/* NULL options are the strict load too. */
	spec_diags *d = spec_diags_new();
	assert_null(spec_load_buffer(doc, strlen(doc), "t.yaml", NULL, d));
	assert_int_equal(spec_diags_errors(d), 2);
	spec_diags_free(d);
	/* The form of a reference is checked either way: a malformed one is an error. */
	text = load_with("version: 1\nname: x\nswarm:\n  secrets:\n    a: {value: \"${env:1BAD}\"}\n", &warn, &s);
	assert_null(s);
	assert_string_equal(text, "t.yaml:5:16: error: swarm.secrets.a.value: '1BAD' is not a valid environment variable name\n");
	free(text);
	unsetenv("BERTH_T_SET_SECRET");
}

/* A corpus file that must load without a single diagnostic (they are printed if it does not). */
static spec *load_clean(const char *path)
{
	spec_diags *d = spec_diags_new();
	spec *s = spec_load(path, NULL, d);
	if (!s || spec_diags_count(d))
		spec_diags_print(d, stderr);
	assert_non_null(s);
	assert_int_equal(spec_diags_count(d), 0);
	spec_diags_free(d);
	return s;
}

/* A scale set's swarm block: written values kept, the rest defaulted; no block, no swarm backing. */
static void test_scale_set_swarm_block(void **state)
{
	(void)state;
	spec *s = load_clean("tests/spec/valid/12-scale-set-swarm.yaml");
	const spec_azure *az = &spec_model(s)->azure;
	assert_int_equal(az->n_scale_sets, 3);
	const spec_scale_set_swarm *w = &az->scale_sets[0].swarm;
	assert_true(w->present);
	assert_int_equal(w->role, SPEC_NODE_WORKER);
	assert_true(w->drain_timeout_ns == 600LL * 1000000000LL);
	assert_true(w->join_timeout_ns == 300LL * 1000000000LL);
	const spec_scale_set_swarm *m = &az->scale_sets[1].swarm;
	assert_true(m->present);
	assert_int_equal(m->role, SPEC_NODE_MANAGER);
	assert_true(m->drain_timeout_ns == 600LL * 1000000000LL);
	assert_true(m->join_timeout_ns == 600LL * 1000000000LL);
	assert_false(az->scale_sets[2].swarm.present);
	spec_free(s);
}

/* Azure's enumerations in any case come out in the one spelling berth plans and sends with. */
static void test_azure_enums_any_case_normalised(void **state)
{
	(void)state;
	spec *s = load_clean("tests/spec/valid/09-azure-values-any-case.yaml");
	const spec_azure *az = &spec_model(s)->azure;
	assert_string_equal(az->file_shares[0].access_tier, "Hot");
	const spec_container_group *g = &az->container_groups[0];
	assert_int_equal(g->os, SPEC_OS_LINUX);
	assert_int_equal(g->ip, SPEC_IP_PUBLIC);
	assert_int_equal(g->restart_policy, SPEC_RESTART_ON_FAILURE);
	assert_int_equal(g->n_ports, 2);
	assert_int_equal(g->ports[0].protocol, SPEC_PROTO_TCP);
	assert_int_equal(g->ports[1].port, 53);
	assert_int_equal(g->ports[1].protocol, SPEC_PROTO_UDP);
	assert_int_equal(g->containers[0].ports[1].protocol, SPEC_PROTO_UDP);
	assert_int_equal(az->container_groups[1].os, SPEC_OS_WINDOWS);
	assert_int_equal(az->container_groups[1].restart_policy, SPEC_RESTART_NEVER);
	const spec_traffic_manager *tm = &az->traffic_managers[0];
	assert_string_equal(tm->routing, "weighted");
	assert_int_equal(tm->monitor_protocol, SPEC_MONITOR_TCP);
	assert_null(tm->monitor_path); /* no default path for a TCP monitor, however it is written */
	spec_free(s);

	/* The rules that depend on a value see it normalised. */
	const char *head = "version: 1\nname: x\nazure:\n  subscription: 00000000-0000-0000-0000-000000000000\n"
			   "  resource_group: rg\n  location: westus\n";
	char doc[1024];
	snprintf(doc, sizeof(doc), "%s  traffic_manager:\n    tm: {monitor: {protocol: tcp, path: /x}}\n", head);
	assert_diags(doc, "t.yaml:8:19: error: azure.traffic_manager.tm.monitor: a TCP monitor has no path\n");
	snprintf(doc, sizeof(doc),
		 "%s  container_groups:\n    grp: {ip: Public, dns_label: grp-x, containers: {c: {image: i, cpu: 1, memory_gb: 1}}}\n",
		 head);
	assert_diags(doc, "t.yaml:8:10: error: azure.container_groups.grp: ip: public needs at least one container port\n");
	snprintf(doc, sizeof(doc),
		 "%s  container_groups:\n    grp: {containers: {c: {image: i, cpu: 1, memory_gb: 1, ports: [80/sctp]}}}\n", head);
	assert_diags(doc, "t.yaml:8:68: error: azure.container_groups.grp.containers.c.ports[0]: invalid port '80/sctp': use "
			  "PORT or PORT/tcp or PORT/udp\n");
}

/* A rollout's probe and health limits (durations in seconds). */
static void assert_health(const spec_rollout *r, const char *path, int64_t port, int64_t expect, int64_t interval_s,
			  int64_t max_restarts, int64_t timeout_s)
{
	assert_string_equal(r->probe_path, path);
	assert_int_equal(r->probe_port, port);
	assert_int_equal(r->probe_expect, expect);
	assert_int_equal(r->probe_interval_ns, interval_s * 1000000000LL);
	assert_int_equal(r->max_restarts, max_restarts);
	assert_int_equal(r->timeout_ns, timeout_s * 1000000000LL);
}

/* A rollout reads back as written, with its documented defaults where it is not, and the pause
 * of each step comes from the step, else the rollout, else the profile's minimum (issue 9). */
static void test_rollout_model(void **state)
{
	(void)state;
	spec *s = load_clean("tests/spec/valid/11-azure-rollout.yaml");
	const struct spec_model *m = spec_model(s);
	assert_int_equal(m->azure.n_container_groups, 3);

	const spec_container_group *web = &m->azure.container_groups[0];
	const spec_rollout *r = &web->rollout;
	assert_true(r->present);
	assert_int_equal(r->loc.line, 19);
	assert_string_equal(r->traffic_manager, "shop-web");
	assert_int_equal(r->traffic_manager_loc.line, 20);
	assert_int_equal(r->traffic_manager_loc.col, 26);
	assert_int_equal(r->n_steps, 3);
	assert_int_equal(r->steps[0].weight, 10);
	assert_int_equal(r->steps[0].pause_ns, 300 * 1000000000LL);
	assert_int_equal(r->steps[0].pause_loc.line, 21);
	assert_int_equal(r->steps[0].pause_loc.col, 37);
	assert_int_equal(r->steps[1].weight, 50);
	assert_int_equal(r->steps[1].pause_ns, -1);
	assert_int_equal(r->steps[2].weight, 100);
	assert_int_equal(r->steps[2].pause_ns, -1);
	assert_int_equal(r->pause_ns, 150 * 1000000000LL);
	assert_string_equal(r->monitor, "Online"); /* written "online": Azure's spelling */
	assert_true(r->probe);
	assert_health(r, "/healthz", 80, 204, 5, 1, 20 * 60);
	const spec_traffic_manager *tm = spec_rollout_profile(m, web);
	assert_non_null(tm);
	assert_string_equal(tm->name, "shop-web");
	assert_int_equal(spec_rollout_min_pause_s(tm), 30 + 30 * (3 + 1));
	assert_int_equal(spec_rollout_pause_s(m, web, 0), 300); /* the step's own */
	assert_int_equal(spec_rollout_pause_s(m, web, 1), 150); /* the rollout's */
	assert_int_equal(spec_rollout_pause_s(m, web, 2), 150);

	/* Everything left out: the defaults of spec.h. */
	const spec_container_group *api = &m->azure.container_groups[1];
	r = &api->rollout;
	assert_true(r->present);
	assert_string_equal(r->traffic_manager, "shop-api");
	assert_int_equal(r->n_steps, 1);
	assert_int_equal(r->steps[0].weight, 100);
	assert_int_equal(r->steps[0].pause_ns, -1);
	assert_int_equal(r->pause_ns, -1);
	assert_null(r->monitor); /* written "none": no monitor gate */
	assert_false(r->probe);
	assert_health(r, "/", 80, 200, 10, 0, 15 * 60); /* the probe's defaults, though there is none */
	tm = spec_rollout_profile(m, api);
	assert_non_null(tm);
	/* TTL 10 and a fast monitor (10 s, 1 tolerated failure): 10 + 10 x 2. */
	assert_int_equal(spec_rollout_min_pause_s(tm), 30);
	assert_int_equal(spec_rollout_pause_s(m, api, 0), 30); /* no pause written: the minimum */

	const spec_container_group *legacy = &m->azure.container_groups[2];
	assert_false(legacy->rollout.present);
	assert_null(spec_rollout_profile(m, legacy));
	spec_free(s);

	/* The health gate's defaults when health is written but says nothing of the monitor. */
	const char *doc = "version: 1\nname: x\nazure:\n  subscription: 00000000-0000-0000-0000-000000000000\n"
			  "  resource_group: rg\n  location: westus\n  container_groups:\n"
			  "    grp:\n      ip: public\n      dns_label: grp-x\n"
			  "      containers: {c: {image: i, cpu: 1, memory_gb: 1, ports: [80]}}\n"
			  "      rollout: {traffic_manager: tm, steps: [100], health: {probe: {}}}\n"
			  "  traffic_manager:\n    tm: {}\n";
	char *text;
	s = load_text(doc, &text);
	if (!s)
		fprintf(stderr, "%s", text);
	assert_non_null(s);
	free(text);
	r = &spec_model(s)->azure.container_groups[0].rollout;
	assert_string_equal(r->monitor, "Online");
	assert_true(r->probe); /* probe: {} is a probe with every default */
	assert_string_equal(r->probe_path, "/");
	assert_int_equal(r->probe_port, 80);
	spec_free(s);
}

/* "key:" with no value is an empty list for every list-valued key (it used to be an error for
 * some: environment, dns, constraints, aliases, a secret's labels, healthcheck.test, ...). */
static void test_every_list_may_be_written_empty(void **state)
{
	(void)state;
	const char *doc =
		"version: 1\nname: x\nswarm:\n"
		"  networks:\n    front: {labels: , driver_opts: }\n"
		"  secrets:\n    s: {file: /etc/hostname, labels: }\n"
		"  configs:\n    cf: {content: x, labels: }\n"
		"  volumes:\n    v: {labels: , driver_opts: }\n"
		"  services:\n    web:\n      image: i\n"
		"      command:\n      entrypoint:\n      environment:\n      labels:\n      ports:\n      volumes:\n"
		"      secrets:\n      configs:\n      dns:\n      dns_search:\n      extra_hosts:\n      cap_add:\n"
		"      cap_drop:\n      sysctls:\n      logging: {driver: json-file, options: }\n"
		"      networks:\n        front: {aliases: }\n"
		"      healthcheck: {test: , interval: 10s}\n"
		"      deploy: {labels: , placement: {constraints: , preferences: }}\n"
		"azure:\n  subscription: 00000000-0000-0000-0000-000000000000\n  resource_group: rg\n  location: westus\n"
		"  container_groups:\n    grp:\n      ports:\n      volumes:\n"
		"      containers:\n        c: {image: i, cpu: 1, memory_gb: 1, ports: , command: , environment: ,\n"
		"            secure_environment: , volume_mounts: }\n";
	char *text;
	spec *s = load_text(doc, &text);
	if (!s)
		fprintf(stderr, "%s", text);
	assert_non_null(s);
	assert_string_equal(text, "");
	free(text);
	const spec_service *w = &spec_model(s)->swarm.services[0];
	assert_int_equal(w->n_environment, 0);
	assert_null(w->command.v); /* unset: the image's command */
	assert_int_equal(w->dns.n, 0);
	assert_int_equal(w->dns_search.n, 0);
	assert_int_equal(w->deploy.constraints.n, 0);
	assert_int_equal(w->networks[0].aliases.n, 0);
	assert_true(w->healthcheck.present);
	assert_int_equal(w->healthcheck.test.n, 0); /* the image's test, with berth's interval */
	assert_int_equal(w->healthcheck.interval_ns, 10000000000LL);
	assert_int_equal(spec_model(s)->swarm.secrets[0].n_labels, 0);
	assert_int_equal(spec_model(s)->azure.container_groups[0].containers[0].n_environment, 0);
	spec_free(s);

	/* Scalars still need a value, and an empty list is still checked against what needs entries. */
	assert_diags("version: 1\nname: x\nswarm:\n  services:\n    web:\n      image:\n",
		     "t.yaml:6:13: error: swarm.services.web.image: expected a string, got null\n");
	assert_diags("version: 1\nname: x\nswarm:\n  services:\n    web: {image: i, healthcheck: {test: }}\n",
		     "t.yaml:5:34: error: swarm.services.web.healthcheck: empty healthcheck: give a test, or disable: true\n");
	assert_diags("version: 1\nname: x\nazure:\n  subscription: 00000000-0000-0000-0000-000000000000\n"
		     "  resource_group: rg\n  location: westus\n  container_groups:\n    grp:\n"
		     "      containers: {c: {image: i, cpu: 1, memory_gb: 1}}\n      volumes: {certs: {secret: }}\n",
		     "t.yaml:10:33: error: azure.container_groups.grp.volumes.certs.secret: a secret volume needs at least one file\n");
}

/* A secret's or config's mode is octal however it is written (Compose's rule): 440 is 0440. */
static void test_file_mode_is_octal(void **state)
{
	(void)state;
	static const struct {
		const char *written;
		int mode;
	} ok[] = {
		{"440", 0440}, {"0440", 0440}, {"0o440", 0440}, {"\"440\"", 0440}, {"\"0440\"", 0440},
		{"\"0o440\"", 0440}, {"400", 0400}, {"777", 0777}, {"0777", 0777}, {"7", 07}, {"0", 0}, {"000644", 0644},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc),
			 "version: 1\nname: x\nswarm:\n  configs:\n    cf: {content: x}\n  services:\n"
			 "    web: {image: i, configs: [{source: cf, mode: %s}]}\n",
			 ok[i].written);
		char *text;
		spec *s = load_text(doc, &text);
		if (!s)
			fail_msg("mode: %s: %s", ok[i].written, text);
		free(text);
		if (spec_model(s)->swarm.services[0].configs[0].mode != ok[i].mode)
			fail_msg("mode: %s read as 0%o, expected 0%o", ok[i].written,
				 (unsigned)spec_model(s)->swarm.services[0].configs[0].mode, (unsigned)ok[i].mode);
		spec_free(s);
	}
	static const struct {
		const char *written, *message;
	} bad[] = {
		{"448", "expected an octal file mode like 0440 (digits 0 to 7), got '448'"},
		{"0999", "expected an octal file mode like 0440 (digits 0 to 7), got '0999'"},
		{"\"0o\"", "expected an octal file mode like 0440 (digits 0 to 7), got '0o'"},
		{"-1", "expected an octal file mode like 0440 (digits 0 to 7), got '-1'"},
		{"0x1ff", "expected an octal file mode like 0440 (digits 0 to 7), got '0x1ff'"},
		{"1000", "expected a file mode between 0 and 0777, got '1000'"},
		{"01777", "expected a file mode between 0 and 0777, got '01777'"},
		{"0o1234567", "expected a file mode between 0 and 0777, got '0o1234567'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[512], want[512];
		snprintf(doc, sizeof(doc),
			 "version: 1\nname: x\nswarm:\n  configs:\n    cf: {content: x}\n  services:\n"
			 "    web: {image: i, configs: [{source: cf, mode: %s}]}\n",
			 bad[i].written);
		snprintf(want, sizeof(want), "t.yaml:7:50: error: swarm.services.web.configs[0].mode: %s\n", bad[i].message);
		assert_diags(doc, want);
	}
}

/* "8000-8002:80" publishes each port of the range to the one target, as docker stack deploy
 * does; ranges of different sizes are still an error. */
static void test_published_range_to_one_target(void **state)
{
	(void)state;
	spec *s = load_text("version: 1\nname: x\nswarm:\n  services:\n"
			    "    web: {image: i, ports: [\"8000-8002:80\", \"9000-9001:53/udp\", \"7000-7001:7000-7001\"]}\n",
			    NULL);
	assert_non_null(s);
	const spec_service *w = &spec_model(s)->swarm.services[0];
	assert_int_equal(w->n_ports, 7);
	static const int published[] = {8000, 8001, 8002, 9000, 9001, 7000, 7001};
	static const int target[] = {80, 80, 80, 53, 53, 7000, 7001};
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(w->ports[i].published, published[i]);
		assert_int_equal(w->ports[i].target, target[i]);
		assert_int_equal(w->ports[i].mode, SPEC_PUBLISH_INGRESS);
		assert_int_equal(w->ports[i].protocol, i == 3 || i == 4 ? SPEC_PROTO_UDP : SPEC_PROTO_TCP);
	}
	spec_free(s);
	/* Each published port of the range is checked for conflicts like any other. */
	assert_diags("version: 1\nname: x\nswarm:\n  services:\n"
		     "    a: {image: i, ports: [\"8000-8002:80\"]}\n    b: {image: i, ports: [\"8001:81\"]}\n",
		     "t.yaml:6:27: error: swarm.services.b.ports: published port 8001/tcp conflicts with service 'a' "
		     "(t.yaml:5:27)\n");
	assert_diags("version: 1\nname: x\nswarm:\n  services:\n    a: {image: i, ports: [\"80:8000-8002\"]}\n",
		     "t.yaml:5:27: error: swarm.services.a.ports[0]: '80:8000-8002': published and target ranges differ in "
		     "size (publish a range to a range of the same size, or to one target port)\n");
}

/* A service named x-... is not deployed (x- entries are skipped), and berth says so: Compose
 * would deploy it. x- entries elsewhere stay silent. */
static void test_service_named_x_is_a_warning(void **state)
{
	(void)state;
	char *text;
	spec *s = load_text("version: 1\nname: x\nx-top: {a: 1}\nswarm:\n  networks:\n    x-net: {}\n"
			    "  services:\n    x-ray: {image: amazon/aws-xray-daemon}\n    web: {image: i, x-note: 1}\n",
			    &text);
	assert_non_null(s);
	assert_string_equal(text, "t.yaml:8:5: warning: swarm.services.x-ray: not deployed: a name starting with 'x-' is "
				  "an extension field, not a service (docker stack deploy would deploy it); rename it, or "
				  "keep shared fragments in a top-level x- key\n");
	assert_int_equal(spec_model(s)->swarm.n_services, 1);
	assert_string_equal(spec_model(s)->swarm.services[0].name, "web");
	assert_int_equal(spec_model(s)->swarm.n_networks, 0);
	free(text);
	spec_free(s);
}

/* Inputs the fuzzer once found slow or undefined: each must now be rejected promptly and cleanly
 * (the ASan+UBSan run of this test catches any undefined behaviour coming back). */
static void test_fuzz_regressions(void **state)
{
	(void)state;
	const char *dir = "tests/fuzz/regressions";
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n > 2);
	int checked = 0;
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			spec_diags *d = spec_diags_new();
			spec_options o = {.skip_secret_refs = true};
			spec *s = spec_load(path, &o, d);
			assert_null(s);
			assert_true(spec_diags_errors(d) > 0);
			spec_diags_free(d);
			checked++;
		}
		free(ents[i]);
	}
	free(ents);
	assert_true(checked > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swarm_round_trip),
		cmocka_unit_test(test_azure_round_trip),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_empty_directory_is_an_error),
		cmocka_unit_test(test_alias_bomb_is_refused),
		cmocka_unit_test(test_secret_value_never_echoed),
		cmocka_unit_test(test_environment_inherited_from_deployer),
		cmocka_unit_test(test_environment_inherited_key_set_twice),
		cmocka_unit_test(test_secret_refs_as_warnings),
		cmocka_unit_test(test_azure_enums_any_case_normalised),
		cmocka_unit_test(test_scale_set_swarm_block),
		cmocka_unit_test(test_rollout_model),
		cmocka_unit_test(test_every_list_may_be_written_empty),
		cmocka_unit_test(test_file_mode_is_octal),
		cmocka_unit_test(test_published_range_to_one_target),
		cmocka_unit_test(test_service_named_x_is_a_warning),
		cmocka_unit_test(test_fuzz_regressions),
	};
	return cmocka_run_group_tests_name("spec model", tests, NULL, NULL);
}
