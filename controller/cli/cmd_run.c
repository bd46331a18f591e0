/* berth run: the long-lived controller (run/run.c), configured by flags or BERTH_* variables. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/cli_notify.h"
#include "cli/cli_run.h"
#include "cli/cli_source.h"
#include "core/util.h"
#include "spec/spec.h"
#include "run/run.h"

static void run_usage(FILE *out)
{
	fputs("usage: berth run [--repo URL [--ref REF] [--path DIR] | PATH] [--interval DUR] [--listen ADDR:PORT]\n"
	      "                 [--webhook-secret-file F] [--once] [--log-format text|json]\n"
	      "                 [--notify URL]... [--commit-status github|gitlab|gitea]\n"
	      "                 [--leader-lease URL [--leader-lease-duration DUR] [--instance-id ID]]\n\n"
	      "Runs berth as a controller: every interval (and at once on a webhook for the watched ref) it\n"
	      "fetches the spec and applies it, so a push changes the world and drift is corrected. A commit\n"
	      "that fails is retried with backoff (at most 10 intervals); a new commit is tried at once.\n"
	      "SIGTERM or SIGINT: no further step starts, the one in flight finishes (10 s at most), exit 0.\n\n"
	      "  --interval DUR        how often to fetch and reconcile (default 1m); also BERTH_INTERVAL\n"
	      "  --listen ADDR:PORT    webhooks, /healthz, /readyz, /status, /metrics; also BERTH_LISTEN\n"
	      "  --webhook-secret-file F  the webhooks' shared secret; also BERTH_WEBHOOK_SECRET_FILE\n"
	      "  --once                one fetch and reconcile, then exit 0 (applied) or 1 (for CI)\n"
	      "  --log-format FMT      text (default) or json lines; also BERTH_LOG_FORMAT\n"
	      "  --parallelism N       independent steps at once (default 8)\n"
	      "  --timeout DURATION    how long a service may take to converge (default 2m)\n"
	      "  --allow-mass-delete   allow plans that delete more than 5 objects and 25% of what berth owns\n"
	      "  --leader-lease URL    replicas elect a leader on this Azure blob lease; only it applies\n"
	      "                        (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB[?SAS]); also\n"
	      "                        BERTH_LEADER_LEASE\n"
	      "  --leader-lease-duration DUR  the lease, 15s to 60s (default 30s), renewed every third;\n"
	      "                        also BERTH_LEADER_LEASE_DURATION\n"
	      "  --leader-lease-key-file F  the storage account key (else the SAS, else the Azure\n"
	      "                        credential chain); also BERTH_LEADER_LEASE_KEY_FILE\n"
	      "  --leader-lease-ca-file F  PEM CAs trusted for the lease's https instead of the system's\n"
	      "                        (a private CA); also BERTH_LEADER_LEASE_CA_FILE\n"
	      "  --instance-id ID      this replica's name in the lease (default HOSTNAME-PID); also\n"
	      "                        BERTH_INSTANCE_ID\n"
	      "  -h, --help            show this help\n",
	      out);
	cli_source_usage(out);
	cli_notify_usage(out);
}

static berth_cancel *stop_token;

static void on_signal(int sig)
{
	/* The loop logs the stop (in the log's format); a handler may only set the flag. */
	signal(sig, SIG_DFL); /* the second one ends the process */
	berth_cancel_fire(stop_token);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

enum { OPT_INTERVAL = 256, OPT_LISTEN, OPT_SECRET, OPT_ONCE, OPT_LOGFMT, OPT_PAR, OPT_TIMEOUT, OPT_MASS, OPT_LEASE, OPT_LEASE_DUR,
       OPT_LEASE_KEY, OPT_LEASE_CA, OPT_INSTANCE };

int cmd_run(int argc, char **argv)
{
	static const struct option own[] = {
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"webhook-secret-file", required_argument, NULL, OPT_SECRET},
		{"once", no_argument, NULL, OPT_ONCE},
		{"log-format", required_argument, NULL, OPT_LOGFMT},
		{"parallelism", required_argument, NULL, OPT_PAR},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"allow-mass-delete", no_argument, NULL, OPT_MASS},
		{"leader-lease", required_argument, NULL, OPT_LEASE},
		{"leader-lease-duration", required_argument, NULL, OPT_LEASE_DUR},
		{"leader-lease-key-file", required_argument, NULL, OPT_LEASE_KEY},
		{"leader-lease-ca-file", required_argument, NULL, OPT_LEASE_CA},
		{"instance-id", required_argument, NULL, OPT_INSTANCE},
		{"help", no_argument, NULL, 'h'},
	};
	struct option opts[sizeof(own) / sizeof(own[0]) + CLI_SOURCE_OPTIONS_N + CLI_NOTIFY_OPTIONS_N + 1];
	memcpy(opts, own, sizeof(own));
	memcpy(opts + sizeof(own) / sizeof(own[0]), cli_source_options, CLI_SOURCE_OPTIONS_N * sizeof(struct option));
	memcpy(opts + sizeof(own) / sizeof(own[0]) + CLI_SOURCE_OPTIONS_N, cli_notify_options,
	       (CLI_NOTIFY_OPTIONS_N + 1) * sizeof(struct option));
	cli_source_opts so;
	cli_source_defaults(&so);
	cli_notify_opts no;
	cli_notify_defaults(&no);
	berth_run_config cfg = {.opts = {.parallelism = 8, .converge_timeout_s = 120}, .clock = cli_clock()};
	cli_env_options(&cfg.opts);
	const char *interval = env("BERTH_INTERVAL"), *secret_file = env("BERTH_WEBHOOK_SECRET_FILE");
	const char *logfmt = env("BERTH_LOG_FORMAT");
	berth_leader_config leader = {.url = env("BERTH_LEADER_LEASE"),
				      .ca_file = env("BERTH_LEADER_LEASE_CA_FILE"),
				      .instance_id = env("BERTH_INSTANCE_ID")};
	const char *lease_dur = env("BERTH_LEADER_LEASE_DURATION"), *lease_key_file = env("BERTH_LEADER_LEASE_KEY_FILE");
	cfg.listen = env("BERTH_LISTEN");
	cfg.once = env("BERTH_ONCE") && strcmp(env("BERTH_ONCE"), "0") && strcmp(env("BERTH_ONCE"), "false");
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_source_option(&so, ch, optarg) || cli_notify_option(&no, ch, optarg))
			continue;
		switch (ch) {
		case OPT_INTERVAL: interval = optarg; break;
		case OPT_LISTEN: cfg.listen = optarg; break;
		case OPT_SECRET: secret_file = optarg; break;
		case OPT_ONCE: cfg.once = true; break;
		case OPT_LOGFMT: logfmt = optarg; break;
		case OPT_MASS: cfg.opts.allow_mass_delete = true; break;
		case OPT_LEASE: leader.url = optarg; break;
		case OPT_LEASE_DUR: lease_dur = optarg; break;
		case OPT_LEASE_KEY: lease_key_file = optarg; break;
		case OPT_LEASE_CA: leader.ca_file = optarg; break;
		case OPT_INSTANCE: leader.instance_id = optarg; break;
		case OPT_PAR: {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 1 || n > 256) {
				fprintf(stderr, "berth run: --parallelism must be between 1 and 256\n");
				return 2;
			}
			cfg.opts.parallelism = (int)n;
			break;
		}
		case OPT_TIMEOUT: {
			int64_t ns;
			if (!spec_parse_duration(optarg, &ns) || ns <= 0) {
				fprintf(stderr, "berth run: --timeout takes a duration like 90s or 5m\n");
				return 2;
			}
			cfg.opts.converge_timeout_s = (double)ns / 1e9;
			break;
		}
		case 'h': run_usage(stdout); cli_notify_opts_free(&no); return 0;
		default: run_usage(stderr); cli_notify_opts_free(&no); return 2;
		}
	}
	if (argc - optind > 1 || (so.repo && argc - optind == 1)) {
		fprintf(stderr, "berth run: give --repo URL (and --path DIR inside it) or one PATH, not both\n");
		return 2;
	}
	if (interval) {
		int64_t ns;
		if (!spec_parse_duration(interval, &ns) || ns < 1000000000LL) {
			fprintf(stderr, "berth run: --interval takes a duration of at least 1s, like 30s or 5m\n");
			return 2;
		}
		cfg.interval_s = (double)ns / 1e9;
	}
	if (logfmt && strcmp(logfmt, "text") && strcmp(logfmt, "json")) {
		fprintf(stderr, "berth run: --log-format is text or json\n");
		return 2;
	}
	cfg.json_logs = logfmt && !strcmp(logfmt, "json");
	char *secret = NULL;
	if (secret_file && !(secret = cli_read_first_line(secret_file))) {
		fprintf(stderr, "berth run: cannot read the webhook secret file %s\n", secret_file);
		return 2;
	}
	cfg.webhook_secret = secret;
	char *lease_key = NULL;
	if (leader.url) {
		int64_t ns = 30000000000LL;
		if (lease_dur && (!spec_parse_duration(lease_dur, &ns) || ns < 15000000000LL || ns > 60000000000LL ||
				  ns % 1000000000LL)) {
			fprintf(stderr, "berth run: --leader-lease-duration takes whole seconds from 15s to 60s\n");
			free(secret);
			return 2;
		}
		leader.duration_s = (double)(ns / 1000000000LL);
		/* Said now, not as a TLS error on every try of the lease. */
		if (leader.ca_file && access(leader.ca_file, R_OK) != 0) {
			fprintf(stderr, "berth run: cannot read the CA file %s\n", leader.ca_file);
			free(secret);
			return 2;
		}
		if (lease_key_file && !(lease_key = cli_read_first_line(lease_key_file))) {
			fprintf(stderr, "berth run: cannot read the storage account key file %s\n", lease_key_file);
			free(secret);
			return 2;
		}
		leader.account_key = lease_key;
		cfg.leader = &leader;
	}
	int status = 2;
	if (cli_notify_config(&no, &cfg) == 0 && cli_source_config(&so, optind < argc ? argv[optind] : ".", &cfg.source) == 0) {
		cfg.stop = stop_token = berth_cancel_new();
		cfg.abort = berth_cancel_new();
		cli_catch_stop_signals(on_signal);
		berth_error err = {0};
		status = berth_run(&cfg, &err);
		if (status == 2)
			fprintf(stderr, "berth run: %s\n", err.message ? err.message : berth_error_code_name(err.code));
		berth_error_clear(&err);
		cli_catch_stop_signals(NULL);
		berth_cancel_free(cfg.stop);
		berth_cancel_free(cfg.abort);
	}
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	if (lease_key) {
		OPENSSL_cleanse(lease_key, strlen(lease_key));
		free(lease_key);
	}
	cli_source_opts_free(&so);
	cli_notify_opts_free(&no);
	return status;
}
