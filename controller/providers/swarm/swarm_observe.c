/* Observing the swarm: four list calls (services, networks, secrets, configs), whatever the
 * number of objects. Unowned objects are listed too, so that a same-named object berth does not
 * own is caught at plan time rather than failing the apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/util.h"
#include "providers/swarm/swarm.h"

const char *swarm_kind_name(swarm_kind k)
{
	static const char *const names[] = {"service", "network", "secret", "config"};
	return names[k];
}

static char *errf(const char *fmt, const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, fmt, a, b ? b : "") < 0)
		abort();
	return s;
}

static const char *label(json_t *labels, const char *key)
{
	return json_string_value(json_object_get(labels, key));
}

static void add_object(swarm_state *st, size_t *cap, swarm_object o)
{
	if (st->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		st->objects = realloc(st->objects, *cap * sizeof(*st->objects));
		if (!st->objects)
			abort();
	}
	st->objects[st->n++] = o;
}

static const char *const list_paths[SWARM_KINDS] = {"/services", "/networks", "/secrets", "/configs"};

void swarm_state_from_json(json_t *lists[SWARM_KINDS], swarm_state *out)
{
	memset(out, 0, sizeof(*out));
	out->raw = json_array();
	size_t cap = 0;
	for (int k = 0; k < SWARM_KINDS; k++) {
		json_t *resp = lists[k];
		json_array_append(out->raw, resp);
		size_t i;
		json_t *it;
		json_array_foreach(resp, i, it) {
			swarm_object o = {.kind = (swarm_kind)k};
			if (k == SWARM_NETWORK) {
				/* Only swarm-scoped networks share a namespace with berth's overlays. */
				const char *scope = json_string_value(json_object_get(it, "Scope"));
				if (scope && strcmp(scope, "swarm"))
					continue;
				o.id = json_string_value(json_object_get(it, "Id"));
				o.name = json_string_value(json_object_get(it, "Name"));
				o.spec = it;
				json_t *labels = json_object_get(it, "Labels");
				o.owner = label(labels, SWARM_LABEL_OWNER);
				o.logical = label(labels, SWARM_LABEL_NAME);
			} else {
				json_t *sspec = json_object_get(it, "Spec");
				json_t *labels = json_object_get(sspec, "Labels");
				o.id = json_string_value(json_object_get(it, "ID"));
				o.name = json_string_value(json_object_get(sspec, "Name"));
				o.version = json_integer_value(json_object_get(json_object_get(it, "Version"), "Index"));
				o.spec = sspec;
				o.owner = label(labels, SWARM_LABEL_OWNER);
				o.logical = label(labels, SWARM_LABEL_NAME);
			}
			if (!o.id || !o.name)
				continue;
			if (!o.logical)
				o.logical = o.name;
			add_object(out, &cap, o);
		}
	}
}

int swarm_observe(docker *d, swarm_state *out, char **err)
{
	json_t *lists[SWARM_KINDS] = {0};
	unsigned long before = docker_requests(d);
	for (int k = 0; k < SWARM_KINDS; k++) {
		long status = 0;
		json_t *resp = NULL;
		char *rerr = NULL;
		if (docker_request(d, "GET", list_paths[k], NULL, &status, &resp, &rerr) != 0 || status != 200 ||
		    !json_is_array(resp)) {
			/* The engine answers swarm endpoints with 503 only when it is not a swarm manager. */
			if (status == 503) {
				free(rerr);
				rerr = errf("the Docker engine at %s is not a swarm manager (run 'docker swarm init' there, or point DOCKER_HOST at a manager)%s",
					    docker_endpoint(d), NULL);
			}
			*err = errf("listing %ss: %s", swarm_kind_name((swarm_kind)k), rerr ? rerr : "unexpected response");
			free(rerr);
			json_decref(resp);
			for (int j = 0; j < k; j++)
				json_decref(lists[j]);
			return -1;
		}
		free(rerr);
		lists[k] = resp;
	}
	swarm_state_from_json(lists, out);
	for (int k = 0; k < SWARM_KINDS; k++)
		json_decref(lists[k]);
	out->requests = docker_requests(d) - before;
	return 0;
}

void swarm_state_free(swarm_state *st)
{
	free(st->objects);
	json_decref(st->raw);
	memset(st, 0, sizeof(*st));
}

const swarm_object *swarm_find(const swarm_state *st, swarm_kind kind, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->objects[i].kind == kind && !strcmp(st->objects[i].name, name))
			return &st->objects[i];
	return NULL;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *swarm_fingerprint(const swarm_state *st)
{
	/* Sorted, so that the engine's list order does not matter. */
	char **lines = calloc(st->n + 1, sizeof(char *));
	for (size_t i = 0; i < st->n; i++)
		if (asprintf(&lines[i], "%d %s %lld\n", st->objects[i].kind, st->objects[i].id, st->objects[i].version) < 0)
			abort();
	qsort(lines, st->n, sizeof(char *), line_cmp);
	berth_sha256 *h = berth_sha256_new();
	for (size_t i = 0; i < st->n; i++) {
		berth_sha256_update(h, lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
	char *hex = xmalloc(BERTH_SHA256_HEX);
	berth_sha256_final_hex(h, hex);
	return hex;
}
