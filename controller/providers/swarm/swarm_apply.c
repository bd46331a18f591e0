/* Applying one swarm step through the Engine API, and waiting until a service has converged. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/secret.h"
#include "core/util.h"
#include "providers/swarm/swarm_step.h"

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

static void progress(swarm_apply_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(swarm_apply_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->progress)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->progress(ctx->progress_arg, buf);
}

/* A request that must succeed (2xx); otherwise *err says what the engine said. */
static int call(swarm_apply_ctx *ctx, const char *method, const char *path, json_t *body, json_t **resp, long *status,
		char **err)
{
	long st = 0;
	json_t *r = NULL;
	char *e = NULL;
	int rc = docker_request(ctx->d, method, path, body, &st, &r, &e);
	if (rc != 0) {
		json_decref(r);
		if (status)
			*status = st;
		*err = e ? e : xstrdup("unexpected response from the engine");
		return rc;
	}
	free(e);
	if (status)
		*status = st;
	if (resp)
		*resp = r;
	else
		json_decref(r);
	return 0;
}

static const char *kind_path(swarm_kind k)
{
	static const char *const paths[] = {"/services", "/networks", "/secrets", "/configs"};
	return paths[k];
}

static int delete_object(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", kind_path(s->kind), s->id);
	long status = 0;
	char *e = NULL;
	if (call(ctx, "DELETE", path, NULL, NULL, &status, &e) != 0) {
		if (status == 404) { /* already gone: the goal is met */
			free(e);
			return 0;
		}
		return fail(err, "deleting %s %s: %s", swarm_kind_name(s->kind), s->engine_name, e), free(e), -1;
	}
	return 0;
}

static json_t *owner_labels(swarm_apply_ctx *ctx, const char *logical, const spec_kv *kv, size_t n)
{
	json_t *labels = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(labels, kv[i].key, json_string(kv[i].value));
	json_object_set_new(labels, SWARM_LABEL_OWNER, json_string(ctx->m->name));
	json_object_set_new(labels, SWARM_LABEL_NAME, json_string(logical));
	return labels;
}

static int create_network(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	const spec_network *n = &ctx->m->swarm.networks[s->index];
	json_t *opts = json_object();
	for (size_t i = 0; i < n->n_driver_opts; i++)
		json_object_set_new(opts, n->driver_opts[i].key, json_string(n->driver_opts[i].value));
	json_t *body = json_pack("{s:s, s:s, s:b, s:b, s:o, s:o, s:b}", "Name", n->name, "Driver", n->driver, "Attachable",
				 n->attachable, "Internal", n->internal, "Labels",
				 owner_labels(ctx, n->name, n->labels, n->n_labels), "Options", opts, "CheckDuplicate", 1);
	char *e = NULL;
	int rc = call(ctx, "POST", "/networks/create", body, NULL, NULL, &e);
	json_decref(body);
	if (rc)
		return fail(err, "creating network %s: %s", n->name, e), free(e), -1;
	return 0;
}

/* Secrets and configs: the content is read again now, checked against the planned version, and
 * sent base64-encoded; the buffers are wiped. */
static int create_content_object(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	const spec_swarm *sw = &ctx->m->swarm;
	secret_value *sv = NULL;
	char *plain = NULL;
	const unsigned char *bytes;
	size_t len;
	const spec_kv *labels;
	size_t n_labels;
	if (s->kind == SWARM_SECRET) {
		const spec_swarm_secret *sec = &sw->secrets[s->index];
		if (secret_resolve(&sec->value, &sv, err) != 0)
			return -1;
		bytes = secret_bytes(sv, &len);
		labels = sec->labels;
		n_labels = sec->n_labels;
	} else {
		const spec_config *cf = &sw->configs[s->index];
		if (swarm_config_content(cf, &plain, &len, err) != 0)
			return -1;
		bytes = (const unsigned char *)plain;
		labels = cf->labels;
		n_labels = cf->n_labels;
	}
	char engine[80];
	swarm_content_name(s->logical, (const char *)bytes, len, engine);
	if (strcmp(engine, s->engine_name)) {
		secret_free(sv);
		free(plain);
		return fail(err, "%s %s: its content changed after the plan was made; plan again", swarm_kind_name(s->kind),
			    s->logical);
	}
	size_t b64len = 4 * ((len + 2) / 3) + 1;
	char *b64 = xmalloc(b64len);
	EVP_EncodeBlock((unsigned char *)b64, bytes, (int)len);
	json_t *body = json_pack("{s:s, s:o, s:s}", "Name", engine, "Labels", owner_labels(ctx, s->logical, labels, n_labels),
				 "Data", b64);
	OPENSSL_cleanse(b64, b64len);
	free(b64);
	secret_free(sv);
	if (plain) {
		OPENSSL_cleanse(plain, len);
		free(plain);
	}
	char path[64], *e = NULL;
	snprintf(path, sizeof(path), "%s/create", kind_path(s->kind));
	int rc = call(ctx, "POST", path, body, NULL, NULL, &e);
	json_object_del(body, "Data");
	json_decref(body);
	if (rc)
		return fail(err, "creating %s %s: %s", swarm_kind_name(s->kind), s->logical, e), free(e), -1;
	return 0;
}

/* The engine wants secret and config ids; the plan knows names (the objects may be new). */
static int resolve_refs(swarm_apply_ctx *ctx, json_t *sspec, char **err)
{
	json_t *cs = json_object_get(json_object_get(sspec, "TaskTemplate"), "ContainerSpec");
	static const struct {
		const char *field, *name_key, *id_key, *path;
	} kinds[] = {{"Secrets", "SecretName", "SecretID", "/secrets"}, {"Configs", "ConfigName", "ConfigID", "/configs"}};
	for (size_t k = 0; k < 2; k++) {
		json_t *refs = json_object_get(cs, kinds[k].field);
		if (!json_array_size(refs))
			continue;
		json_t *list = NULL;
		char *e = NULL;
		if (call(ctx, "GET", kinds[k].path, NULL, &list, NULL, &e) != 0)
			return fail(err, "listing %s: %s", kinds[k].path + 1, e), free(e), -1;
		size_t i;
		json_t *r;
		json_array_foreach(refs, i, r) {
			const char *want = json_string_value(json_object_get(r, kinds[k].name_key));
			const char *id = NULL;
			size_t j;
			json_t *o;
			json_array_foreach(list, j, o) {
				const char *name = json_string_value(json_object_get(json_object_get(o, "Spec"), "Name"));
				if (name && want && !strcmp(name, want))
					id = json_string_value(json_object_get(o, "ID"));
			}
			if (!id) {
				json_decref(list);
				return fail(err, "%s %s does not exist", kinds[k].field, want ? want : "?");
			}
			json_object_set_new(r, kinds[k].id_key, json_string(id));
		}
		json_decref(list);
	}
	return 0;
}

/* Azure File share volumes: put the storage account key, fetched now, where the plan left a
 * placeholder. The key exists only in this request body, which is wiped after sending. */
static int fill_storage_keys(swarm_apply_ctx *ctx, json_t *sspec, char **err)
{
	json_t *mounts = json_object_get(json_object_get(json_object_get(sspec, "TaskTemplate"), "ContainerSpec"), "Mounts");
	size_t i;
	json_t *mt;
	json_array_foreach(mounts, i, mt) {
		json_t *vo = json_object_get(mt, "VolumeOptions");
		json_t *opts = json_object_get(json_object_get(vo, "DriverConfig"), "Options");
		const char *o = json_string_value(json_object_get(opts, "o"));
		const char *at = o ? strstr(o, SWARM_KEY_PLACEHOLDER) : NULL;
		if (!at)
			continue;
		const char *acct = json_string_value(json_object_get(json_object_get(vo, "Labels"), SWARM_LABEL_STORAGE_ACCOUNT));
		if (!ctx->storage_key || !acct)
			return fail(err, "mount %s: an Azure File share needs the storage account key, and there is no Azure "
					 "connection", json_string_value(json_object_get(mt, "Target")));
		char *key = NULL;
		if (ctx->storage_key(ctx->storage_key_arg, acct, &key, err) != 0)
			return -1;
		char *filled = NULL;
		filled = xasprintf("%.*s%s%s", (int)(at - o), o, key, at + strlen(SWARM_KEY_PLACEHOLDER));
		OPENSSL_cleanse(key, strlen(key));
		free(key);
		json_object_set_new(opts, "o", json_string(filled));
		OPENSSL_cleanse(filled, strlen(filled));
		free(filled);
	}
	return 0;
}

static long long now_ms(const swarm_apply_ctx *ctx)
{
	return (long long)(berth_now(ctx->clock) * 1000);
}

static bool seen_before(json_t *old_ids, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(old_ids, i, v)
		if (!strcmp(json_string_value(v), id))
			return true;
	return false;
}

static json_t *task_ids(swarm_apply_ctx *ctx, const char *service_id)
{
	json_t *ids = json_array();
	char *filters = docker_filters("service", service_id), path[1024], *e = NULL;
	snprintf(path, sizeof(path), "/tasks?filters=%s", filters);
	free(filters);
	json_t *tasks = NULL;
	if (call(ctx, "GET", path, NULL, &tasks, NULL, &e) == 0) {
		size_t i;
		json_t *t;
		json_array_foreach(tasks, i, t)
			json_array_append(ids, json_object_get(t, "ID"));
	}
	free(e);
	json_decref(tasks);
	return ids;
}

/* The view of a task template: tasks carry one (as TaskSpec), the service another. */
static json_t *template_view(json_t *task_template)
{
	json_t *wrapper = json_pack("{s:O}", "TaskTemplate", task_template ? task_template : json_null());
	json_t *v = swarm_service_view(wrapper, NULL);
	json_decref(wrapper);
	return v;
}

/* A task counts only once it has been seen running for this long: a container that dies at once
 * is briefly "running" too (docker service create waits 5 s for the same reason). */
#define STABLE_MS 2000

/* Waits until the service's update has completed and the wanted number of tasks of the current
 * spec have been running stably. A swarm rollback, a paused update or tasks that keep failing end
 * the wait as a failure. */
static int converge(swarm_apply_ctx *ctx, const char *id, const char *name, json_t *sspec, json_t *old_tasks, char **err)
{
	json_t *replicated = json_object_get(json_object_get(sspec, "Mode"), "Replicated");
	long long want = replicated ? json_integer_value(json_object_get(replicated, "Replicas")) : -1;
	if (want == 0)
		return 0; /* no task will ever run: nothing to wait for */
	long long timeout = ctx->converge_timeout_ms > 0 ? ctx->converge_timeout_ms : 120000;
	long long deadline = now_ms(ctx) + timeout;
	char *filters = docker_filters("service", id), tasks_path[1024], svc_path[256];
	snprintf(tasks_path, sizeof(tasks_path), "/tasks?filters=%s", filters);
	snprintf(svc_path, sizeof(svc_path), "/services/%s", id);
	free(filters);
	char last_error[512] = "";
	long long stable = 0, last_stable = -1;
	json_t *first_seen = json_object(); /* task id -> when first seen running (ms) */
	int rc = 0;
	for (;;) {
		json_t *svc = NULL, *tasks = NULL;
		char *e = NULL;
		if (call(ctx, "GET", svc_path, NULL, &svc, NULL, &e) != 0 ||
		    call(ctx, "GET", tasks_path, NULL, &tasks, NULL, &e) != 0) {
			json_decref(svc);
			rc = fail(err, "service %s: %s", name, e);
			free(e);
			break;
		}
		json_t *us = json_object_get(svc, "UpdateStatus");
		const char *state = json_string_value(json_object_get(us, "State"));
		const char *message = json_string_value(json_object_get(us, "Message"));
		json_t *current = template_view(json_object_get(json_object_get(svc, "Spec"), "TaskTemplate"));
		long long now = now_ms(ctx);
		stable = 0;
		long long pending = 0, failed = 0;
		size_t i;
		json_t *t;
		json_array_foreach(tasks, i, t) {
			const char *tid = json_string_value(json_object_get(t, "ID"));
			const char *desired = json_string_value(json_object_get(t, "DesiredState"));
			json_t *status = json_object_get(t, "Status");
			const char *ts = json_string_value(json_object_get(status, "State"));
			const char *terr = json_string_value(json_object_get(status, "Err"));
			if (!tid)
				continue;
			if (desired && !strcmp(desired, "running")) {
				json_t *tv = template_view(json_object_get(t, "Spec"));
				bool current_spec = json_equal(tv, current);
				json_decref(tv);
				if (current_spec && ts && !strcmp(ts, "running")) {
					json_t *seen = json_object_get(first_seen, tid);
					if (!seen)
						json_object_set_new(first_seen, tid, json_integer(now));
					else if (now - json_integer_value(seen) >= STABLE_MS)
						stable++;
					else
						pending++;
				} else {
					pending++;
				}
			}
			if (!seen_before(old_tasks, tid) && ts && (!strcmp(ts, "failed") || !strcmp(ts, "rejected"))) {
				failed++;
				if (terr)
					snprintf(last_error, sizeof(last_error), "%s", terr);
			}
		}
		json_decref(current);
		json_decref(tasks);
		bool rolled_back = state && (!strcmp(state, "rollback_started") || !strcmp(state, "rollback_completed") ||
					     !strcmp(state, "rollback_paused") || !strcmp(state, "paused"));
		if (rolled_back) {
			fail(err, "service %s: the swarm %s the update (%s)%s%s", name,
			     strncmp(state, "rollback", 8) ? "paused" : "rolled back", message ? message : state,
			     *last_error ? "; task error: " : "", last_error);
			rc = BERTH_EFAILED;
			json_decref(svc);
			break;
		}
		bool updated = !state || !strcmp(state, "completed");
		json_decref(svc); /* state and message point into it */
		if (failed >= 3) {
			fail(err, "service %s: tasks keep failing (%lld failed): %s", name, failed,
			     *last_error ? last_error : "no error reported");
			rc = BERTH_EFAILED;
			break;
		}
		if (updated && pending == 0 && ((want >= 0 && stable == want) || (want < 0 && stable > 0)))
			break;
		if (stable != last_stable) {
			if (want >= 0)
				progress(ctx, "service %s: %lld/%lld running", name, stable, want);
			last_stable = stable;
		}
		if (now > deadline) {
			fail(err, "service %s did not converge within %llds: %lld/%lld tasks running%s%s", name,
			     timeout / 1000, stable, want >= 0 ? want : stable + pending, *last_error ? "; last task error: " : "",
			     last_error);
			rc = BERTH_ETIMEOUT;
			break;
		}
		if (!berth_sleep(ctx->clock, 0.25, ctx->cancel)) {
			fail(err, "service %s: cancelled while waiting for it to converge (%lld/%lld tasks running)", name, stable,
			     want >= 0 ? want : stable + pending);
			rc = BERTH_ECANCELED;
			break;
		}
	}
	json_decref(first_seen);
	return rc;
}

static int create_service(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	json_t *sspec = json_deep_copy(s->body);
	if (resolve_refs(ctx, sspec, err) != 0 || fill_storage_keys(ctx, sspec, err) != 0) {
		json_decref(sspec);
		return -1;
	}
	json_t *resp = NULL;
	char *e = NULL;
	if (call(ctx, "POST", "/services/create", sspec, &resp, NULL, &e) != 0) {
		json_decref(sspec);
		return fail(err, "creating service %s: %s", s->engine_name, e), free(e), -1;
	}
	char *id = xstrdup(json_string_value(json_object_get(resp, "ID")) ? json_string_value(json_object_get(resp, "ID")) : "");
	json_decref(resp);
	json_t *none = json_array();
	int rc = converge(ctx, id, s->engine_name, sspec, none, err);
	json_decref(none);
	json_decref(sspec);
	free(id);
	return rc;
}

/* The service's version index is no longer the one an update was sent with. */
static bool version_moved(swarm_apply_ctx *ctx, const char *id, long long sent)
{
	char path[512], *e = NULL;
	snprintf(path, sizeof(path), "/services/%s", id);
	json_t *cur = NULL;
	bool moved = false;
	if (call(ctx, "GET", path, NULL, &cur, NULL, &e) == 0)
		moved = json_integer_value(json_object_get(json_object_get(cur, "Version"), "Index")) != sent;
	free(e);
	json_decref(cur);
	return moved;
}

static int update_service(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	json_t *sspec = json_deep_copy(s->body);
	if (resolve_refs(ctx, sspec, err) != 0 || fill_storage_keys(ctx, sspec, err) != 0) {
		json_decref(sspec);
		return -1;
	}
	json_t *old_tasks = task_ids(ctx, s->id);
	for (int attempt = 0;; attempt++) {
		json_t *cur = NULL;
		char path[512], *e = NULL;
		snprintf(path, sizeof(path), "/services/%s", s->id);
		if (call(ctx, "GET", path, NULL, &cur, NULL, &e) != 0) {
			json_decref(sspec);
			json_decref(old_tasks);
			return fail(err, "reading service %s: %s", s->engine_name, e), free(e), -1;
		}
		long long version = json_integer_value(json_object_get(json_object_get(cur, "Version"), "Index"));
		/* Keep the engine's redeploy counter: changing it would restart every task. */
		json_t *force = json_object_get(json_object_get(json_object_get(cur, "Spec"), "TaskTemplate"), "ForceUpdate");
		if (force)
			json_object_set(json_object_get(sspec, "TaskTemplate"), "ForceUpdate", force);
		if (s->resubmit) /* a retry: see settle_service */
			json_object_set_new(json_object_get(sspec, "TaskTemplate"), "ForceUpdate",
					    json_integer(json_integer_value(force) + 1));
		json_decref(cur);
		snprintf(path, sizeof(path), "/services/%s/update?version=%lld", s->id, version);
		if (call(ctx, "POST", path, sspec, NULL, NULL, &e) == 0)
			break;
		/* The engine answers a stale version ("update out of sequence") with a plain 500: whether a
		 * concurrent write moved the version on is read from the service, not from the message. */
		if (attempt < 5 && version_moved(ctx, s->id, version)) {
			free(e);
			continue;
		}
		json_decref(sspec);
		json_decref(old_tasks);
		return fail(err, "updating service %s: %s", s->engine_name, e), free(e), -1;
	}
	int rc = converge(ctx, s->id, s->engine_name, sspec, old_tasks, err);
	json_decref(old_tasks);
	json_decref(sspec);
	return rc;
}

/* A service whose spec is already the desired one but that has not converged (see
 * swarm_service_unconverged): apply waits for it as after an update, and fails the same way.
 * A rollout the engine paused, rolled back or stopped is first started again by submitting the
 * spec with its redeploy counter (ForceUpdate) one up, as `docker service update --force` does.
 * The same spec alone is not enough (checked on Engine 20.10): while the paused update still
 * winds down (until its tasks in flight are up and the update delay has passed) the engine drops
 * a submission of the spec it works towards, clears the update status all the same, and leaves
 * the service half updated with nothing in progress; only later does the same spec resume. */
static int settle_service(swarm_apply_ctx *ctx, swarm_step *s, char **err)
{
	if (s->resubmit)
		return update_service(ctx, s, err);
	json_t *old_tasks = task_ids(ctx, s->id); /* only failures from now on count, as after an update */
	int rc = converge(ctx, s->id, s->engine_name, s->body, old_tasks, err);
	json_decref(old_tasks);
	return rc;
}

int swarm_apply_step(swarm_apply_ctx *ctx, const plan_step *step, swarm_step *s, char **err)
{
	plan_action action = plan_step_action(step);
	if (action == PLAN_DELETE)
		return delete_object(ctx, s, err);
	switch (s->kind) {
	case SWARM_NETWORK:
		return create_network(ctx, s, err);
	case SWARM_SECRET:
	case SWARM_CONFIG:
		return create_content_object(ctx, s, err);
	case SWARM_SERVICE:
		if (s->settle)
			return settle_service(ctx, s, err);
		if (action == PLAN_CREATE)
			return create_service(ctx, s, err);
		if (action == PLAN_REPLACE) {
			if (delete_object(ctx, s, err) != 0)
				return -1;
			return create_service(ctx, s, err);
		}
		return update_service(ctx, s, err);
	default:
		return fail(err, "unknown step");
	}
}
