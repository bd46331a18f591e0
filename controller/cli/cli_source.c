/* --repo and its friends for plan, apply and run. */
#include "cli/cli_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "core/util.h"
#include "spec/spec.h"

enum {
	OPT_REPO = CLI_SOURCE_OPT_BASE,
	OPT_REF,
	OPT_PATH,
	OPT_CACHE,
	OPT_PWFILE,
	OPT_SSHKEY,
	OPT_KNOWN,
	OPT_CA,
	OPT_VERIFY,
	OPT_USER,
};

const struct option cli_source_options[] = {
	{"repo", required_argument, NULL, OPT_REPO},
	{"ref", required_argument, NULL, OPT_REF},
	{"path", required_argument, NULL, OPT_PATH},
	{"cache-dir", required_argument, NULL, OPT_CACHE},
	{"git-password-file", required_argument, NULL, OPT_PWFILE},
	{"ssh-key", required_argument, NULL, OPT_SSHKEY},
	{"known-hosts", required_argument, NULL, OPT_KNOWN},
	{"git-ca-file", required_argument, NULL, OPT_CA},
	{"verify-signatures", required_argument, NULL, OPT_VERIFY},
	{"git-username", required_argument, NULL, OPT_USER},
	{NULL, 0, NULL, 0},
};

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

void cli_source_defaults(cli_source_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->repo = env("BERTH_REPO");
	o->ref = env("BERTH_REF");
	o->path = env("BERTH_PATH");
	o->cache_dir = env("BERTH_CACHE_DIR");
	o->username = env("BERTH_GIT_USERNAME");
	o->password_file = env("BERTH_GIT_PASSWORD_FILE");
	o->ssh_key = env("BERTH_SSH_KEY");
	o->known_hosts = env("BERTH_KNOWN_HOSTS");
	o->ca_file = env("BERTH_GIT_CA_FILE");
	o->verify_keys = env("BERTH_VERIFY_SIGNATURES");
}

bool cli_source_option(cli_source_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_REPO: o->repo = arg; return true;
	case OPT_REF: o->ref = arg; return true;
	case OPT_PATH: o->path = arg; return true;
	case OPT_CACHE: o->cache_dir = arg; return true;
	case OPT_PWFILE: o->password_file = arg; return true;
	case OPT_SSHKEY: o->ssh_key = arg; return true;
	case OPT_KNOWN: o->known_hosts = arg; return true;
	case OPT_CA: o->ca_file = arg; return true;
	case OPT_VERIFY: o->verify_keys = arg; return true;
	case OPT_USER: o->username = arg; return true;
	default: return false;
	}
}

void cli_source_usage(FILE *out)
{
	fputs("  --repo URL            read the spec from a git repository (https://, http://, ssh://,\n"
	      "                        user@host:path or a local path) instead of PATH; also BERTH_REPO\n"
	      "  --ref REF             a branch (default main), a tag or a full commit SHA; also BERTH_REF\n"
	      "  --path DIR            the spec file or directory inside the repository; also BERTH_PATH\n"
	      "  --cache-dir DIR       where fetched repositories are kept; also BERTH_CACHE_DIR\n"
	      "  --git-username NAME   HTTP user (or BERTH_GIT_USERNAME); the password or token comes from\n"
	      "  --git-password-file F   F, or BERTH_GIT_PASSWORD_FILE, or BERTH_GIT_PASSWORD\n"
	      "  --ssh-key F           the private key for ssh:// repositories; also BERTH_SSH_KEY\n"
	      "  --known-hosts F       host keys for ssh:// (default ~/.ssh/known_hosts); also BERTH_KNOWN_HOSTS\n"
	      "  --git-ca-file F       an extra CA for https:// repositories; also BERTH_GIT_CA_FILE\n"
	      "  --verify-signatures K apply only commits signed by a key in K (an SSH allowed-signers file\n"
	      "                        or a GPG keyring); also BERTH_VERIFY_SIGNATURES\n",
	      out);
}

char *cli_read_first_line(const char *file)
{
	size_t len = 0;
	char *data = spec_read_file(file, 64 * 1024, &len);
	if (!data)
		return NULL;
	size_t n = strcspn(data, "\r\n");
	char *pw = xstrndup(data, n);
	OPENSSL_cleanse(data, len);
	free(data);
	return pw;
}

int cli_source_config(cli_source_opts *o, const char *path, berth_source_config *out)
{
	memset(out, 0, sizeof(*out));
	if (!o->repo) {
		out->path = path;
		return 0;
	}
	if (o->password_file) {
		o->password = cli_read_first_line(o->password_file);
		if (!o->password) {
			fprintf(stderr, "berth: cannot read the git password file %s\n", o->password_file);
			return 1;
		}
	} else if (env("BERTH_GIT_PASSWORD")) {
		o->password = xstrdup(env("BERTH_GIT_PASSWORD"));
	}
	*out = (berth_source_config){.repo = o->repo,
				     .ref = o->ref,
				     .path = o->path,
				     .cache_dir = o->cache_dir,
				     .username = o->username,
				     .password = o->password,
				     .ssh_key = o->ssh_key,
				     .known_hosts = o->known_hosts,
				     .ca_file = o->ca_file,
				     .verify_keys = o->verify_keys};
	return 0;
}

void cli_source_opts_free(cli_source_opts *o)
{
	if (o->password) {
		OPENSSL_cleanse(o->password, strlen(o->password));
		free(o->password);
	}
	o->password = NULL;
}
