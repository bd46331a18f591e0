/* Names derived from the model, per Azure cloud: pure functions, the one place that knows the
 * DNS suffixes of Azure Files and Container Instances. The cloud is the one the spec's
 * azure.endpoints.resource_manager names (public Azure when absent, and for loopback simulators,
 * which stand in for it). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec.h"
#include "xalloc.h"

typedef struct {
	const char *rm_host_suffix; /* how the resource manager's host ends */
	const char *storage;        /* storage endpoint suffix */
	const char *aci;            /* container group FQDN suffix */
} cloud;

static const cloud clouds[] = {
	{"usgovcloudapi.net", "core.usgovcloudapi.net", "azurecontainer.console.azure.us"},
	{"chinacloudapi.cn", "core.chinacloudapi.cn", "azurecontainer.console.azure.cn"},
};
static const cloud public_cloud = {"azure.com", "core.windows.net", "azurecontainer.io"};

static const cloud *cloud_of(const struct spec_model *m)
{
	const char *url = m ? m->azure.resource_manager_endpoint : NULL;
	if (!url)
		return &public_cloud;
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t len = strcspn(host, ":/");
	for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++) {
		size_t n = strlen(clouds[i].rm_host_suffix);
		if (len >= n && !strncasecmp(host + len - n, clouds[i].rm_host_suffix, n) &&
		    (len == n || host[len - n - 1] == '.'))
			return &clouds[i];
	}
	return &public_cloud;
}

const char *spec_storage_suffix(const struct spec_model *m)
{
	return cloud_of(m)->storage;
}

char *spec_file_share_host(const struct spec_model *m, const char *account)
{
	return xasprintf("%s.file.%s", account, spec_storage_suffix(m));
}

char *spec_file_share_unc(const struct spec_model *m, const char *account, const char *share)
{
	return xasprintf("//%s.file.%s/%s", account, spec_storage_suffix(m), share);
}

char *spec_aci_fqdn(const struct spec_model *m, const spec_container_group *g)
{
	if (!g || !g->dns_label)
		return NULL;
	return xasprintf("%s.%s.%s", g->dns_label, m->azure.location, cloud_of(m)->aci);
}

const char *spec_file_share_account(const struct spec_model *m, const char *share)
{
	for (size_t i = 0; i < m->azure.n_file_shares; i++)
		if (!strcmp(m->azure.file_shares[i].name, share))
			return m->azure.file_shares[i].storage_account;
	return NULL;
}

const spec_traffic_manager *spec_rollout_profile(const struct spec_model *m, const spec_container_group *g)
{
	for (size_t i = 0; g->rollout.traffic_manager && i < m->azure.n_traffic_managers; i++)
		if (!strcmp(m->azure.traffic_managers[i].name, g->rollout.traffic_manager))
			return &m->azure.traffic_managers[i];
	return NULL;
}

void spec_rollout_min_pause_terms(const spec_traffic_manager *tm, int64_t *ttl, int64_t *interval, int64_t *tolerated)
{
	*ttl = tm->ttl >= 0 ? tm->ttl : 30;
	*interval = tm->monitor_interval > 0 ? tm->monitor_interval : 30;
	*tolerated = tm->monitor_tolerated_failures >= 0 ? tm->monitor_tolerated_failures : 3;
}

int64_t spec_rollout_min_pause_s(const spec_traffic_manager *tm)
{
	int64_t ttl, interval, tolerated;
	spec_rollout_min_pause_terms(tm, &ttl, &interval, &tolerated);
	return ttl + interval * (tolerated + 1);
}

int64_t spec_rollout_pause_s(const struct spec_model *m, const spec_container_group *g, size_t i)
{
	const spec_rollout *r = &g->rollout;
	if (i < r->n_steps && r->steps[i].pause_ns >= 0)
		return r->steps[i].pause_ns / 1000000000LL;
	if (r->pause_ns >= 0)
		return r->pause_ns / 1000000000LL;
	const spec_traffic_manager *tm = spec_rollout_profile(m, g);
	return tm ? spec_rollout_min_pause_s(tm) : 0;
}
