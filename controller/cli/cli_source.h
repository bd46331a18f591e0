/* The source options `berth plan`, `apply` and `run` share: --repo URL [--ref REF] [--path DIR]
 * and the git credentials, each also from its BERTH_* environment variable (how a container is
 * configured); without --repo the spec PATH on disk is read, as always. */
#ifndef BERTH_CLI_SOURCE_H
#define BERTH_CLI_SOURCE_H
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "source/source.h"

typedef struct cli_source_opts {
	const char *repo, *ref, *path, *cache_dir;
	const char *username;
	const char *password_file;
	const char *ssh_key, *known_hosts, *ca_file, *verify_keys;
	char *password; /* read from the file or BERTH_GIT_PASSWORD; wiped by cli_source_opts_free */
} cli_source_opts;

/* The long options (to append to a command's table), ending with a zeroed entry. */
extern const struct option cli_source_options[];
#define CLI_SOURCE_OPTIONS_N 10
/* The option codes cli_source_options uses start here. */
#define CLI_SOURCE_OPT_BASE 400

void cli_source_defaults(cli_source_opts *o); /* from the BERTH_* environment */
/* Takes one option of cli_source_options; false if ch is not one of them. */
bool cli_source_option(cli_source_opts *o, int ch, const char *arg);
/* Reads the password file; then the source configuration for path (the spec PATH when there is
 * no repo). Returns 0, or 1 after printing the problem. */
int cli_source_config(cli_source_opts *o, const char *path, berth_source_config *out);
void cli_source_opts_free(cli_source_opts *o);
/* The first line of a secret's file, without its line end (malloc'd; wipe it); NULL if unreadable.
 * The file's bytes are wiped once read. */
char *cli_read_first_line(const char *file);
/* Help lines for the options. */
void cli_source_usage(FILE *out);

#endif
