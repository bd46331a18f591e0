/* Options, spec loading, the event sink and error output of `berth plan` and `berth apply`. */
#include <getopt.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_run.h"
#include "core/digest.h"
#include "core/util.h"
#include "render/render.h"

static void common_usage(FILE *out)
{
	fputs("  --allow-mass-delete   allow a plan that deletes more than 5 objects and more than 25% of what\n"
	      "                        berth owns\n"
	      "  --resolve-image       pin each image tag to the digest the engine resolves now (3 s per image;\n"
	      "                        on failure the tag is kept, with a warning)\n"
	      "  --no-color            no ANSI colours (also: NO_COLOR set, or output not a terminal)\n"
	      "  -h, --help            show this help\n",
	      out);
}

static void plan_usage(FILE *out)
{
	fputs("usage: berth plan [--json] [--out FILE] [--detailed-exitcode] [PATH]\n\n"
	      "Shows what apply would change to make the live state match the spec at PATH (a YAML file or a\n"
	      "directory of them; default: the current directory). Changes nothing.\n\n"
	      "  --json                the plan as JSON (docs/plan-json.md) instead of text\n"
	      "  --out FILE            also save the plan, for 'berth apply FILE'\n"
	      "  --detailed-exitcode   exit 0 when there are no changes, 2 when there are, 1 on error\n"
	      "  --skip-secret-refs    do not require ${env:...}/${file:...} values (the plan cannot be applied)\n",
	      out);
	common_usage(out);
	cli_source_usage(out);
}

static void apply_usage(FILE *out)
{
	fputs("usage: berth apply [--auto-approve] [--parallelism N] [--timeout DURATION] [PATH | PLANFILE]\n\n"
	      "Plans, shows the plan, and applies it after confirmation (typing 'yes' on a terminal, or\n"
	      "--auto-approve). Given a plan saved with 'berth plan --out', applies exactly that plan and\n"
	      "refuses if the spec or the live state changed since it was made. Exit 0 only if every step\n"
	      "converged. SIGINT or SIGTERM stops it cleanly: no further step starts, the step in flight\n"
	      "stops waiting, and berth exits 1 with what was done (a second signal exits at once).\n\n"
	      "  --auto-approve        do not ask for confirmation\n"
	      "  --parallelism N       independent steps run at once (default 8)\n"
	      "  --timeout DURATION    how long a service may take to converge (default 2m)\n",
	      out);
	common_usage(out);
	cli_source_usage(out);
}

enum { OPT_JSON = 256, OPT_OUT, OPT_DETAILED, OPT_NO_COLOR, OPT_MASS, OPT_AUTO, OPT_PAR, OPT_TIMEOUT, OPT_SKIP, OPT_RESOLVE };

int cli_parse_opts(int argc, char **argv, bool is_apply, run_opts *o)
{
	static const struct option own[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"out", required_argument, NULL, OPT_OUT},
		{"detailed-exitcode", no_argument, NULL, OPT_DETAILED},
		{"no-color", no_argument, NULL, OPT_NO_COLOR},
		{"allow-mass-delete", no_argument, NULL, OPT_MASS},
		{"auto-approve", no_argument, NULL, OPT_AUTO},
		{"parallelism", required_argument, NULL, OPT_PAR},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"skip-secret-refs", no_argument, NULL, OPT_SKIP},
		{"resolve-image", no_argument, NULL, OPT_RESOLVE},
		{"help", no_argument, NULL, 'h'},
	};
	struct option opts[sizeof(own) / sizeof(own[0]) + CLI_SOURCE_OPTIONS_N + 1];
	memcpy(opts, own, sizeof(own));
	memcpy(opts + sizeof(own) / sizeof(own[0]), cli_source_options, (CLI_SOURCE_OPTIONS_N + 1) * sizeof(struct option));
	memset(o, 0, sizeof(*o));
	cli_source_defaults(&o->source);
	o->opts.parallelism = 8;
	o->opts.converge_timeout_s = 120;
	o->opts.rollout_wait = is_apply;
	cli_env_options(&o->opts);
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool plan_only = ch == OPT_JSON || ch == OPT_OUT || ch == OPT_DETAILED || ch == OPT_SKIP;
		bool apply_only = ch == OPT_AUTO || ch == OPT_PAR || ch == OPT_TIMEOUT;
		if ((is_apply && plan_only) || (!is_apply && apply_only)) {
			fprintf(stderr, "berth %s: option '%s' is not for this command\n", is_apply ? "apply" : "plan",
				argv[optind - 1]);
			return 2;
		}
		if (cli_source_option(&o->source, ch, optarg))
			continue;
		switch (ch) {
		case OPT_JSON: o->json = true; break;
		case OPT_OUT: o->out_file = optarg; break;
		case OPT_DETAILED: o->detailed_exitcode = true; break;
		case OPT_NO_COLOR: o->no_color = true; break;
		case OPT_MASS: o->opts.allow_mass_delete = true; break;
		case OPT_AUTO: o->auto_approve = true; break;
		case OPT_SKIP: o->skip_secret_refs = true; break;
		case OPT_RESOLVE: o->opts.resolve_image = true; break;
		case OPT_PAR: {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 1 || n > 256) {
				fprintf(stderr, "berth apply: --parallelism must be between 1 and 256\n");
				return 2;
			}
			o->opts.parallelism = (int)n;
			break;
		}
		case OPT_TIMEOUT: {
			int64_t ns;
			if (!spec_parse_duration(optarg, &ns) || ns <= 0) {
				fprintf(stderr, "berth apply: --timeout takes a duration like 90s or 5m\n");
				return 2;
			}
			o->opts.converge_timeout_s = (double)ns / 1e9;
			break;
		}
		case 'h':
			(is_apply ? apply_usage : plan_usage)(stdout);
			return -1;
		default:
			(is_apply ? apply_usage : plan_usage)(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		(is_apply ? apply_usage : plan_usage)(stderr);
		return 2;
	}
	o->path = optind < argc ? argv[optind] : ".";
	if (o->source.repo && optind < argc && !is_apply) {
		fprintf(stderr, "berth plan: PATH and --repo exclude each other (--path DIR names the spec inside the repository)\n");
		return 2;
	}
	return 0;
}

bool cli_use_color(const run_opts *o)
{
	return !o->no_color && !getenv("NO_COLOR") && isatty(STDOUT_FILENO);
}

/* A digest of the spec's files as read: any edit makes a saved plan stale. File names count
 * relative to PATH, so the same spec typed as "deploy" or "/srv/deploy" digests the same. */
static char *digest_files(const char *path)
{
	berth_sha256 *h = berth_sha256_new();
	char **files = NULL;
	size_t nfiles = 0, plen = strlen(path);
	if (spec_list_files(path, &files, &nfiles) == 0) {
		for (size_t i = 0; i < nfiles; i++) {
			const char *rel = strncmp(files[i], path, plen) ? files[i] : files[i] + plen;
			while (*rel == '/')
				rel++;
			berth_sha256_update(h, rel, strlen(rel) + 1);
			size_t len = 0;
			char *data = spec_read_file(files[i], (size_t)1 << 30, &len);
			if (data)
				berth_sha256_update(h, data, len);
			free(data);
			free(files[i]);
		}
		free(files);
	}
	char hex[BERTH_SHA256_HEX];
	berth_sha256_final_hex(h, hex);
	return xasprintf("sha256:%s", hex);
}

int cli_load_spec(const char *path, bool skip_secret_refs, cli_spec *out)
{
	memset(out, 0, sizeof(*out));
	spec_diags *diags = spec_diags_new();
	spec_options so = {.skip_secret_refs = skip_secret_refs};
	out->s = spec_load(path, &so, diags);
	spec_diags_print(diags, stderr);
	spec_diags_free(diags);
	if (!out->s)
		return 1;
	out->abs_path = realpath(path, NULL);
	out->digest = digest_files(path);
	return 0;
}

int cli_load_source(run_opts *o, cli_spec *out)
{
	memset(out, 0, sizeof(*out));
	if (!o->source.repo)
		return cli_load_spec(o->path, o->skip_secret_refs, out);
	berth_source_config sc;
	if (cli_source_config(&o->source, o->path, &sc) != 0)
		return 1;
	berth_source *src = NULL;
	berth_error err = {0};
	berth_revision rev = {0};
	if (berth_source_open(&sc, &src, &err) != 0 || berth_source_fetch(src, &rev, &err) != 0) {
		fprintf(stderr, "berth: %s\n", err.message ? err.message : berth_error_code_name(err.code));
		berth_error_clear(&err);
		berth_source_free(src);
		return 1;
	}
	berth_source_free(src);
	int rc = cli_load_spec(rev.spec_path, o->skip_secret_refs, out);
	out->rev = rev;
	return rc;
}

void cli_print_source(const cli_spec *cs, FILE *out)
{
	if (cs->rev.revision && cs->rev.repo)
		fprintf(out, "Source: %s (ref %s) at revision %s\n\n", cs->rev.repo, cs->rev.ref ? cs->rev.ref : "main",
			cs->rev.revision);
}

void cli_spec_free(cli_spec *cs)
{
	berth_revision_free(&cs->rev);
	spec_free(cs->s);
	free(cs->abs_path);
	free(cs->digest);
	memset(cs, 0, sizeof(*cs));
}

/* ---- events as text ---- */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void print_event(void *ctx, const berth_event *ev)
{
	(void)ctx;
	const plan_step *s = ev->step;
	const char *action = s ? plan_action_name(plan_step_action(s)) : "";
	const char *kind = s ? plan_step_kind(s) : "", *name = s ? plan_step_name(s) : "";
	const char *why = ev->error && ev->error->message ? ev->error->message : "";
	/* One lock, so lines from parallel steps never interleave within a line. */
	pthread_mutex_lock(&out_mu);
	switch (ev->kind) {
	case BERTH_EV_INFO: fprintf(stderr, "berth: %s\n", ev->message); break;
	case BERTH_EV_WARNING: fprintf(stderr, "berth: warning: %s\n", ev->message); break;
	case BERTH_EV_TRANSPORT: fprintf(stderr, "berth: azure: %s\n", ev->message); break;
	case BERTH_EV_STEP_START: printf("%s %s %s...\n", action, kind, name); break;
	case BERTH_EV_STEP_PROGRESS: printf("  %s\n", ev->message); break;
	case BERTH_EV_STEP_DONE: printf("%s %s %s: done\n", action, kind, name); break;
	case BERTH_EV_STEP_FAILED: printf("%s %s %s: FAILED: %s\n", action, kind, name, why); break;
	case BERTH_EV_STEP_SKIPPED: printf("%s %s %s: %s\n", action, kind, name, why); break;
	case BERTH_EV_PLAN_READY:
	case BERTH_EV_APPLIED:
	case BERTH_EV_ROLLOUT: break;
	}
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

const berth_clock *cli_clock(void)
{
	const char *scale = getenv("BERTH_TIME_SCALE");
	static const berth_clock *scaled;
	if (!scale || !*scale)
		return berth_clock_real();
	if (!scaled) {
		double f = strtod(scale, NULL);
		scaled = f > 0 ? berth_clock_scaled(f) : berth_clock_real();
	}
	return scaled;
}

void cli_env_options(berth_options *opts)
{
	const char *to = getenv("BERTH_PROBE_CONNECT_TO");
	if (to && *to)
		opts->probe_connect_to = to;
}

berth_engine *cli_engine_new(void)
{
	berth_engine_config cfg = {.events = {.fn = print_event}, .clock = cli_clock()};
	return berth_engine_new(&cfg);
}

void cli_print_error(const berth_error *err)
{
	const char *msg = err->message ? err->message : berth_error_code_name(err->code);
	if (err->code != BERTH_EPLAN) {
		fprintf(stderr, "berth: %s\n", msg);
		return;
	}
	fprintf(stderr, "berth: the plan cannot be made:\n");
	for (const char *line = msg; *line;) {
		size_t len = strcspn(line, "\n");
		if (len)
			fprintf(stderr, "  error: %.*s\n", (int)len, line);
		line += len;
		if (*line == '\n')
			line++;
	}
}

void cli_print_stats(const berth_engine *e)
{
	if (!getenv("BERTH_STATS"))
		return;
	berth_engine_stats st;
	berth_engine_get_stats(e, &st);
	if (st.docker_requests == 0)
		return; /* no Docker engine was talked to */
	fprintf(stderr, "berth: %lu requests to the Docker engine, %lu writes\n", st.docker_requests, st.docker_writes);
}

json_t *cli_plan_json(const cli_spec *cs, const berth_result *r)
{
	json_t *meta = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "owner", spec_model(cs->s)->name, "spec", "path",
				 cs->abs_path ? cs->abs_path : "", "digest", cs->digest, "observed", "fingerprint",
				 r->fingerprint ? r->fingerprint : "");
	if (cs->rev.repo)
		json_object_set_new(meta, "source", json_pack("{s:s, s:s, s:s}", "repo", cs->rev.repo, "ref",
							      cs->rev.ref ? cs->rev.ref : "main", "revision", cs->rev.revision));
	json_t *j = plan_to_json(r->plan, meta);
	json_decref(meta);
	return j;
}

void cli_catch_stop_signals(void (*handler)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler ? handler : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
