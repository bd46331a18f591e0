/* berth plan and berth apply: load the spec, observe, plan; show; apply. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "spec/spec.h"
#include "cli/cli.h"
#include "transport/docker.h"
#include "core/plan.h"
#include "providers/swarm/swarm.h"
#include "providers/azure/azure.h"

typedef struct {
	const char *path;
	bool json, detailed_exitcode, no_color, allow_mass_delete, auto_approve, skip_secret_refs, resolve_image;
	const char *out_file;
	int parallelism;
	long long timeout_ms;
} run_opts;

typedef struct {
	spec *s;
	docker *d;
	swarm_state st;
	bool observed;
	arm *a;
	azure_state az;
	bool az_observed;
	plan *p;
	char *spec_digest;
	char *fingerprint;
	char *abs_path;
} run;

static void run_free(run *r)
{
	/* For benchmarks and tests: how much the command cost the engine. */
	if (r->d && getenv("BERTH_STATS"))
		fprintf(stderr, "berth: %lu requests to the Docker engine, %lu writes\n", docker_requests(r->d),
			docker_writes(r->d));
	plan_free(r->p);
	if (r->observed)
		swarm_state_free(&r->st);
	if (r->az_observed)
		azure_state_free(&r->az);
	arm_close(r->a);
	docker_close(r->d);
	spec_free(r->s);
	free(r->spec_digest);
	free(r->fingerprint);
	free(r->abs_path);
}

static bool use_color(const run_opts *o)
{
	return !o->no_color && !getenv("NO_COLOR") && isatty(STDOUT_FILENO);
}

/* A digest of the spec's files as read: any edit makes a saved plan stale. */
static char *digest_files(const char *path)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	char **files = NULL;
	size_t nfiles = 0;
	if (spec_list_files(path, &files, &nfiles) == 0) {
		for (size_t i = 0; i < nfiles; i++) {
			EVP_DigestUpdate(ctx, files[i], strlen(files[i]) + 1);
			FILE *f = fopen(files[i], "rb");
			if (f) {
				char buf[8192];
				size_t n;
				while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
					EVP_DigestUpdate(ctx, buf, n);
				fclose(f);
			}
			free(files[i]);
		}
		free(files);
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	char *hex = malloc(8 + 2 * mdlen);
	strcpy(hex, "sha256:");
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* Steps of both providers live in one plan: the payload says whose a step is. */
typedef struct {
	bool azure;
	void *payload;
} step_payload;

static void step_free(void *p)
{
	step_payload *sp = p;
	if (!sp)
		return;
	if (sp->azure)
		azure_step_free(sp->payload);
	else
		swarm_step_free(sp->payload);
	free(sp);
}

static void wrap_payload(plan *p, size_t id, bool azure)
{
	step_payload *sp = calloc(1, sizeof(*sp));
	if (!sp)
		abort();
	sp->azure = azure;
	sp->payload = plan_step_at(p, id)->payload;
	plan_set_payload(p, id, sp);
}

/* Scale-set capacity grows before the swarm services that need it and shrinks after them. */
static void order_capacity(plan *p, size_t swarm_first, const azure_plan_result *az)
{
	for (size_t i = swarm_first; i < plan_count(p); i++) {
		if (strcmp(plan_step_at(p, i)->kind, "service"))
			continue;
		for (size_t u = 0; u < az->n_scale_up; u++)
			plan_add_dep(p, i, az->scale_up[u]);
		for (size_t d = 0; d < az->n_scale_down; d++)
			plan_add_dep(p, az->scale_down[d], i);
	}
}

/* File shares are created before the swarm services whose volumes mount them. */
static void order_shares(plan *p, const struct spec_model *m, size_t swarm_first)
{
	for (size_t i = swarm_first; i < plan_count(p); i++) {
		const plan_step *st = plan_step_at(p, i);
		if (strcmp(st->kind, "service") || st->action == PLAN_DELETE)
			continue;
		for (size_t s = 0; s < m->swarm.n_services; s++) {
			const spec_service *svc = &m->swarm.services[s];
			if (strcmp(svc->name, st->name))
				continue;
			for (size_t v = 0; v < svc->n_volumes; v++)
				for (size_t k = 0; k < m->swarm.n_volumes; k++) {
					const spec_volume *vol = &m->swarm.volumes[k];
					if (!vol->file_share || !svc->volumes[v].source || strcmp(vol->name, svc->volumes[v].source))
						continue;
					for (size_t j = 0; j < swarm_first; j++) {
						const plan_step *a = plan_step_at(p, j);
						if (!strcmp(a->kind, "file share") && !strcmp(a->name, vol->file_share) &&
						    a->action == PLAN_CREATE)
							plan_add_dep(p, i, j);
					}
				}
		}
	}
}

/* The storage key for an Azure File share volume, fetched when a service that mounts it is
 * created or updated. */
static int fetch_storage_key(void *arg, const char *account, char **key, char **err)
{
	run *r = arg;
	const struct spec_model *m = spec_model(r->s);
	char *path = NULL;
	if (asprintf(&path, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s/listKeys",
		     m->azure.subscription, m->azure.resource_group, account) < 0)
		abort();
	arm_response resp;
	int rc = arm_request(r->a, "POST", path, ARM_API_STORAGE, NULL, &resp, err);
	free(path);
	const char *value = json_string_value(json_object_get(json_array_get(json_object_get(resp.body, "keys"), 0), "value"));
	if (rc == 0 && !value) {
		if (asprintf(err, "storage account %s: listKeys returned no key", account) < 0)
			abort();
		rc = -1;
	}
	if (rc == 0)
		*key = strdup(value);
	arm_response_free(&resp);
	return rc;
}

static void print_problems(const char *err)
{
	fprintf(stderr, "berth: the plan cannot be made:\n");
	char *copy = strdup(err);
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "  error: %s\n", line);
	free(copy);
}

static void arm_log(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "berth: azure: %s\n", line);
}

/* The Azure section: connect, observe, plan. */
static int plan_azure(const run_opts *o, run *r, char **fingerprint, azure_plan_result *res)
{
	(void)o;
	const struct spec_model *m = spec_model(r->s);
	const spec_azure *az = &m->azure;
	if (!az->n_scale_sets && !az->n_file_shares && !az->n_container_groups && !az->n_traffic_managers)
		return 0;
	arm_config cfg = {.resource_manager = az->resource_manager_endpoint,
			  .active_directory = az->active_directory_endpoint};
	cfg.hooks.log = arm_log;
	char *err = NULL;
	r->a = arm_open(&cfg, &err);
	if (!r->a) {
		fprintf(stderr, "berth: %s\n", err);
		free(err);
		return 1;
	}
	fprintf(stderr, "berth: Azure credential: %s\n", arm_credential_name(r->a));
	if (azure_observe(r->a, m, &r->az, &err) != 0) {
		fprintf(stderr, "berth: %s\n", err);
		free(err);
		return 1;
	}
	r->az_observed = true;
	*fingerprint = azure_fingerprint(&r->az);
	size_t first = plan_count(r->p);
	if (azure_plan(m, &r->az, r->p, res, &err) != 0) {
		print_problems(err);
		free(err);
		return 1;
	}
	for (size_t i = first; i < plan_count(r->p); i++)
		wrap_payload(r->p, i, true);
	return 0;
}

/* --resolve-image: ask the engine for each tag's current digest, briefly. The engine asks the
 * registry, which may be slow or unreachable: a failure leaves the tag as it is, with a warning. */
#define RESOLVE_TIMEOUT_MS 3000
static char **resolve_images(docker *d, const struct spec_model *m)
{
	char **digests = calloc(m->swarm.n_services + 1, sizeof(char *));
	for (size_t i = 0; i < m->swarm.n_services; i++) {
		const char *image = m->swarm.services[i].image;
		if (strchr(image, '@'))
			continue;
		char *path = NULL, *err = NULL;
		if (asprintf(&path, "/distribution/%s/json", image) < 0)
			abort();
		long status = 0;
		json_t *resp = NULL;
		if (docker_request_timeout(d, RESOLVE_TIMEOUT_MS, "GET", path, NULL, &status, &resp, &err) == 0 && status == 200) {
			const char *digest = json_string_value(json_object_get(json_object_get(resp, "Descriptor"), "digest"));
			if (digest)
				digests[i] = strdup(digest);
		}
		if (!digests[i])
			fprintf(stderr, "berth: warning: cannot resolve %s to a digest (%s); planning with the tag\n", image,
				err ? err : "no digest in the answer");
		free(err);
		free(path);
		json_decref(resp);
	}
	return digests;
}

/* Loads, observes and plans. Prints problems on stderr; returns 0 or 1 (the exit status). */
static int prepare(const run_opts *o, run *r)
{
	spec_diags *diags = spec_diags_new();
	spec_options so = {.skip_secret_refs = o->skip_secret_refs};
	r->s = spec_load(o->path, &so, diags);
	spec_diags_print(diags, stderr);
	spec_diags_free(diags);
	if (!r->s)
		return 1;
	r->abs_path = realpath(o->path, NULL);
	r->spec_digest = digest_files(o->path);
	const struct spec_model *m = spec_model(r->s);
	r->p = plan_new(step_free);
	char *az_fingerprint = NULL;
	azure_plan_result azres = {0};
	if (m->azure.present && plan_azure(o, r, &az_fingerprint, &azres) != 0) {
		free(az_fingerprint);
		azure_plan_result_free(&azres);
		return 1;
	}
	if (!m->swarm.present) {
		/* No swarm section: berth leaves the swarm alone (absence never means "delete"). */
		r->fingerprint = az_fingerprint ? az_fingerprint : strdup("none");
		azure_plan_result_free(&azres);
		return 0;
	}
	docker_config cfg;
	docker_config_init(&cfg, m->swarm.endpoint, m->swarm.tls_ca, m->swarm.tls_cert, m->swarm.tls_key);
	char *err = NULL;
	r->d = docker_open(&cfg, &err);
	if (!r->d) {
		fprintf(stderr, "berth: %s\n", err);
		free(err);
		return 1;
	}
	if (swarm_observe(r->d, &r->st, &err) != 0) {
		fprintf(stderr, "berth: %s\n", err);
		free(err);
		return 1;
	}
	r->observed = true;
	char *sw_fingerprint = swarm_fingerprint(&r->st);
	if (az_fingerprint) {
		if (asprintf(&r->fingerprint, "%s+%s", sw_fingerprint, az_fingerprint) < 0)
			abort();
		free(sw_fingerprint);
		free(az_fingerprint);
	} else {
		r->fingerprint = sw_fingerprint;
	}
	size_t swarm_first = plan_count(r->p);
	char **digests = o->resolve_image ? resolve_images(r->d, m) : NULL;
	swarm_plan_options po = {.allow_mass_delete = o->allow_mass_delete,
				 .image_digests = (const char *const *)digests};
	int prc = swarm_plan(m, &r->st, &po, r->p, &err);
	for (size_t i = swarm_first; i < plan_count(r->p); i++)
		wrap_payload(r->p, i, false);
	for (size_t i = 0; digests && i < m->swarm.n_services; i++)
		free(digests[i]);
	free(digests);
	if (prc == 0) {
		order_capacity(r->p, swarm_first, &azres);
		order_shares(r->p, m, swarm_first);
	}
	azure_plan_result_free(&azres);
	if (prc != 0) {
		print_problems(err);
		free(err);
		return 1;
	}
	return 0;
}

static json_t *plan_json(const run *r)
{
	json_t *meta = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}}", "owner", spec_model(r->s)->name, "spec", "path",
				 r->abs_path ? r->abs_path : "", "digest", r->spec_digest, "observed", "fingerprint",
				 r->fingerprint);
	json_t *j = plan_to_json(r->p, meta);
	json_decref(meta);
	return j;
}

static void common_usage(FILE *out)
{
	fputs("  --allow-mass-delete   allow a plan that deletes more than 5 objects and more than 25% of what\n"
	      "                        berth owns\n"
	      "  --skip-secret-refs    (plan only) do not require ${env:...}/${file:...} values\n"
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
	      "  --detailed-exitcode   exit 0 when there are no changes, 2 when there are, 1 on error\n",
	      out);
	common_usage(out);
}

static void apply_usage(FILE *out)
{
	fputs("usage: berth apply [--auto-approve] [--parallelism N] [--timeout DURATION] [PATH | PLANFILE]\n\n"
	      "Plans, shows the plan, and applies it after confirmation (typing 'yes' on a terminal, or\n"
	      "--auto-approve). Given a plan saved with 'berth plan --out', applies exactly that plan and\n"
	      "refuses if the spec or the live state changed since it was made. Exit 0 only if every step\n"
	      "converged.\n\n"
	      "  --auto-approve        do not ask for confirmation\n"
	      "  --parallelism N       independent steps run at once (default 8)\n"
	      "  --timeout DURATION    how long a service may take to converge (default 2m)\n",
	      out);
	common_usage(out);
}

enum { OPT_JSON = 256, OPT_OUT, OPT_DETAILED, OPT_NO_COLOR, OPT_MASS, OPT_AUTO, OPT_PAR, OPT_TIMEOUT, OPT_SKIP, OPT_RESOLVE };

static int parse_opts(int argc, char **argv, bool is_apply, run_opts *o)
{
	static const struct option opts[] = {
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
		{NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof(*o));
	o->parallelism = 8;
	o->timeout_ms = 120000;
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
		switch (ch) {
		case OPT_JSON: o->json = true; break;
		case OPT_OUT: o->out_file = optarg; break;
		case OPT_DETAILED: o->detailed_exitcode = true; break;
		case OPT_NO_COLOR: o->no_color = true; break;
		case OPT_MASS: o->allow_mass_delete = true; break;
		case OPT_AUTO: o->auto_approve = true; break;
		case OPT_SKIP: o->skip_secret_refs = true; break;
		case OPT_RESOLVE: o->resolve_image = true; break;
		case OPT_PAR:
			o->parallelism = atoi(optarg);
			if (o->parallelism < 1 || o->parallelism > 256) {
				fprintf(stderr, "berth apply: --parallelism must be between 1 and 256\n");
				return 2;
			}
			break;
		case OPT_TIMEOUT: {
			int64_t ns;
			if (!spec_parse_duration(optarg, &ns) || ns <= 0) {
				fprintf(stderr, "berth apply: --timeout takes a duration like 90s or 5m\n");
				return 2;
			}
			o->timeout_ms = ns / 1000000;
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
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	run_opts o;
	int rc = parse_opts(argc, argv, false, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	run r = {0};
	if (prepare(&o, &r) != 0) {
		run_free(&r);
		return 1;
	}
	json_t *j = plan_json(&r);
	if (o.json) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else {
		plan_render_text(r.p, stdout, use_color(&o));
	}
	int status = 0;
	if (o.out_file && json_dump_file(j, o.out_file, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
		fprintf(stderr, "berth plan: cannot write %s\n", o.out_file);
		status = 1;
	} else if (o.out_file && !o.json) {
		printf("\nSaved the plan to %s: apply exactly it with 'berth apply %s'.\n", o.out_file, o.out_file);
	}
	if (status == 0 && o.detailed_exitcode && plan_count(r.p) > 0)
		status = 2;
	json_decref(j);
	run_free(&r);
	return status;
}

typedef struct {
	FILE *out;
} progress_sink;

static void on_progress(void *arg, const char *line)
{
	progress_sink *p = arg;
	fprintf(p->out, "  %s\n", line);
	fflush(p->out);
}

/* Wraps the provider's apply to print a line per step as it starts and ends. */
typedef struct {
	swarm_apply_ctx swarm;
	azure_apply_ctx azure;
	FILE *out;
} apply_ctx;

static int apply_one(void *arg, const plan_step *s, char **err)
{
	apply_ctx *a = arg;
	fprintf(a->out, "%s %s %s...\n", plan_action_name(s->action), s->kind, s->name);
	fflush(a->out);
	const step_payload *sp = s->payload;
	plan_step inner = *s;
	inner.payload = sp->payload;
	int rc = sp->azure ? azure_apply_step(&a->azure, &inner, err) : swarm_apply_step(&a->swarm, &inner, err);
	if (rc == 0)
		fprintf(a->out, "%s %s %s: done\n", plan_action_name(s->action), s->kind, s->name);
	else
		fprintf(a->out, "%s %s %s: FAILED: %s\n", plan_action_name(s->action), s->kind, s->name, *err ? *err : "");
	fflush(a->out);
	return rc;
}

/* A saved plan is a JSON file written by 'berth plan --out'. */
static json_t *load_saved_plan(const char *path)
{
	size_t len = strlen(path);
	if (len < 5 || strcmp(path + len - 5, ".json"))
		return NULL;
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (j && !json_object_get(j, "observed")) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int cmd_apply(int argc, char **argv)
{
	run_opts o;
	int rc = parse_opts(argc, argv, true, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	json_t *saved = load_saved_plan(o.path);
	if (saved) {
		const char *spec_path = json_string_value(json_object_get(json_object_get(saved, "spec"), "path"));
		if (!spec_path) {
			fprintf(stderr, "berth apply: %s is not a berth plan\n", o.path);
			json_decref(saved);
			return 1;
		}
		o.path = strdup(spec_path);
		o.auto_approve = true; /* the saved plan was reviewed when it was made */
	}
	run r = {0};
	if (prepare(&o, &r) != 0) {
		run_free(&r);
		json_decref(saved);
		return 1;
	}
	json_t *j = plan_json(&r);
	if (saved) {
		json_t *a = json_object_get(saved, "steps"), *b = json_object_get(j, "steps");
		const char *why = NULL;
		if (strcmp(json_string_value(json_object_get(json_object_get(saved, "spec"), "digest")), r.spec_digest))
			why = "the spec changed since the plan was made";
		else if (strcmp(json_string_value(json_object_get(json_object_get(saved, "observed"), "fingerprint")),
				r.fingerprint))
			why = "the live state changed since the plan was made";
		else if (!json_equal(a, b))
			why = "the plan made now differs from the saved one";
		if (why) {
			fprintf(stderr, "berth apply: plan is stale: %s; run 'berth plan' again\n", why);
			json_decref(j);
			json_decref(saved);
			free((char *)o.path);
			run_free(&r);
			return 1;
		}
	}
	plan_render_text(r.p, stdout, use_color(&o));
	json_decref(j);
	int status = 0;
	if (plan_count(r.p) == 0)
		goto out;
	if (!o.auto_approve) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "berth apply: not applying: confirm on a terminal, or pass --auto-approve\n");
			status = 1;
			goto out;
		}
		printf("\nApply these changes? Only 'yes' will be accepted: ");
		fflush(stdout);
		char answer[16] = "";
		if (!fgets(answer, sizeof(answer), stdin) || strcmp(answer, "yes\n")) {
			printf("Apply cancelled.\n");
			status = 1;
			goto out;
		}
	}
	printf("\n");
	progress_sink sink = {stdout};
	apply_ctx a = {.swarm = {.d = r.d, .m = spec_model(r.s), .converge_timeout_ms = o.timeout_ms,
				 .progress = on_progress, .progress_arg = &sink,
				 .storage_key = r.a ? fetch_storage_key : NULL, .storage_key_arg = &r},
		       .azure = {.a = r.a, .m = spec_model(r.s)},
		       .out = stdout};
	plan_summary sum;
	rc = plan_execute(r.p, o.parallelism, apply_one, &a, &sum);
	for (size_t i = 0; i < plan_count(r.p); i++) {
		const plan_step *s = plan_step_at(r.p, i);
		if (s->status == STEP_SKIPPED)
			printf("%s %s %s: %s\n", plan_action_name(s->action), s->kind, s->name, s->error);
	}
	printf("\nApply %s: %zu done, %zu failed, %zu skipped.\n", rc == 0 ? "complete" : "failed", sum.done, sum.failed,
	       sum.skipped);
	status = rc == 0 ? 0 : 1;
out:
	if (saved) {
		json_decref(saved);
		free((char *)o.path);
	}
	run_free(&r);
	return status;
}
