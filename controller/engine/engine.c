/* The engine's lifetime and its transports: the Docker and ARM clients are opened the first time a
 * reconcile needs them and kept, so connections, the credential's token and the ARM request budget
 * last across reconciles; a spec that points a transport elsewhere gets a new one. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engine/engine_internal.h"
#include "transport/azure_auth.h"

static void hook_log(void *ctx, const char *line)
{
	berth_engine *e = ctx;
	berth_emitf(&e->events, BERTH_EV_TRANSPORT, NULL, NULL, "%s", line);
}

static void hook_sleep(void *ctx, double seconds)
{
	berth_engine *e = ctx;
	berth_sleep(e->clock, seconds, e->cancel);
}

static double hook_now(void *ctx)
{
	berth_engine *e = ctx;
	return berth_now(e->clock);
}

berth_engine *berth_engine_new(const berth_engine_config *cfg)
{
	berth_engine *e = xcalloc(1, sizeof(*e));
	e->clock = cfg && cfg->clock ? cfg->clock : berth_clock_real();
	if (cfg && cfg->cancel) {
		e->cancel = cfg->cancel;
	} else {
		e->own_cancel = berth_cancel_new();
		e->cancel = e->own_cancel;
	}
	if (cfg) {
		e->events = cfg->events;
		e->drain = cfg->drain;
		e->before_step = cfg->before_step;
		e->before_step_ctx = cfg->before_step_ctx;
	}
	if (cfg && cfg->arm)
		e->arm_cfg = *cfg->arm;
	e->arm_cfg.resource_manager = e->arm_cfg.active_directory = NULL;
	e->arm_hooks_given = e->arm_cfg.hooks.sleep || e->arm_cfg.hooks.now || e->arm_cfg.hooks.log;
	/* Waits in the ARM client and the credential go through the engine's clock and cancel, and
	 * their log lines become events, unless a test injected hooks of its own. */
	if (!e->arm_cfg.hooks.log && !e->arm_hooks_given) {
		e->arm_cfg.hooks = (azure_hooks){.log = hook_log, .sleep = hook_sleep, .now = hook_now, .ctx = e};
	}
	e->arm_cfg.cancel = e->cancel;
	return e;
}

void berth_engine_free(berth_engine *e)
{
	if (!e)
		return;
	arm_close(e->arm);
	docker_close(e->docker);
	free(e->arm_key);
	free(e->docker_key);
	berth_cancel_free(e->own_cancel);
	free(e);
}

void berth_engine_cancel(berth_engine *e)
{
	berth_cancel_fire(e->cancel);
}

void berth_engine_reset_cancel(berth_engine *e)
{
	berth_cancel_reset(e->cancel);
}

berth_cancel *berth_engine_cancel_token(berth_engine *e)
{
	return e->cancel;
}

void berth_engine_get_stats(const berth_engine *e, berth_engine_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (e->docker) {
		out->docker_requests = docker_requests(e->docker);
		out->docker_writes = docker_writes(e->docker);
	}
	if (e->arm) {
		out->arm_requests = arm_requests(e->arm);
		out->token_requests = azure_credential_token_requests(arm_credential(e->arm));
		for (long s = 0; s < ARM_STATUS_SLOTS; s++)
			out->arm_status[s] = arm_requests_with_status(e->arm, s);
	}
	out->reconciles = e->reconciles;
}

static char *join_key(const char *const *parts, size_t n)
{
	char *key = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s\x1f", key, parts[i] ? parts[i] : "");
		free(key);
		key = next;
	}
	return key;
}

static int open_docker(berth_engine *e, const struct spec_model *m, berth_error *err)
{
	docker_config cfg;
	docker_config_init(&cfg, m->swarm.endpoint, m->swarm.tls_ca, m->swarm.tls_cert, m->swarm.tls_key);
	cfg.cancel = e->cancel;
	const char *parts[] = {cfg.host, cfg.ca_file, cfg.cert_file, cfg.key_file, cfg.tls ? "tls" : "",
			       cfg.tls_verify ? "verify" : "", cfg.api_version};
	char *key = join_key(parts, sizeof(parts) / sizeof(parts[0]));
	if (e->docker && !strcmp(key, e->docker_key)) {
		free(key);
		return 0;
	}
	docker_close(e->docker);
	free(e->docker_key);
	e->docker = NULL;
	e->docker_key = NULL;
	char *msg = NULL;
	e->docker = docker_open(&cfg, &msg);
	if (!e->docker) {
		free(key);
		return berth_error_take(err, berth_cancel_fired(e->cancel) ? BERTH_ECANCELED : BERTH_EUNREACHABLE, msg);
	}
	e->docker_key = key;
	return 0;
}

static int open_arm(berth_engine *e, const struct spec_model *m, berth_error *err)
{
	const char *parts[] = {m->azure.resource_manager_endpoint, m->azure.active_directory_endpoint};
	char *key = join_key(parts, 2);
	if (e->arm && !strcmp(key, e->arm_key)) {
		free(key);
		return 0;
	}
	arm_close(e->arm);
	free(e->arm_key);
	e->arm = NULL;
	e->arm_key = NULL;
	arm_config cfg = e->arm_cfg;
	cfg.resource_manager = m->azure.resource_manager_endpoint;
	cfg.active_directory = m->azure.active_directory_endpoint;
	char *msg = NULL;
	e->arm = arm_open(&cfg, &msg);
	if (!e->arm) {
		free(key);
		return berth_error_take(err, berth_cancel_fired(e->cancel) ? BERTH_ECANCELED : BERTH_EAUTH, msg);
	}
	e->arm_key = key;
	berth_emitf(&e->events, BERTH_EV_INFO, NULL, NULL, "Azure credential: %s", arm_credential_name(e->arm));
	return 0;
}

int engine_transports(berth_engine *e, const struct spec_model *m, unsigned needs, berth_error *err)
{
	/* ARM first: the Azure part of a plan was always observed before the swarm's. */
	if ((needs & BERTH_NEEDS_ARM) && open_arm(e, m, err) != 0)
		return err ? err->code : BERTH_EAUTH;
	if ((needs & BERTH_NEEDS_DOCKER) && open_docker(e, m, err) != 0)
		return err ? err->code : BERTH_EUNREACHABLE;
	return 0;
}
