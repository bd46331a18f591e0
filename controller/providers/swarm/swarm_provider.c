/* The swarm provider behind the provider interface: observe (swarm_observe.c, and --resolve-image's
 * digests), diff (swarm_diff.c) plus the references other providers' steps are ordered by, and
 * apply (swarm_apply.c) with the engine's clock, cancellation, progress events and the storage
 * keys of Azure File share volumes.
 *
 * References: every service step needs "capacity swarm" (it runs after capacity grows and before
 * it shrinks); a service that mounts an Azure File share needs "fileshare <account>/<share>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/provider.h"
#include "core/util.h"
#include "providers/swarm/swarm.h"
#include "providers/swarm/swarm_step.h"
#include "transport/arm_storage.h"
#include "transport/azure_auth.h"

/* --resolve-image asks the engine for each tag's digest, and the engine asks the registry, which
 * may be slow or unreachable: a short bound, and a failure keeps the tag, with a warning. */
#define RESOLVE_TIMEOUT_MS 3000

typedef struct {
	swarm_state st;
	char **digests; /* per service of the spec (--resolve-image), or NULL */
	size_t n_digests;
} swarm_observed;

static bool swarm_wants(const struct spec_model *m)
{
	return m->swarm.present;
}

static bool mounts_file_share(const struct spec_model *m)
{
	for (size_t i = 0; i < m->swarm.n_volumes; i++)
		if (m->swarm.volumes[i].file_share)
			return true;
	return false;
}

static unsigned swarm_needs(const struct spec_model *m)
{
	/* The storage keys of Azure File share volumes come from ARM, at apply time. */
	return BERTH_NEEDS_DOCKER | (mounts_file_share(m) && m->azure.present ? BERTH_NEEDS_ARM : 0);
}

static void swarm_observed_free(void *o)
{
	swarm_observed *so = o;
	if (!so)
		return;
	swarm_state_free(&so->st);
	for (size_t i = 0; i < so->n_digests; i++)
		free(so->digests[i]);
	free(so->digests);
	free(so);
}

static char **resolve_images(const berth_env *env, const struct spec_model *m)
{
	char **digests = xcalloc(m->swarm.n_services + 1, sizeof(char *));
	for (size_t i = 0; i < m->swarm.n_services; i++) {
		const char *image = m->swarm.services[i].image;
		if (strchr(image, '@'))
			continue;
		char *path = xasprintf("/distribution/%s/json", image), *err = NULL;
		long status = 0;
		json_t *resp = NULL;
		if (docker_request_timeout(env->docker, RESOLVE_TIMEOUT_MS, "GET", path, NULL, &status, &resp, &err) == 0) {
			const char *digest = json_string_value(json_object_get(json_object_get(resp, "Descriptor"), "digest"));
			if (digest)
				digests[i] = xstrdup(digest);
		}
		if (!digests[i])
			berth_emitf(env->events, BERTH_EV_WARNING, NULL, NULL,
				    "cannot resolve %s to a digest (%s); planning with the tag", image,
				    err ? err : "no digest in the answer");
		free(err);
		free(path);
		json_decref(resp);
	}
	return digests;
}

static int swarm_provider_observe(const berth_env *env, const struct spec_model *m, void **observed, bool *complete,
				  berth_error *err)
{
	swarm_observed *o = xcalloc(1, sizeof(*o));
	char *msg = NULL;
	if (swarm_observe(env->docker, &o->st, &msg) != 0) {
		free(o);
		return berth_error_take(err, berth_cancel_fired(env->cancel) ? BERTH_ECANCELED : BERTH_EUNREACHABLE, msg);
	}
	if (env->opts && env->opts->status_detail)
		swarm_observe_nodes(env->docker, &o->st);
	swarm_observe_usage(env->docker, m, &o->st);
	if (env->opts && env->opts->resolve_image) {
		o->digests = resolve_images(env, m);
		o->n_digests = m->swarm.n_services;
	}
	*observed = o;
	*complete = true;
	return 0;
}

static char *swarm_provider_fingerprint(const void *observed)
{
	return swarm_fingerprint(&((const swarm_observed *)observed)->st);
}

static const spec_service *find_service(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; i < m->swarm.n_services; i++)
		if (!strcmp(m->swarm.services[i].name, name))
			return &m->swarm.services[i];
	return NULL;
}

static const spec_volume *find_volume(const struct spec_model *m, const char *name)
{
	for (size_t i = 0; name && i < m->swarm.n_volumes; i++)
		if (!strcmp(m->swarm.volumes[i].name, name))
			return &m->swarm.volumes[i];
	return NULL;
}

/* A running service mounts its observed Azure File shares until its step ran (a delete, or an
 * update that drops them): whatever removes such a share waits for it. */
static void add_observed_share_refs(const swarm_state *st, const char *name, plan *p, size_t id)
{
	const swarm_object *o = swarm_find(st, SWARM_SERVICE, name);
	json_t *mounts = o ? json_object_get(json_object_get(json_object_get(o->spec, "TaskTemplate"), "ContainerSpec"),
					     "Mounts")
			   : NULL;
	size_t i;
	json_t *mt;
	json_array_foreach(mounts, i, mt) {
		json_t *vo = json_object_get(mt, "VolumeOptions");
		const char *acct = json_string_value(json_object_get(json_object_get(vo, "Labels"), SWARM_LABEL_STORAGE_ACCOUNT));
		const char *device =
			json_string_value(json_object_get(json_object_get(json_object_get(vo, "DriverConfig"), "Options"), "device"));
		const char *share = device ? strrchr(device, '/') : NULL;
		if (acct && share && share[1])
			plan_add_ref(p, id, PLAN_NEEDS, "fileshare %s/%s", acct, share + 1);
	}
}

static void add_refs(const struct spec_model *m, const swarm_state *st, plan *p, size_t first)
{
	for (size_t i = first; i < plan_count(p); i++) {
		const plan_step *step = plan_step_at(p, i);
		if (strcmp(plan_step_kind(step), "service"))
			continue;
		plan_add_ref(p, i, PLAN_NEEDS, "capacity swarm");
		if (plan_step_action(step) != PLAN_CREATE)
			add_observed_share_refs(st, plan_step_name(step), p, i);
		const spec_service *svc = plan_step_action(step) == PLAN_DELETE ? NULL : find_service(m, plan_step_name(step));
		for (size_t v = 0; svc && v < svc->n_volumes; v++) {
			const spec_volume *vol = find_volume(m, svc->volumes[v].source);
			const char *acct = vol && vol->file_share ? spec_file_share_account(m, vol->file_share) : NULL;
			if (acct)
				plan_add_ref(p, i, PLAN_NEEDS, "fileshare %s/%s", acct, vol->file_share);
		}
	}
}

static int swarm_provider_diff(const struct spec_model *m, const void *observed, bool complete,
			       const berth_options *opts, plan *p, berth_error *err)
{
	(void)complete; /* swarm_observe lists all four kinds or fails */
	const swarm_observed *o = observed;
	swarm_plan_options po = {.allow_mass_delete = opts && opts->allow_mass_delete,
				 .image_digests = (const char *const *)o->digests};
	size_t first = plan_count(p);
	char *msg = NULL;
	if (swarm_plan(m, &o->st, &po, p, &msg) != 0)
		return berth_error_take(err, BERTH_EPLAN, msg);
	add_refs(m, &o->st, p, first);
	return 0;
}


typedef struct {
	const berth_env *env;
	const struct spec_model *m;
	const plan_step *step;
} apply_ctx;

static void on_progress(void *arg, const char *line)
{
	apply_ctx *ac = arg;
	berth_emitf(ac->env->events, BERTH_EV_STEP_PROGRESS, ac->env->plan, ac->step, "%s", line);
}

static int storage_key(void *arg, const char *account, char **key, char **err)
{
	apply_ctx *ac = arg;
	return arm_storage_key(ac->env->arm, ac->m->azure.subscription, ac->m->azure.resource_group, account, key, err);
}

static int swarm_provider_apply(const berth_env *env, const struct spec_model *m, const plan_step *step, void *payload,
				berth_error *err)
{
	apply_ctx ac = {.env = env, .m = m, .step = step};
	double timeout = env->opts && env->opts->converge_timeout_s > 0 ? env->opts->converge_timeout_s : 120;
	swarm_apply_ctx ctx = {
		.d = env->docker,
		.m = m,
		.clock = env->clock,
		.cancel = env->cancel,
		.converge_timeout_ms = (long long)(timeout * 1000),
		.progress = on_progress,
		.progress_arg = &ac,
		.storage_key = env->arm ? storage_key : NULL,
		.storage_key_arg = &ac,
	};
	char *msg = NULL;
	int rc = swarm_apply_step(&ctx, step, payload, &msg);
	if (rc == 0) {
		free(msg);
		return 0;
	}
	if (berth_cancel_fired(env->cancel))
		rc = BERTH_ECANCELED;
	else if (rc == -1)
		rc = BERTH_EFAILED;
	return berth_error_take(err, rc, msg);
}

/* The services, tasks and nodes (the status page) and what the autoscaler decided for each
 * autoscaled service (/status and the metrics), in one array. */
static char *swarm_provider_status(const struct spec_model *m, const void *observed, double wall_now)
{
	(void)wall_now; /* autoscale decisions are at the observation's time, as the plan's */
	const swarm_state *st = &((const swarm_observed *)observed)->st;
	char *a = swarm_status_json(m, st), *b = swarm_autoscale_status(m, st);
	json_t *all = a ? json_loads(a, 0, NULL) : NULL, *more = b ? json_loads(b, 0, NULL) : NULL;
	free(a);
	free(b);
	if (!json_is_array(all)) {
		json_decref(all);
		all = json_array();
	}
	if (json_is_array(more))
		json_array_extend(all, more);
	json_decref(more);
	char *out = json_dumps(all, JSON_COMPACT);
	json_decref(all);
	return out;
}

const berth_provider berth_provider_swarm = {
	.version = BERTH_PROVIDER_VERSION,
	.name = "swarm",
	.wants = swarm_wants,
	.needs = swarm_needs,
	.observe = swarm_provider_observe,
	.fingerprint = swarm_provider_fingerprint,
	.diff = swarm_provider_diff,
	.apply = swarm_provider_apply,
	.observed_free = swarm_observed_free,
	.free_payload = swarm_step_free,
	.status = swarm_provider_status,
};
