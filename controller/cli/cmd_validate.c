/* berth validate [PATH]: exit 0 when the spec is valid, 1 with one line per problem.
 *
 * Offline by default: secret references are checked for their form, and one whose variable is
 * unset or whose file cannot be read is a warning, so that the command works where the secrets
 * are not (a pre-commit hook, CI for pull requests). --require-secrets makes those errors, as
 * they are for plan and apply. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "spec/spec.h"
#include "cli/cli.h"

static void validate_usage(FILE *out)
{
	fputs("usage: berth validate [--require-secrets | --skip-secret-refs] [-q] [PATH]\n\n"
	      "Checks a desired-state spec: PATH is a YAML file or a directory whose *.yaml files are merged\n"
	      "(default: the current directory). Every problem is reported as FILE:LINE:COL: error: MESSAGE\n"
	      "(or warning:), sorted by file and line. Exit status: 0 valid (warnings allowed), 1 invalid,\n"
	      "2 usage error. An ${env:...} variable that is unset or a ${file:...} that cannot be read is a\n"
	      "warning: plan and apply need them, validate does not.\n\n"
	      "  --require-secrets   make those errors: every secret must be readable here (as for plan)\n"
	      "  --skip-secret-refs  do not look at ${env:...} variables and ${file:...} files at all\n"
	      "  -q, --quiet         print nothing on success\n"
	      "  -h, --help          show this help\n",
	      out);
}

int cmd_validate(int argc, char **argv)
{
	enum { OPT_SKIP = 256, OPT_REQUIRE };
	static const struct option opts[] = {
		{"skip-secret-refs", no_argument, NULL, OPT_SKIP},
		{"require-secrets", no_argument, NULL, OPT_REQUIRE},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	spec_options so = {.secret_refs_warn = true};
	bool require = false;
	int quiet = 0, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_SKIP:
			so.skip_secret_refs = true;
			break;
		case OPT_REQUIRE:
			require = true;
			so.secret_refs_warn = false;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			validate_usage(stdout);
			return 0;
		default:
			validate_usage(stderr);
			return 2;
		}
	}
	if (require && so.skip_secret_refs) {
		fputs("berth validate: --require-secrets and --skip-secret-refs contradict each other\n", stderr);
		validate_usage(stderr);
		return 2;
	}
	if (argc - optind > 1) {
		validate_usage(stderr);
		return 2;
	}
	const char *path = optind < argc ? argv[optind] : ".";
	spec_diags *diags = spec_diags_new();
	spec *s = spec_load(path, &so, diags);
	spec_diags_print(diags, stderr);
	int status = s ? 0 : 1;
	if (s && !quiet) {
		const struct spec_model *m = spec_model(s);
		printf("%s: valid (owner %s: %zu services, %zu container groups, %zu file shares, %zu scale sets, "
		       "%zu Traffic Manager profiles)\n",
		       path, m->name, m->swarm.n_services, m->azure.n_container_groups, m->azure.n_file_shares,
		       m->azure.n_scale_sets, m->azure.n_traffic_managers);
	}
	spec_free(s);
	spec_diags_free(diags);
	return status;
}
