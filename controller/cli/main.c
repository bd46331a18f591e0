/* berth: declarative reconciliation for Docker Swarm and Azure container services. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
	{"validate", cmd_validate, "check a desired-state spec and report every problem"},
	{"plan", cmd_plan, "show what apply would change (a dry run)"},
	{"apply", cmd_apply, "make the live state match the spec"},
	{"run", cmd_run, "run as a controller: follow a git repository, apply pushes, correct drift"},
	{"rollout", cmd_rollout, "show, promote or abort the rollouts of container groups"},
};

static void usage(FILE *out)
{
	fputs("usage: berth [--version] [--help] COMMAND [ARGS]\n\n"
	      "Declarative reconciliation for Docker Swarm and Azure container services.\n\n"
	      "commands:\n",
	      out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'berth COMMAND --help' for a command's options.\n", out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("berth %s\n", BERTH_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "berth: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
