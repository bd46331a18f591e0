/* berth plan: load the spec, observe, plan, show (text or JSON), optionally save. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/cli_run.h"
#include "render/render.h"

int cmd_plan(int argc, char **argv)
{
	run_opts o;
	int rc = cli_parse_opts(argc, argv, false, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	cli_spec cs;
	if (cli_load_source(&o, &cs) != 0) {
		cli_source_opts_free(&o.source);
		return 1;
	}
	berth_engine *e = cli_engine_new();
	berth_reconcile_options ro = {.mode = BERTH_MODE_PLAN, .opts = o.opts};
	berth_result r;
	berth_error err = {0};
	int status = 0;
	if (berth_reconcile(e, spec_model(cs.s), &ro, &r, &err) != 0) {
		cli_print_error(&err);
		status = 1;
		goto out;
	}
	json_t *j = cli_plan_json(&cs, &r);
	if (o.json) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else {
		cli_print_source(&cs, stdout);
		plan_render_text(r.plan, stdout, cli_use_color(&o));
	}
	if (o.out_file && json_dump_file(j, o.out_file, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
		fprintf(stderr, "berth plan: cannot write %s\n", o.out_file);
		status = 1;
	} else if (o.out_file && !o.json) {
		printf("\nSaved the plan to %s: apply exactly it with 'berth apply %s'.\n", o.out_file, o.out_file);
	}
	if (status == 0 && o.detailed_exitcode && plan_count(r.plan) > 0)
		status = 2;
	json_decref(j);
out:
	cli_print_stats(e);
	berth_result_free(&r);
	berth_error_clear(&err);
	berth_engine_free(e);
	cli_spec_free(&cs);
	cli_source_opts_free(&o.source);
	return status;
}
