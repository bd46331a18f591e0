/* berth run's options for telling the outside world: --notify URL (repeatable),
 * --notify-secret-file F, --commit-status FORGE, --commit-status-token-file F,
 * --commit-status-url URL, each also from its BERTH_* variable (BERTH_NOTIFY takes URLs separated
 * by commas or blanks; BERTH_NOTIFY_QUEUE the queue's length). */
#ifndef BERTH_CLI_NOTIFY_H
#define BERTH_CLI_NOTIFY_H
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "run/run.h"

typedef struct cli_notify_opts {
	char **urls;
	size_t n_urls;
	bool urls_from_flags; /* a --notify replaces BERTH_NOTIFY */
	const char *secret_file, *forge, *token_file, *api_url;
	char *secret, *token; /* read from the files; wiped by cli_notify_opts_free */
} cli_notify_opts;

extern const struct option cli_notify_options[];
#define CLI_NOTIFY_OPTIONS_N 5
#define CLI_NOTIFY_OPT_BASE 450

void cli_notify_defaults(cli_notify_opts *o); /* from the BERTH_* environment */
/* Takes one option of cli_notify_options; false if ch is not one of them. */
bool cli_notify_option(cli_notify_opts *o, int ch, const char *arg);
/* Reads the secret files into cfg's notify and commit_status. Returns 0, or 2 after printing. */
int cli_notify_config(cli_notify_opts *o, berth_run_config *cfg);
void cli_notify_opts_free(cli_notify_opts *o);
void cli_notify_usage(FILE *out);

#endif
