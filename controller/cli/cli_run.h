/* What `berth plan` and `berth apply` share: their options, loading the spec (with its digest),
 * the engine with an event sink that prints today's text, and error output. */
#ifndef BERTH_CLI_RUN_H
#define BERTH_CLI_RUN_H
#include <jansson.h>
#include <stdbool.h>

#include "cli/cli_source.h"
#include "engine/berth.h"

typedef struct run_opts {
	const char *path;
	bool json, detailed_exitcode, no_color, auto_approve, skip_secret_refs;
	const char *out_file;
	berth_options opts;
	cli_source_opts source;
} run_opts;

/* Parses plan's or apply's options. Returns 0, -1 after --help (exit 0), or 2 (usage error). */
int cli_parse_opts(int argc, char **argv, bool is_apply, run_opts *o);

/* A loaded spec with what a saved plan records of it. */
typedef struct cli_spec {
	spec *s;
	char *abs_path; /* realpath of the spec PATH */
	char *digest;   /* "sha256:..." over its files (names relative to PATH) and contents */
	berth_revision rev; /* with --repo: where it came from (repo, ref, revision); else zeroed */
} cli_spec;

/* Loads and validates path, printing problems on stderr. Returns 0 or 1 (the exit status). */
int cli_load_spec(const char *path, bool skip_secret_refs, cli_spec *out);
/* The same for the command's source: with --repo, fetches it first (printing what went wrong). */
int cli_load_source(run_opts *o, cli_spec *out);
/* With --repo, a line naming the source and revision, before the plan's text. */
void cli_print_source(const cli_spec *cs, FILE *out);
void cli_spec_free(cli_spec *cs);

/* The clock: real, or with BERTH_TIME_SCALE=F set F times faster (for tests of rollouts, whose
 * pauses are minutes; the ARM simulator runs its monitor on the same scale). */
const berth_clock *cli_clock(void);
/* Options that come from the environment: BERTH_PROBE_CONNECT_TO (curl CONNECT_TO entries for
 * rollout probes). */
void cli_env_options(berth_options *opts);
/* An engine whose events print as berth always has: step lines on stdout, notes on stderr. */
berth_engine *cli_engine_new(void);
/* Prints a reconcile error: a plan's problems one per line, anything else as "berth: MESSAGE". */
void cli_print_error(const berth_error *err);
/* BERTH_STATS set: what the command cost the engine, on stderr (for benchmarks and tests). */
void cli_print_stats(const berth_engine *e);
/* The plan as JSON with berth's metadata (owner, spec path and digest, observed fingerprint). */
json_t *cli_plan_json(const cli_spec *cs, const berth_result *r);
bool cli_use_color(const run_opts *o);
/* SIGINT and SIGTERM go to handler (NULL: back to the default action). */
void cli_catch_stop_signals(void (*handler)(int));

#endif
