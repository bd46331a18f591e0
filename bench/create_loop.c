/* create_loop: the floor for creating N swarm services through the Engine API, the least any
 * client must do. One docker handle (docker_open: the /_ping handshake, then one keep-alive
 * connection), N sequential POST /services/create with the same body berth's apply sends for a
 * minimal service, nothing else: no listing, no plan, no convergence check.
 *
 *   create_loop [-n N] [-r REPLICAS] [-i IMAGE] OWNER
 *
 * Creates the services OWNER-0001 .. OWNER-N (image IMAGE, default berth-test/busybox:latest,
 * args ["sleep", "3600"], REPLICAS replicas, default 0), labelled berth.owner=OWNER, and prints
 * "KEY VALUE" lines on stdout:
 *   services N, loop_ms (the N requests), total_ms (docker_open included), requests, writes.
 * The caller removes the services (docker service rm by label). Exit 0 when all N were created,
 * 1 when a request failed (the services made so far are left for the caller to remove), 2 on a
 * usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/docker.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(void)
{
	fputs("usage: create_loop [-n N] [-r REPLICAS] [-i IMAGE] OWNER\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 200, replicas = 0;
	const char *image = "berth-test/busybox:latest";
	int opt;
	while ((opt = getopt(argc, argv, "n:r:i:h")) != -1) {
		switch (opt) {
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'r':
			replicas = strtol(optarg, NULL, 10);
			break;
		case 'i':
			image = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || n < 1 || n > 9999 || replicas < 0)
		usage();
	const char *owner = argv[optind];

	double t0 = now_ms();
	docker_config cfg;
	docker_config_init(&cfg, NULL, NULL, NULL, NULL);
	char *err = NULL;
	docker *d = docker_open(&cfg, &err);
	if (!d) {
		fprintf(stderr, "create_loop: %s\n", err ? err : "cannot reach the Docker engine");
		free(err);
		return 1;
	}

	/* The body is built once; only Name changes (as berth builds each service's spec before
	 * applying, so building is not part of the requests' cost either way). */
	json_t *body = json_pack("{s:s, s:{s:s}, s:{s:{s:s, s:[s,s]}}, s:{s:{s:I}}}", "Name", "", "Labels",
				 "berth.owner", owner, "TaskTemplate", "ContainerSpec", "Image", image, "Args", "sleep",
				 "3600", "Mode", "Replicated", "Replicas", (json_int_t)replicas);
	if (!body) {
		fputs("create_loop: cannot build the request body\n", stderr);
		return 1;
	}
	int rc = 0;
	double t1 = now_ms();
	for (long i = 1; i <= n; i++) {
		char name[128];
		snprintf(name, sizeof(name), "%s-%04ld", owner, i);
		json_object_set_new(body, "Name", json_string(name));
		long status = 0;
		json_t *resp = NULL;
		err = NULL;
		if (docker_request(d, "POST", "/services/create", body, &status, &resp, &err) != 0 || status != 201) {
			fprintf(stderr, "create_loop: creating %s: %s (HTTP %ld)\n", name, err ? err : "unexpected response",
				status);
			free(err);
			json_decref(resp);
			rc = 1;
			break;
		}
		json_decref(resp);
	}
	double t2 = now_ms();
	printf("services %ld\nloop_ms %.1f\ntotal_ms %.1f\nrequests %lu\nwrites %lu\n", n, t2 - t1, t2 - t0,
	       docker_requests(d), docker_writes(d));
	json_decref(body);
	docker_close(d);
	return rc;
}
