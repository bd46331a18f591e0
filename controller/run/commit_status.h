/* Commit statuses: after a reconcile of a git revision berth run posts its result on the commit
 * through the forge's REST API, so the commit shows whether (and how) it was applied:
 *
 *   github  POST {base}/repos/{owner}/{repo}/statuses/{sha}   Authorization: Bearer TOKEN
 *           {"state": pending|success|failure, "description", "context"}
 *           base: https://api.github.com (github.com), else https://HOST/api/v3 (Enterprise)
 *   gitlab  POST {base}/projects/{url-encoded path}/statuses/{sha}   PRIVATE-TOKEN: TOKEN
 *           {"state": running|success|failed, "name", "description"}
 *           base: https://HOST/api/v4
 *   gitea   POST {base}/repos/{owner}/{repo}/statuses/{sha}   Authorization: token TOKEN
 *           {"state": pending|success|failure, "description", "context"}
 *           base: https://HOST/api/v1
 *
 * The owner and repository (GitLab: the project's path, groups included) come from the --repo URL;
 * --commit-status-url replaces the base. A revision gets "pending" when its first reconcile starts
 * and then its result; later reconciles post again only when the result changes, so a commit does
 * not collect a status per interval (GitHub keeps at most 1000 per commit and context). */
#ifndef BERTH_COMMIT_STATUS_H
#define BERTH_COMMIT_STATUS_H
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/metrics.h"
#include "run/run_log.h"

typedef enum { FORGE_GITHUB = 1, FORGE_GITLAB, FORGE_GITEA } forge_kind;

typedef struct commit_status_config {
	const char *forge;    /* "github", "gitlab", "gitea"; NULL: off */
	const char *token;    /* borrowed */
	const char *api_url;  /* the API base; NULL: derived from the repository's host */
	const char *context;  /* the status's name on the commit; NULL: "berth" */
} commit_status_config;

/* What the forge's API needs to know: where the statuses of a commit are posted. */
typedef struct forge_target {
	forge_kind kind;
	char *statuses;  /* "{base}/repos/{owner}/{repo}/statuses/" or "{base}/projects/{id}/statuses/" */
} forge_target;

/* One request, ready for the outbox. */
typedef struct forge_request {
	char *url;
	char *headers[3];
	size_t n_headers;
	char *body;
} forge_request;

typedef enum { COMMIT_PENDING, COMMIT_SUCCESS, COMMIT_FAILURE } commit_state;

/* The pure parts, for tests. A forge's name. */
bool forge_parse(const char *name, forge_kind *out);
/* The target from the repository URL (https://, http://, ssh://, scp-like user@host:path; the
 * credentials in it are ignored) and the API base (NULL: derived). */
int forge_target_from_url(forge_kind kind, const char *repo_url, const char *api_base, forge_target *out,
			  berth_error *err);
void forge_target_free(forge_target *t);
/* The request that posts state on sha. */
void forge_request_build(const forge_target *t, const char *token, const char *sha, commit_state state,
			 const char *description, const char *context, forge_request *out);
void forge_request_free(forge_request *r);

typedef struct commit_status commit_status;

/* NULL with *err when the forge or the repository URL is wrong; NULL without an error when off
 * (cfg->forge NULL). Declares berth_commit_statuses_total{result} and
 * berth_commit_statuses_dropped_total. */
commit_status *commit_status_new(const commit_status_config *cfg, const char *repo_url, berth_metrics *metrics,
				 const run_log *log, berth_error *err);
/* Queues the state of sha (a no-op on NULL): pending only for a commit other than the last one
 * posted, a result only when it differs from the last one posted. */
void commit_status_post(commit_status *cs, const char *sha, commit_state state, const char *description);
/* Sends what is queued (2 s at most), then frees. */
void commit_status_free(commit_status *cs);

#endif
