/* The leader election of berth run (leader.h): one thread that acquires, renews and releases a
 * blob lease, and the gate the executor asks before every write step. Times are the monotonic
 * clock's, in real seconds (the lease is the service's, never scaled). */
#include "run/leader.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/util.h"
#include "spec/xalloc.h"
#include "transport/azure_auth.h"
#include "transport/blob.h"

struct berth_leader {
	berth_leader_hooks hooks;
	blob_client *blob;
	azure_credential *cred;
	double duration, period, margin;
	char *instance;
	char lease_id[37];
	berth_cancel *stop;
	pthread_t thread;
	pthread_mutex_t mu; /* guards what follows */
	bool leading;
	double lease_until;    /* monotonic; the lease counted from when its request was sent */
	char *leader;          /* as last seen */
	double leader_expires; /* wall (Unix) time; 0: unknown */
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_line(berth_leader *l, const char *level, const char *msg, const char *k, const char *v)
{
	if (l->hooks.log)
		run_log_line(l->hooks.log, level, msg, "instance", l->instance, k, v, (const char *)NULL);
}

/* Leadership ends: under l->mu, which the caller holds; on_lost runs after it is released. */
static bool give_up_locked(berth_leader *l)
{
	if (!l->leading)
		return false;
	l->leading = false;
	return true;
}

static void lost(berth_leader *l, const char *why)
{
	log_line(l, "warning", "lost leadership: no further write step starts", "reason", why);
	if (l->hooks.on_lost)
		l->hooks.on_lost(l->hooks.ctx);
}

bool berth_leader_may_write(berth_leader *l)
{
	if (!l)
		return true;
	pthread_mutex_lock(&l->mu);
	bool ok = l->leading && mono() < l->lease_until - l->margin;
	bool dropped = !ok && give_up_locked(l);
	pthread_mutex_unlock(&l->mu);
	if (dropped)
		lost(l, "less than the safety margin of the lease is left");
	return ok;
}

/* Records the holder (ours after acquiring or renewing) in the blob's metadata. */
static void publish(berth_leader *l)
{
	char expires[32];
	snprintf(expires, sizeof(expires), "%.0f", floor(wall() + l->duration));
	const char *const pairs[] = {"berthleader", l->instance, "berthexpires", expires, NULL};
	berth_error err = {0};
	if (blob_set_metadata(l->blob, l->lease_id, pairs, &err) != 0)
		log_line(l, "warning", "cannot record the leader in the lease blob", "error", err.message);
	berth_error_clear(&err);
	pthread_mutex_lock(&l->mu);
	free(l->leader);
	l->leader = xstrdup(l->instance);
	l->leader_expires = floor(wall() + l->duration);
	pthread_mutex_unlock(&l->mu);
}

/* Who holds the lease, from the blob's metadata. */
static void look(berth_leader *l)
{
	blob_properties p;
	berth_error err = {0};
	if (blob_get_properties(l->blob, &p, &err) != 0) {
		berth_error_clear(&err);
		return;
	}
	bool held = p.lease_state && (!strcmp(p.lease_state, "leased") || !strcmp(p.lease_state, "breaking"));
	const char *who = blob_meta(&p, "berthleader"), *exp = blob_meta(&p, "berthexpires");
	pthread_mutex_lock(&l->mu);
	free(l->leader);
	l->leader = held && who ? xstrdup(who) : NULL;
	l->leader_expires = held && exp ? strtod(exp, NULL) : 0;
	pthread_mutex_unlock(&l->mu);
	blob_properties_free(&p);
}

static bool try_acquire(berth_leader *l, bool *ensured)
{
	berth_error err = {0};
	if (!*ensured) {
		if (blob_ensure(l->blob, &err) != 0) {
			log_line(l, "error", "cannot create the lease blob", "error", err.message);
			berth_error_clear(&err);
			return false;
		}
		*ensured = true;
	}
	double sent = mono();
	blob_lease_request rq = {.action = BLOB_ACQUIRE, .proposed_id = l->lease_id, .duration_s = (int)l->duration};
	int rc = blob_lease(l->blob, &rq, &err);
	if (rc == BERTH_ENOTFOUND)
		*ensured = false; /* deleted by hand: made again on the next try */
	if (rc != 0) {
		if (rc != BERTH_ECONFLICT)
			log_line(l, "error", "cannot acquire the leader lease", "error", err.message);
		berth_error_clear(&err);
		look(l);
		return false;
	}
	pthread_mutex_lock(&l->mu);
	l->leading = true;
	l->lease_until = sent + l->duration;
	pthread_mutex_unlock(&l->mu);
	publish(l);
	log_line(l, "info", "leading: acquired the leader lease", "lease", blob_url_shown(l->blob));
	if (l->hooks.on_acquired)
		l->hooks.on_acquired(l->hooks.ctx);
	return true;
}

/* Renews until it fails for good; returns when leadership is over (or the thread stops). */
static void hold(berth_leader *l)
{
	double last = mono();
	for (;;) {
		pthread_mutex_lock(&l->mu);
		double until = l->lease_until;
		bool leading = l->leading;
		pthread_mutex_unlock(&l->mu);
		if (!leading)
			return; /* the gate gave it up */
		double give_up_at = until - l->margin, now = mono();
		double next = last + l->period;
		if (next > give_up_at)
			next = give_up_at;
		if (!berth_sleep(NULL, next - now, l->stop))
			return;
		now = mono();
		if (now >= give_up_at) {
			pthread_mutex_lock(&l->mu);
			bool dropped = give_up_locked(l);
			pthread_mutex_unlock(&l->mu);
			if (dropped)
				lost(l, "the lease could not be renewed in time");
			return;
		}
		/* The renew may not outlast the margin: the loss must be noticed while writes can stop. */
		long budget = (long)((give_up_at - now) * 1000);
		blob_lease_request rq = {.action = BLOB_RENEW, .lease_id = l->lease_id,
					 .timeout_ms = budget < 10000 ? (budget > 200 ? budget : 200) : 10000};
		berth_error err = {0};
		double sent = mono();
		int rc = blob_lease(l->blob, &rq, &err);
		if (rc == 0) {
			pthread_mutex_lock(&l->mu);
			bool still = l->leading;
			if (still)
				l->lease_until = sent + l->duration;
			pthread_mutex_unlock(&l->mu);
			last = sent;
			if (still)
				publish(l);
		} else if (rc == BERTH_ECONFLICT || rc == BERTH_ENOTFOUND) {
			/* broken, taken, or the blob is gone: not ours any more */
			pthread_mutex_lock(&l->mu);
			bool dropped = give_up_locked(l);
			pthread_mutex_unlock(&l->mu);
			if (dropped)
				lost(l, err.message);
			berth_error_clear(&err);
			return;
		} else {
			log_line(l, "warning", "cannot renew the leader lease: retrying", "error", err.message);
			berth_error_clear(&err);
			last = mono() - l->period + 1; /* again in a second */
		}
	}
}

static void *election(void *arg)
{
	berth_leader *l = arg;
	bool ensured = false;
	while (!berth_cancel_fired(l->stop)) {
		if (try_acquire(l, &ensured)) {
			hold(l);
			if (berth_cancel_fired(l->stop))
				break;
			/* a new lease id: the old one may still be known to the service as broken */
			azure_uuid(l->lease_id);
			pthread_mutex_lock(&l->mu);
			free(l->leader);
			l->leader = NULL;
			pthread_mutex_unlock(&l->mu);
			look(l); /* who leads now, if anyone */
		}
		/* Held by someone not named yet (it records itself just after acquiring), or not
		 * reachable: look again in a second rather than a renew period. */
		pthread_mutex_lock(&l->mu);
		bool known = l->leader != NULL;
		pthread_mutex_unlock(&l->mu);
		(void)berth_sleep(NULL, known || l->period < 1 ? l->period : 1, l->stop);
	}
	pthread_mutex_lock(&l->mu);
	bool was = give_up_locked(l);
	pthread_mutex_unlock(&l->mu);
	berth_cancel_reset(l->stop); /* it cancels the blob's requests: the release must go out */
	if (was) {
		if (l->hooks.on_lost)
			l->hooks.on_lost(l->hooks.ctx);
		blob_lease_request rq = {.action = BLOB_RELEASE, .lease_id = l->lease_id, .timeout_ms = 2000};
		berth_error err = {0};
		if (blob_lease(l->blob, &rq, &err) == 0)
			log_line(l, "info", "released the leader lease", NULL, NULL);
		berth_error_clear(&err);
	}
	return NULL;
}

static bool instance_ok(const char *s)
{
	if (!*s || strlen(s) > 200)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._:@", *s))
			return false;
	return true;
}

int berth_leader_start(const berth_leader_config *cfg, const berth_leader_hooks *hooks, berth_leader **out,
		       berth_error *err)
{
	*out = NULL;
	double d = cfg->duration_s > 0 ? cfg->duration_s : 30;
	if (d < 15 || d > 60 || d != floor(d))
		return berth_error_set(err, BERTH_EINVALID, "the leader lease lasts 15 to 60 whole seconds, not %g", d);
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "berth");
	char *instance = cfg->instance_id ? xstrdup(cfg->instance_id) : xasprintf("%s-%ld", host, (long)getpid());
	if (!instance_ok(instance)) {
		int rc = berth_error_set(err, BERTH_EINVALID,
					 "the instance id \"%s\" must be 1 to 200 letters, digits or - . _ : @", instance);
		free(instance);
		return rc;
	}
	berth_leader *l = xcalloc(1, sizeof(*l));
	l->hooks = *hooks;
	l->duration = d;
	l->period = d / 3;
	l->margin = l->period;
	l->instance = instance;
	azure_uuid(l->lease_id);
	pthread_mutex_init(&l->mu, NULL);
	l->stop = berth_cancel_new();
	bool sas = cfg->url && strchr(cfg->url, '?');
	if (!sas && !(cfg->account_key && *cfg->account_key)) {
		azure_endpoints ep = {0};
		char *msg = NULL;
		if (azure_endpoints_resolve(NULL, NULL, &ep, &msg) == 0) {
			azure_credential_config cc = {.audience = BLOB_STORAGE_AUDIENCE, .authority = ep.authority};
			l->cred = azure_credential_open(&cc, &msg);
		}
		azure_endpoints_free(&ep);
		if (!l->cred) {
			int rc = berth_error_set(err, BERTH_EAUTH, "no credential for the leader lease: %s", msg ? msg : "");
			free(msg);
			berth_leader_stop(l);
			return rc;
		}
	}
	blob_config bc = {.url = cfg->url,
			  .account_key = cfg->account_key,
			  .credential = l->cred,
			  .ca_file = cfg->ca_file,
			  .cancel = l->stop};
	if (blob_open(&bc, &l->blob, err) != 0) {
		berth_leader_stop(l);
		return err->code;
	}
	if (pthread_create(&l->thread, NULL, election, l) != 0) {
		blob_close(l->blob);
		l->blob = NULL;
		berth_leader_stop(l);
		return berth_error_set(err, BERTH_EGENERIC, "cannot start the leader election's thread");
	}
	*out = l;
	return 0;
}

void berth_leader_stop(berth_leader *l)
{
	if (!l)
		return;
	if (l->blob) {
		berth_cancel_fire(l->stop);
		pthread_join(l->thread, NULL);
	}
	blob_close(l->blob);
	azure_credential_close(l->cred);
	berth_cancel_free(l->stop);
	pthread_mutex_destroy(&l->mu);
	free(l->instance);
	free(l->leader);
	free(l);
}

void berth_leader_get(berth_leader *l, berth_leader_view *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&l->mu);
	out->is_leader = l->leading && mono() < l->lease_until - l->margin;
	out->instance = xstrdup(l->instance);
	out->duration_s = l->duration;
	if (l->leading) {
		out->leader = xstrdup(l->instance);
		out->expires_in_s = l->lease_until - mono();
	} else {
		out->leader = l->leader ? xstrdup(l->leader) : NULL;
		out->expires_in_s = l->leader && l->leader_expires > 0 ? l->leader_expires - wall() : -1;
		if (l->leader && out->expires_in_s < 0 && l->leader_expires > 0)
			out->expires_in_s = 0;
	}
	pthread_mutex_unlock(&l->mu);
}

void berth_leader_view_free(berth_leader_view *v)
{
	free(v->instance);
	free(v->leader);
	memset(v, 0, sizeof(*v));
}
