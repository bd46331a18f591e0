/* berth apply: plan (or take a saved plan), show it, confirm, apply in dependency order.
 *
 * SIGINT and SIGTERM cancel the engine: no step starts any more, the step in flight stops
 * waiting (its convergence, operation or transfer) and berth exits 1 saying what was done; the
 * next run observes whatever was left and carries on. A second signal exits at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_run.h"
#include "cli/saved_plan.h"
#include "render/render.h"

typedef struct {
	const run_opts *o;
	const cli_spec *cs;
	saved_plan *saved; /* NULL: planning afresh */
	int status;        /* the exit status when the gate stops the apply */
} gate_ctx;

static berth_engine *signal_engine;

static void on_signal(int sig)
{
	static const char msg[] = "\nberth: interrupted: no more steps start; the one in flight stops waiting "
				  "(again to exit at once)\n";
	/* The second signal takes the default action: the process ends now. */
	signal(sig, SIG_DFL);
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	berth_engine_cancel(signal_engine); /* async-signal-safe */
}

static void catch_signals(berth_engine *e)
{
	signal_engine = e;
	cli_catch_stop_signals(on_signal);
}

/* Runs between planning and applying: the saved plan's staleness, the plan shown, confirmation. */
static int gate(void *arg, const berth_result *planned, berth_error *err)
{
	gate_ctx *g = arg;
	if (g->saved) {
		json_t *now = cli_plan_json(g->cs, planned);
		const char *why = saved_plan_stale(g->saved, g->cs->digest, planned->fingerprint, now);
		json_decref(now);
		if (why) {
			g->status = 1;
			return berth_error_set(err, BERTH_ESTALE, "berth apply: plan is stale: %s; run 'berth plan' again", why);
		}
	}
	cli_print_source(g->cs, stdout);
	plan_render_text(planned->plan, stdout, cli_use_color(g->o));
	if (plan_count(planned->plan) == 0)
		return 0;
	if (!g->o->auto_approve && !g->saved) {
		if (!isatty(STDIN_FILENO)) {
			g->status = 1;
			return berth_error_set(err, BERTH_EINVALID,
					       "berth apply: not applying: confirm on a terminal, or pass --auto-approve");
		}
		printf("\nApply these changes? Only 'yes' will be accepted: ");
		fflush(stdout);
		char answer[16] = "";
		if (!fgets(answer, sizeof(answer), stdin) || strcmp(answer, "yes\n")) {
			printf("Apply cancelled.\n");
			g->status = 1;
			return BERTH_ECANCELED; /* no message: the line above says it */
		}
	}
	printf("\n");
	fflush(stdout);
	/* From here on a signal stops the apply cleanly instead of killing berth mid-request. */
	catch_signals(signal_engine);
	return 0;
}

int cmd_apply(int argc, char **argv)
{
	run_opts o;
	int rc = cli_parse_opts(argc, argv, true, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	saved_plan *saved = NULL;
	char *perr = NULL;
	switch (saved_plan_read(o.path, &saved, &perr)) {
	case SAVED_PLAN_NOT_A_PLAN:
		break;
	case SAVED_PLAN_OK:
		/* The saved plan was reviewed when it was made, from the checkout it names. */
		o.path = saved_plan_spec_path(saved);
		o.source.repo = NULL;
		break;
	default:
		fprintf(stderr, "berth apply: %s\n", perr);
		free(perr);
		return 1;
	}
	cli_spec cs;
	o.skip_secret_refs = false;
	if (cli_load_source(&o, &cs) != 0) {
		saved_plan_free(saved);
		cli_source_opts_free(&o.source);
		return 1;
	}
	berth_engine *e = cli_engine_new();
	signal_engine = e;
	gate_ctx g = {.o = &o, .cs = &cs, .saved = saved};
	berth_reconcile_options ro = {.mode = BERTH_MODE_APPLY, .opts = o.opts, .gate = gate, .gate_ctx = &g};
	berth_result r;
	berth_error err = {0};
	rc = berth_reconcile(e, spec_model(cs.s), &ro, &r, &err);
	int status = 0;
	if (r.applied) {
		const char *how = rc == 0 ? "complete" : rc == BERTH_ECANCELED ? "interrupted" : "failed";
		printf("\nApply %s: %zu done, %zu failed, %zu skipped.\n", how, r.summary.done, r.summary.failed,
		       r.summary.skipped);
		status = rc == 0 ? 0 : 1;
	} else if (rc != 0) {
		if (g.status == 0)
			cli_print_error(&err);
		else if (err.message)
			fprintf(stderr, "%s\n", err.message);
		status = 1;
	}
	cli_catch_stop_signals(NULL);
	cli_print_stats(e);
	berth_result_free(&r);
	berth_error_clear(&err);
	berth_engine_free(e);
	cli_spec_free(&cs);
	saved_plan_free(saved);
	cli_source_opts_free(&o.source);
	return status;
}
