/* berth rollout status [PATH] | promote NAME [PATH] | abort NAME [PATH]: what the rollouts of a
 * spec's container groups are doing, and an operator's say in them. The commands act on the live
 * objects (the profile's berth-rollout tag), so they work beside a running `berth run`: promote
 * marks the rollout so the remaining pauses are skipped by whoever drives it next; abort marks it
 * and rolls back at once (both are idempotent, whoever gets there first). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_run.h"
#include "spec/xalloc.h"

static void rollout_usage(FILE *out)
{
	fputs("usage: berth rollout status [--json] [PATH]\n"
	      "       berth rollout promote NAME [PATH]\n"
	      "       berth rollout abort NAME [PATH]\n\n"
	      "Rollouts of container groups through their Traffic Manager profile (see docs/spec.md).\n"
	      "PATH is the spec (default: the current directory).\n\n"
	      "  status   every rollout: revisions, weights, monitor status, step, time in the step\n"
	      "  promote  skip the remaining pauses of NAME's rollout (health still gates each step)\n"
	      "  abort    roll NAME back now: all traffic to the stable revision, the new one removed\n\n"
	      "  --json   status as a JSON array\n"
	      "  -h, --help\n",
	      out);
}

static void print_status(json_t *all)
{
	if (json_array_size(all) == 0) {
		puts("No container group of this spec has a rollout.");
		return;
	}
	size_t i;
	json_t *ro;
	json_array_foreach(all, i, ro) {
		const char *g = json_string_value(json_object_get(ro, "group"));
		const char *phase = json_string_value(json_object_get(ro, "phase"));
		printf("rollout %s (profile %s): %s\n", g, json_string_value(json_object_get(ro, "profile")), phase);
		const char *stable = json_string_value(json_object_get(ro, "stable"));
		printf("  stable revision: %s\n", stable && *stable ? stable : "(none)");
		printf("  spec's revision: %s\n", json_string_value(json_object_get(ro, "desired")));
		if (!strcmp(phase, "progressing") || !strcmp(phase, "rolling_back") || !strcmp(phase, "failed")) {
			json_t *steps = json_object_get(ro, "steps");
			printf("  rolling out %s: step %lld of %zu", json_string_value(json_object_get(ro, "revision")),
			       (long long)json_integer_value(json_object_get(ro, "step")), json_array_size(steps));
			if (json_is_integer(json_object_get(ro, "step_weight")))
				printf(" (%lld%%)", (long long)json_integer_value(json_object_get(ro, "step_weight")));
			printf(", %llds in the step", (long long)json_integer_value(json_object_get(ro, "in_step_s")));
			if (json_is_integer(json_object_get(ro, "pause_left_s")))
				printf(", %llds left in the pause", (long long)json_integer_value(json_object_get(ro, "pause_left_s")));
			if (json_is_true(json_object_get(ro, "promote")))
				printf(", promoted");
			putchar('\n');
		}
		if (json_is_string(json_object_get(ro, "reason")))
			printf("  reason: %s\n", json_string_value(json_object_get(ro, "reason")));
		size_t k;
		json_t *rev;
		json_array_foreach(json_object_get(ro, "revisions"), k, rev) {
			printf("  revision %s: %s%s", json_string_value(json_object_get(rev, "revision")),
			       json_is_true(json_object_get(rev, "group")) ? "group" : "no group",
			       json_is_true(json_object_get(rev, "running")) ? " running" : "");
			if (json_integer_value(json_object_get(rev, "restarts")))
				printf(", %lld restarts", (long long)json_integer_value(json_object_get(rev, "restarts")));
			if (json_is_true(json_object_get(rev, "endpoint")))
				printf(", weight %lld, monitor %s", (long long)json_integer_value(json_object_get(rev, "weight")),
				       json_is_string(json_object_get(rev, "monitor")) ? json_string_value(json_object_get(rev, "monitor"))
										: "unknown");
			else
				printf(", no endpoint");
			putchar('\n');
		}
		printf("  next: %s\n", json_string_value(json_object_get(ro, "next")));
	}
}

int cmd_rollout(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'j') {
			json = true;
		} else if (ch == 'h') {
			rollout_usage(stdout);
			return 0;
		} else {
			rollout_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		rollout_usage(stderr);
		return 2;
	}
	const char *verb = argv[optind++];
	bool status = !strcmp(verb, "status");
	if (!status && strcmp(verb, "promote") && strcmp(verb, "abort")) {
		fprintf(stderr, "berth rollout: unknown subcommand '%s'\n", verb);
		rollout_usage(stderr);
		return 2;
	}
	const char *name = NULL;
	if (!status) {
		if (optind >= argc) {
			fprintf(stderr, "berth rollout %s: which container group? (NAME)\n", verb);
			return 2;
		}
		name = argv[optind++];
	}
	if (argc - optind > 1 || (json && !status)) {
		rollout_usage(stderr);
		return 2;
	}
	const char *path = optind < argc ? argv[optind] : ".";
	cli_spec cs;
	if (cli_load_spec(path, false, &cs) != 0)
		return 1;
	berth_engine *e = cli_engine_new();
	berth_error err = {0};
	int rc;
	if (status) {
		char *text = NULL;
		rc = berth_status(e, spec_model(cs.s), &text, &err);
		if (rc == 0) {
			json_t *all = json_loads(text, 0, NULL);
			/* The status array also holds what the status page shows (services, nodes,
			 * profiles, scale sets): only the rollouts are this command's. */
			for (size_t i = json_array_size(all); i-- > 0;) {
				const char *kind = json_string_value(json_object_get(json_array_get(all, i), "kind"));
				if (!kind || strcmp(kind, "rollout"))
					json_array_remove(all, i);
			}
			if (json) {
				json_dumpf(all, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
				fputc('\n', stdout);
			} else {
				print_status(all);
			}
			json_decref(all);
		}
		free(text);
	} else {
		berth_options o = {.rollout_wait = true};
		cli_env_options(&o);
		char *full = xasprintf("rollout-%s", verb);
		rc = berth_command(e, spec_model(cs.s), &o, full, name, &err);
		free(full);
		if (rc == 0)
			printf("rollout %s: %s\n", name, !strcmp(verb, "promote") ? "promoted" : "rolled back");
	}
	if (rc != 0)
		cli_print_error(&err);
	berth_error_clear(&err);
	berth_engine_free(e);
	cli_spec_free(&cs);
	return rc == 0 ? 0 : 1;
}
