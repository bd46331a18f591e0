/* The rollout probe: see probe.h. A fresh handle per probe — probes are seconds apart and each
 * must see a new connection, as a user arriving through DNS would. */
#include "transport/probe.h"

#include <stdlib.h>
#include <string.h>

#include "spec/xalloc.h"
#include "transport/http.h"

int probe_http(const char *url, const char *connect_to, double timeout_s, berth_cancel *cancel)
{
	if (http_global_init() != CURLE_OK)
		return -1;
	CURL *c = curl_easy_init();
	if (!c)
		return -1;
	http_buffer out = {.max = 64 * 1024};
	http_setup s = {.url = url,
			.method = "GET",
			.timeout_ms = (long)(timeout_s * 1000),
			.connect_timeout_ms = (long)(timeout_s * 1000),
			.no_proxy = false,
			.web_only = true,
			.out = &out,
			.max_body = 64 * 1024,
			.cancel = cancel};
	http_easy_setup(c, &s);
	struct curl_slist *to = NULL;
	if (connect_to && *connect_to) {
		char *copy = xstrdup(connect_to), *save = NULL;
		for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save))
			to = curl_slist_append(to, e);
		free(copy);
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, to);
	}
	CURLcode rc = curl_easy_perform(c);
	long status = -1;
	if (rc == CURLE_OK || rc == CURLE_WRITE_ERROR)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	http_easy_release(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(to);
	http_buffer_wipe(&out);
	return status > 0 ? (int)status : -1;
}
