/* berth run's notification and commit status options (cli_notify.h). */
#include "cli/cli_notify.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_source.h"
#include "spec/xalloc.h"

enum { OPT_NOTIFY = CLI_NOTIFY_OPT_BASE, OPT_NOTIFY_SECRET, OPT_FORGE, OPT_FORGE_TOKEN, OPT_FORGE_URL };

const struct option cli_notify_options[] = {
	{"notify", required_argument, NULL, OPT_NOTIFY},
	{"notify-secret-file", required_argument, NULL, OPT_NOTIFY_SECRET},
	{"commit-status", required_argument, NULL, OPT_FORGE},
	{"commit-status-token-file", required_argument, NULL, OPT_FORGE_TOKEN},
	{"commit-status-url", required_argument, NULL, OPT_FORGE_URL},
	{0},
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static void add_url(cli_notify_opts *o, const char *url, size_t n)
{
	o->urls = xrealloc(o->urls, (o->n_urls + 1) * sizeof(char *));
	o->urls[o->n_urls++] = xstrndup(url, n);
}

static void clear_urls(cli_notify_opts *o)
{
	for (size_t i = 0; i < o->n_urls; i++)
		free(o->urls[i]);
	free(o->urls);
	o->urls = NULL;
	o->n_urls = 0;
}

void cli_notify_defaults(cli_notify_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (const char *p = env("BERTH_NOTIFY"); p && *p;) {
		p += strspn(p, ", \t\n");
		size_t n = strcspn(p, ", \t\n");
		if (n)
			add_url(o, p, n);
		p += n;
	}
	o->secret_file = env("BERTH_NOTIFY_SECRET_FILE");
	o->forge = env("BERTH_COMMIT_STATUS");
	o->token_file = env("BERTH_COMMIT_STATUS_TOKEN_FILE");
	o->api_url = env("BERTH_COMMIT_STATUS_URL");
}

bool cli_notify_option(cli_notify_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_NOTIFY:
		if (!o->urls_from_flags)
			clear_urls(o);
		o->urls_from_flags = true;
		add_url(o, arg, strlen(arg));
		return true;
	case OPT_NOTIFY_SECRET: o->secret_file = arg; return true;
	case OPT_FORGE: o->forge = arg; return true;
	case OPT_FORGE_TOKEN: o->token_file = arg; return true;
	case OPT_FORGE_URL: o->api_url = arg; return true;
	default: return false;
	}
}

int cli_notify_config(cli_notify_opts *o, berth_run_config *cfg)
{
	for (size_t i = 0; i < o->n_urls; i++)
		if (strncmp(o->urls[i], "http://", 7) && strncmp(o->urls[i], "https://", 8)) {
			fprintf(stderr, "berth run: --notify takes an http:// or https:// URL\n");
			return 2;
		}
	if (o->secret_file && !(o->secret = cli_read_first_line(o->secret_file))) {
		fprintf(stderr, "berth run: cannot read the notify secret file %s\n", o->secret_file);
		return 2;
	}
	if (o->forge && strcmp(o->forge, "github") && strcmp(o->forge, "gitlab") && strcmp(o->forge, "gitea")) {
		fprintf(stderr, "berth run: --commit-status is github, gitlab or gitea\n");
		return 2;
	}
	if (o->forge && !o->token_file) {
		fprintf(stderr, "berth run: --commit-status needs --commit-status-token-file\n");
		return 2;
	}
	if (o->forge && !(o->token = cli_read_first_line(o->token_file))) {
		fprintf(stderr, "berth run: cannot read the commit status token file %s\n", o->token_file);
		return 2;
	}
	const char *queue = env("BERTH_NOTIFY_QUEUE");
	if (queue) {
		char *end = NULL;
		long n = strtol(queue, &end, 10);
		if (*end || n < 1 || n > 100000) {
			fprintf(stderr, "berth run: BERTH_NOTIFY_QUEUE is a length between 1 and 100000\n");
			return 2;
		}
		cfg->notify.queue = (size_t)n;
	}
	cfg->notify.urls = (const char *const *)o->urls;
	cfg->notify.n_urls = o->n_urls;
	cfg->notify.secret = o->secret;
	cfg->commit_status.forge = o->forge;
	cfg->commit_status.token = o->token;
	cfg->commit_status.api_url = o->api_url;
	return 0;
}

static void wipe(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void cli_notify_opts_free(cli_notify_opts *o)
{
	clear_urls(o);
	wipe(o->secret);
	wipe(o->token);
	o->secret = o->token = NULL;
}

void cli_notify_usage(FILE *out)
{
	fputs("\nNotifications and commit statuses (docs/controller.md#notifications):\n"
	      "  --notify URL          POST a JSON event on apply success or failure, rollout steps and\n"
	      "                        rollbacks and drift corrections (repeatable); also BERTH_NOTIFY\n"
	      "  --notify-secret-file F  sign events with X-Signature-256 (HMAC-SHA256); also\n"
	      "                        BERTH_NOTIFY_SECRET_FILE\n"
	      "  --commit-status FORGE  github, gitlab or gitea: post each reconcile's result on the commit;\n"
	      "                        also BERTH_COMMIT_STATUS\n"
	      "  --commit-status-token-file F  the forge's API token; also BERTH_COMMIT_STATUS_TOKEN_FILE\n"
	      "  --commit-status-url URL  the forge's API base (Enterprise, self-hosted); default from the\n"
	      "                        --repo host; also BERTH_COMMIT_STATUS_URL\n",
	      out);
}
