/* Observing the swarm: five list calls (services, networks, secrets, configs, and the tasks of
 * berth-owned services), whatever the number of objects. Unowned objects are listed too, so that
 * a same-named object berth does not own is caught at plan time rather than failing the apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

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
			if (status == 503 && rerr && strstr(rerr, "not part of a swarm")) {
				free(rerr);
				rerr = errf("the Docker engine at %s is not in swarm mode (run 'docker swarm init')%s",
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
	/* One more list for the tasks: of berth-owned services only (the label filter matches the
	 * labels of the task's service), of every owner since observing does not know the spec's.
	 * Not filtered by desired state: the failed tasks, whose desired state is shutdown, are the
	 * ones that say why a service does not converge. */
	char *filters = docker_filters("label", SWARM_LABEL_OWNER);
	char *path = xasprintf("/tasks?filters=%s", filters);
	free(filters);
	long status = 0;
	json_t *tasks = NULL;
	char *rerr = NULL;
	int rc = docker_request(d, "GET", path, NULL, &status, &tasks, &rerr);
	free(path);
	if (rc != 0 || status != 200 || !json_is_array(tasks)) {
		*err = xasprintf("listing tasks: %s", rerr ? rerr : "unexpected response");
		free(rerr);
		json_decref(tasks);
		for (int k = 0; k < SWARM_KINDS; k++)
			json_decref(lists[k]);
		return -1;
	}
	free(rerr);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	swarm_state_from_json(lists, out);
	for (int k = 0; k < SWARM_KINDS; k++)
		json_decref(lists[k]);
	swarm_state_set_tasks(out, tasks, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	json_decref(tasks);
	out->requests = docker_requests(d) - before;
	return 0;
}

void swarm_state_set_tasks(swarm_state *st, json_t *tasks, long long observed_ms)
{
	json_decref(st->tasks);
	st->tasks = json_incref(tasks);
	st->observed_ms = observed_ms;
}

void swarm_state_free(swarm_state *st)
{
	free(st->objects);
	json_decref(st->raw);
	json_decref(st->tasks);
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
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < st->n; i++) {
		EVP_DigestUpdate(ctx, lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	char *hex = malloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}
