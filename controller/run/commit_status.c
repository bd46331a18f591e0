/* Commit statuses on GitHub, GitLab and Gitea (see commit_status.h): the target from the
 * repository URL, the request each forge documents, and an outbox to send them. */
#include "run/commit_status.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "run/outbox.h"
#include "spec/xalloc.h"

struct commit_status {
	forge_target target;
	char *token;
	char *context;
	outbox *out;
	char *last_sha; /* what was last posted (the loop's thread only) */
	commit_state last_state;
};

bool forge_parse(const char *name, forge_kind *out)
{
	static const char *const names[] = {"github", "gitlab", "gitea"};
	for (int i = 0; i < 3; i++)
		if (name && !strcmp(name, names[i])) {
			*out = (forge_kind)(i + 1);
			return true;
		}
	return false;
}

/* Splits a repository URL into its host (with the port, for the API base's default) and path. */
static bool split_url(const char *url, char **host, char **path)
{
	const char *rest = strstr(url, "://");
	const char *h, *p;
	if (rest) {
		h = rest + 3;
		p = h + strcspn(h, "/");
	} else {
		/* scp-like: [user@]host:path */
		const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
		if (!colon || (slash && slash < colon))
			return false;
		h = url;
		p = colon + 1;
	}
	const char *at = memchr(h, '@', (size_t)((rest ? p : p - 1) - h));
	if (at)
		h = at + 1;
	size_t hn = (size_t)((rest ? p : p - 1) - h);
	if (!hn)
		return false;
	*host = xstrndup(h, hn);
	while (*p == '/')
		p++;
	size_t pn = strlen(p);
	while (pn && p[pn - 1] == '/')
		pn--;
	if (pn > 4 && !strncmp(p + pn - 4, ".git", 4))
		pn -= 4;
	*path = xstrndup(p, pn);
	return true;
}

int forge_target_from_url(forge_kind kind, const char *repo_url, const char *api_base, forge_target *out,
			  berth_error *err)
{
	memset(out, 0, sizeof(*out));
	char *host = NULL, *path = NULL;
	if (!repo_url || !split_url(repo_url, &host, &path) || !*path || !strchr(path, '/') ||
	    (kind != FORGE_GITLAB && strchr(strchr(path, '/') + 1, '/'))) {
		free(host);
		free(path);
		return berth_error_set(err, BERTH_EINVALID,
				       "--commit-status needs a --repo URL that names %s (as https://HOST/%s)",
				       kind == FORGE_GITLAB ? "the project" : "the owner and the repository",
				       kind == FORGE_GITLAB ? "GROUP/PROJECT.git" : "OWNER/REPO.git");
	}
	/* ssh URLs name the ssh port: the API is on https at the host. */
	bool web = !strncmp(repo_url, "http://", 7) || !strncmp(repo_url, "https://", 8);
	if (!web)
		host[strcspn(host, ":")] = 0;
	const char *scheme = !strncmp(repo_url, "http://", 7) ? "http" : "https";
	char *base = api_base ? xstrdup(api_base)
		     : kind == FORGE_GITHUB && !strcmp(host, "github.com") ? xstrdup("https://api.github.com")
		     : xasprintf("%s://%s/api/%s", scheme, host, kind == FORGE_GITHUB ? "v3" : kind == FORGE_GITLAB ? "v4" : "v1");
	size_t bn = strlen(base);
	while (bn && base[bn - 1] == '/')
		base[--bn] = 0;
	if (kind == FORGE_GITLAB) {
		char *id = curl_easy_escape(NULL, path, 0);
		out->statuses = xasprintf("%s/projects/%s/statuses/", base, id);
		curl_free(id);
	} else {
		out->statuses = xasprintf("%s/repos/%s/statuses/", base, path);
	}
	out->kind = kind;
	free(base);
	free(host);
	free(path);
	return 0;
}

void forge_target_free(forge_target *t)
{
	free(t->statuses);
	t->statuses = NULL;
}

void forge_request_build(const forge_target *t, const char *token, const char *sha, commit_state state,
			 const char *description, const char *context, forge_request *out)
{
	memset(out, 0, sizeof(*out));
	static const char *const github[] = {"pending", "success", "failure"};
	static const char *const gitlab[] = {"running", "success", "failed"};
	/* GitHub and GitLab keep 140 and 255 characters of a description: cut at 140, on a UTF-8 boundary. */
	size_t n = strlen(description);
	if (n > 140) {
		n = 140;
		while (n && ((unsigned char)description[n] & 0xC0) == 0x80)
			n--;
	}
	char *desc = xstrndup(description, n);
	out->url = xasprintf("%s%s", t->statuses, sha);
	json_t *j;
	if (t->kind == FORGE_GITLAB) {
		j = json_pack("{s:s, s:s, s:s}", "state", gitlab[state], "name", context, "description", desc);
		out->headers[out->n_headers++] = xasprintf("PRIVATE-TOKEN: %s", token);
	} else {
		j = json_pack("{s:s, s:s, s:s}", "state", github[state], "context", context, "description", desc);
		if (t->kind == FORGE_GITHUB) {
			out->headers[out->n_headers++] = xasprintf("Authorization: Bearer %s", token);
			out->headers[out->n_headers++] = xstrdup("Accept: application/vnd.github+json");
			out->headers[out->n_headers++] = xstrdup("X-GitHub-Api-Version: 2022-11-28");
		} else {
			out->headers[out->n_headers++] = xasprintf("Authorization: token %s", token);
			out->headers[out->n_headers++] = xstrdup("Accept: application/json");
		}
	}
	out->body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	free(desc);
}

void forge_request_free(forge_request *r)
{
	free(r->url);
	for (size_t i = 0; i < r->n_headers; i++) {
		OPENSSL_cleanse(r->headers[i], strlen(r->headers[i]));
		free(r->headers[i]);
	}
	free(r->body);
	memset(r, 0, sizeof(*r));
}

commit_status *commit_status_new(const commit_status_config *cfg, const char *repo_url, berth_metrics *metrics,
				 const run_log *log, berth_error *err)
{
	if (!cfg || !cfg->forge)
		return NULL;
	forge_kind kind;
	if (!forge_parse(cfg->forge, &kind)) {
		berth_error_set(err, BERTH_EINVALID, "--commit-status is github, gitlab or gitea, not %s", cfg->forge);
		return NULL;
	}
	if (!cfg->token || !*cfg->token) {
		berth_error_set(err, BERTH_EINVALID, "--commit-status needs a token (--commit-status-token-file)");
		return NULL;
	}
	commit_status *cs = xcalloc(1, sizeof(*cs));
	if (forge_target_from_url(kind, repo_url, cfg->api_url, &cs->target, err) != 0) {
		free(cs);
		return NULL;
	}
	berth_metrics_declare(metrics, "berth_commit_statuses_total", BERTH_COUNTER,
			      "Commit statuses posted to the forge, by result (sent: a 2xx answer; failed: given up).", NULL, 0);
	berth_metrics_declare(metrics, "berth_commit_statuses_dropped_total", BERTH_COUNTER,
			      "Commit statuses dropped because the queue was full.", NULL, 0);
	cs->token = xstrdup(cfg->token);
	cs->context = xstrdup(cfg->context ? cfg->context : "berth");
	outbox_config oc = {.what = "commit status", .metrics = metrics, .sent_metric = "berth_commit_statuses_total",
			    .dropped_metric = "berth_commit_statuses_dropped_total", .log = log};
	cs->out = outbox_new(&oc);
	if (!cs->out)
		run_log_line(log, "error", "cannot start the commit status sender: commit statuses are off", (const char *)NULL);
	return cs;
}

void commit_status_post(commit_status *cs, const char *sha, commit_state state, const char *description)
{
	if (!cs || !cs->out || !sha)
		return;
	bool same_sha = cs->last_sha && !strcmp(cs->last_sha, sha);
	if (same_sha && (state == COMMIT_PENDING || cs->last_state == state))
		return; /* pending only before a commit's first result; then only changes */
	free(cs->last_sha);
	cs->last_sha = xstrdup(sha);
	cs->last_state = state;
	forge_request r;
	forge_request_build(&cs->target, cs->token, sha, state, description, cs->context, &r);
	outbox_post(cs->out, r.url, (const char *const *)r.headers, r.n_headers, r.body);
	forge_request_free(&r);
}

void commit_status_free(commit_status *cs)
{
	if (!cs)
		return;
	outbox_free(cs->out, 2);
	forge_target_free(&cs->target);
	OPENSSL_cleanse(cs->token, strlen(cs->token));
	free(cs->token);
	free(cs->context);
	free(cs->last_sha);
	free(cs);
}
