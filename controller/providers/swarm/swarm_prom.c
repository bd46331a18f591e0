/* Prometheus sources: the HTTP query API as Prometheus documents it. An instant query answers
 * {"status":"success","data":{"resultType":"vector","result":[{"metric":{..},"value":[t,"v"]}]}}
 * (or "scalar" with "result":[t,"v"]); values are strings ("NaN", "+Inf" included); a failure is
 * {"status":"error","errorType":..,"error":..} with a 4xx/5xx status. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "providers/swarm/swarm_prom.h"
#include "transport/http.h"

#define PROM_TIMEOUT_MS 10000
#define PROM_MAX_BODY (4u << 20)

static bool value_of(json_t *pair, double *out)
{
	const char *s = json_string_value(json_array_get(pair, 1));
	if (!json_is_array(pair) || json_array_size(pair) != 2 || !s)
		return false;
	char *end = NULL;
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

bool swarm_prom_total(const char *body, double *total, char **err)
{
	json_error_t je;
	json_t *root = body ? json_loads(body, 0, &je) : NULL;
	const char *status = json_string_value(json_object_get(root, "status"));
	bool ok = false;
	*total = 0;
	if (!status) {
		*err = xstrdup("not a Prometheus query API answer");
	} else if (strcmp(status, "success")) {
		const char *type = json_string_value(json_object_get(root, "errorType"));
		const char *msg = json_string_value(json_object_get(root, "error"));
		*err = xasprintf("Prometheus: %s%s%s", type ? type : "error", msg ? ": " : "", msg ? msg : "");
	} else {
		json_t *data = json_object_get(root, "data");
		const char *type = json_string_value(json_object_get(data, "resultType"));
		json_t *result = json_object_get(data, "result");
		if (type && !strcmp(type, "scalar")) {
			ok = value_of(result, total);
			if (!ok)
				*err = xstrdup("the query's value is not a finite number");
		} else if (type && !strcmp(type, "vector") && json_is_array(result)) {
			ok = true;
			size_t i;
			json_t *sample;
			json_array_foreach(result, i, sample) {
				double v;
				if (!value_of(json_object_get(sample, "value"), &v)) {
					ok = false;
					*err = xstrdup("a sample of the query is not a finite number");
					break;
				}
				*total += v;
			}
		} else {
			*err = xasprintf("the query gives a %s; autoscaling needs an instant vector or a scalar",
					 type ? type : "result of no type");
		}
	}
	json_decref(root);
	return ok;
}

static void query_one(const spec_autoscale *a, swarm_query *q)
{
	CURL *c = curl_easy_init();
	if (!c) {
		q->error = xstrdup("cannot make an HTTP handle");
		return;
	}
	char *enc = curl_easy_escape(c, a->query, 0);
	size_t n = strlen(a->prometheus);
	while (n && a->prometheus[n - 1] == '/')
		n--;
	char *url = xasprintf("%.*s/api/v1/query?query=%s", (int)n, a->prometheus, enc ? enc : "");
	curl_free(enc);
	http_buffer out = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	http_setup s = {.url = url, .method = "GET", .timeout_ms = PROM_TIMEOUT_MS, .connect_timeout_ms = 3000,
			.web_only = true, .out = &out, .max_body = PROM_MAX_BODY, .errbuf = errbuf};
	http_easy_setup(c, &s);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK) {
		q->error = xasprintf("cannot query Prometheus at %s: %s", a->prometheus, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		char *err = NULL;
		q->ok = swarm_prom_total(out.data, &q->total, &err);
		if (!q->ok && code >= 300) {
			q->error = xasprintf("HTTP %ld: %s", code, err);
			free(err);
		} else {
			q->error = err;
		}
	}
	http_buffer_wipe(&out);
	http_easy_release(c);
	curl_easy_cleanup(c);
	free(url);
}

void swarm_prom_observe(const struct spec_model *m, swarm_state *st)
{
	const spec_swarm *sw = &m->swarm;
	size_t n = 0;
	for (size_t i = 0; i < sw->n_services; i++)
		n += sw->services[i].deploy.autoscale.present && sw->services[i].deploy.autoscale.prometheus;
	if (!n)
		return;
	http_global_init();
	st->queries = xcalloc(n, sizeof(*st->queries));
	for (size_t i = 0; i < sw->n_services; i++) {
		const spec_service *s = &sw->services[i];
		if (!s->deploy.autoscale.present || !s->deploy.autoscale.prometheus)
			continue;
		swarm_query *q = &st->queries[st->n_queries++];
		q->service = xstrdup(s->name);
		query_one(&s->deploy.autoscale, q);
		st->usage_requests++;
	}
}
