/* The git source, through libgit2: a bare cache repository per remote, an incremental fetch of
 * the one ref, the commit it names verified and checked out into a directory of its own.
 *
 * Layout of cache_dir:
 *   repos/<sha256 of the shown URL>.git   the bare cache (the key has no userinfo: no secret in a path)
 *   repos/<...>.git.lock                  flock'd for a whole fetch (other processes, other threads)
 *   checkouts/<sha>                       one per commit (source_checkout.c)
 *   tmp/                                  signature files, CA bundles while they are used
 *
 * One fetch: connect and list the remote's refs (one round trip); resolve the ref there (a branch
 * or a tag; "refs/..." exactly; a full SHA); if the commit is already in the cache nothing is
 * downloaded, else the ref is fetched with a forced refspec (+refs/heads/main:refs/berth/heads/main),
 * so a force-pushed branch is followed, and the refs kept under refs/berth/ are what the next
 * negotiation offers as "have"s, so only new objects come. libgit2 1.5 cannot fetch an object id
 * that no ref advertises (that came in 1.7, and many servers refuse it anyway), so a SHA that no
 * advertised ref points at is looked for in every branch and tag (all of refs/heads/ and
 * refs/tags/ fetched).
 *
 * The remote is given no password: libgit2 gets the URL without userinfo (ssh: without a
 * password) and the credentials through the callback, so no libgit2 message can carry them. The
 * callback answers once per kind; asked again it means the server refused, and the fetch stops
 * with EAUTH rather than loop. SSH host keys are checked in certificate_check against the
 * configured known_hosts (source_known_hosts.c); libgit2 1.5's own check only reads
 * ~/.ssh/known_hosts and is ignored. Cancellation: the progress callbacks fail once the cancel
 * fires, which aborts the transfer (ECANCELED). libgit2 1.5 has no connect or read timeouts (1.7
 * added them), so a server that stops sending altogether is only noticed by the kernel. */
#include "source/source_internal.h"
#include "source/source_checkout.h"
#include "source/source_fs.h"
#include "source/source_known_hosts.h"
#include "source/source_tls.h"
#include "core/digest.h"
#include "core/util.h"
#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/* How long to wait between tries of the cache lock (another fetch of the same repository). */
#define LOCK_POLL_SECONDS 0.05
/* A known_hosts file is small; this bounds a wrong path. */
#define KNOWN_HOSTS_MAX (16u << 20)
#define KEYS_MAX (16u << 20)

static const char *git_msg(void);

/* ---- configuration ---- */

static char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return xstrdup(h);
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir)
		return xstrdup(res->pw_dir);
	return NULL;
}

static char *absolute(const char *p)
{
	char real[PATH_MAX];
	if (realpath(p, real))
		return xstrdup(real);
	if (p[0] == '/')
		return xstrdup(p);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return xstrdup(p);
	return xasprintf("%s/%s", cwd, p);
}

/* The path inside the repository, normalised: no leading '/', no "." or empty components;
 * ".." refused, since a spec path must stay inside the commit. NULL with *why. */
static char *normalise_repo_path(const char *p, char **why)
{
	if (!p)
		return xstrdup("");
	if (p[0] == '/') {
		*why = xasprintf("path %s must be relative to the repository's root", p);
		return NULL;
	}
	char *out = xmalloc(strlen(p) + 1);
	size_t n = 0;
	for (const char *c = p; *c;) {
		size_t len = strcspn(c, "/");
		if (len == 2 && !strncmp(c, "..", 2)) {
			*why = xasprintf("path %s must not contain '..'", p);
			free(out);
			return NULL;
		}
		if (len && !(len == 1 && c[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, c, len);
			n += len;
		}
		c += len;
		while (*c == '/')
			c++;
	}
	out[n] = '\0';
	return out;
}

static bool is_full_sha(const char *r)
{
	size_t n = strlen(r);
	return n == GIT_OID_HEXSZ && strspn(r, "0123456789abcdefABCDEF") == n;
}

static int parse_ref(berth_source *s, berth_error *err)
{
	const char *r = s->ref;
	if (is_full_sha(r)) {
		s->ref_kind = SOURCE_REF_SHA;
		s->sha = xstrdup(r);
		for (char *c = s->sha; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
		return 0;
	}
	int valid = 0;
	if (!strncmp(r, "refs/", 5)) {
		s->ref_kind = SOURCE_REF_FULL;
		if (git_reference_name_is_valid(&valid, r) != 0 || !valid || !strncmp(r, "refs/berth/", 11))
			return berth_error_set(err, BERTH_EINVALID, "ref %s is not a valid git reference name", r);
		return 0;
	}
	s->ref_kind = SOURCE_REF_NAME;
	char *full = xasprintf("refs/heads/%s", r);
	int rc = git_reference_name_is_valid(&valid, full);
	free(full);
	if (rc != 0 || !valid || !*r)
		return berth_error_set(err, BERTH_EINVALID, "ref %s is not a valid branch or tag name (nor a full 40-hex commit id)", r);
	return 0;
}

/* A file the configuration names must be there now: better an error at open than at the first
 * fetch, minutes later. */
static int readable(const char *what, const char *path, berth_error *err)
{
	if (access(path, R_OK) != 0)
		return berth_error_set(err, BERTH_EINVALID, "%s %s: %s", what, path, strerror(errno));
	return 0;
}

int source_git_open(berth_source *s, const berth_source_config *cfg, berth_error *err)
{
	char *why = NULL;
	if (source_url_parse(cfg->repo, &s->url, &why) != 0) {
		/* why never holds the password; the URL is shown redacted */
		char *shown = berth_url_redact(cfg->repo);
		berth_error_set(err, BERTH_EINVALID, "repo %s: %s", shown, why);
		free(shown);
		free(why);
		return BERTH_EINVALID;
	}
	/* libgit2 is initialised once per source and shut down with it (reference-counted inside,
	 * thread-safe); a fresh initialisation brings back its default CAs */
	int inits = git_libgit2_init();
	if (inits < 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot initialise libgit2: %s", git_msg());
	s->libgit2_ref = true;
	if (inits == 1)
		source_tls_reset();
	/* Debian's libgit2 1.5 has both (libssh2, mbedTLS); another build may not */
	int features = git_libgit2_features();
	if (s->url.kind == SOURCE_URL_SSH && !(features & GIT_FEATURE_SSH))
		return berth_error_set(err, BERTH_EINVALID, "repo %s: this libgit2 was built without ssh support", s->url.shown);
	if (s->url.tls && !(features & GIT_FEATURE_HTTPS))
		return berth_error_set(err, BERTH_EINVALID, "repo %s: this libgit2 was built without https support", s->url.shown);
	s->ref = xstrdup(cfg->ref && *cfg->ref ? cfg->ref : "main");
	int rc = parse_ref(s, err);
	if (rc)
		return rc;
	if (!(s->path = normalise_repo_path(cfg->path, &why)))
		return berth_error_take(err, BERTH_EINVALID, why);
	if (cfg->cache_dir && *cfg->cache_dir) {
		s->cache_dir = absolute(cfg->cache_dir);
	} else {
		const char *xdg = getenv("XDG_CACHE_HOME");
		char *home = home_dir();
		if (xdg && xdg[0] == '/')
			s->cache_dir = xasprintf("%s/berth", xdg);
		else if (home)
			s->cache_dir = xasprintf("%s/.cache/berth", home);
		free(home);
		if (!s->cache_dir)
			return berth_error_set(err, BERTH_EINVALID, "no cache_dir, and neither XDG_CACHE_HOME nor a home directory to put one in");
	}
	s->username = cfg->username ? xstrdup(cfg->username) : NULL;
	s->password = cfg->password ? xstrdup(cfg->password) : NULL;
	if (s->url.kind == SOURCE_URL_LOCAL && (cfg->username || cfg->password))
		return berth_error_set(err, BERTH_EINVALID, "username and password are for http(s) repositories, not %s", s->url.shown);
	if (s->url.kind == SOURCE_URL_SSH && (cfg->password || s->url.password))
		return berth_error_set(err, BERTH_EINVALID, "a password is for http(s) repositories; %s authenticates with ssh_key "
				       "or ssh-agent", s->url.shown);
	if (cfg->ssh_key) {
		s->ssh_key = absolute(cfg->ssh_key);
		if ((rc = readable("ssh_key", s->ssh_key, err)))
			return rc;
	}
	if (cfg->known_hosts) {
		s->known_hosts = absolute(cfg->known_hosts);
		if ((rc = readable("known_hosts", s->known_hosts, err)))
			return rc;
	} else {
		char *home = home_dir();
		s->known_hosts = home ? xasprintf("%s/.ssh/known_hosts", home) : xstrdup("/nonexistent/.ssh/known_hosts");
		free(home);
	}
	if (cfg->ca_file) {
		s->ca_file = absolute(cfg->ca_file);
		if ((rc = readable("ca_file", s->ca_file, err)))
			return rc;
	}
	if (cfg->verify_keys) {
		s->verify_keys = absolute(cfg->verify_keys);
		size_t len = 0;
		char *buf = spec_read_file(s->verify_keys, KEYS_MAX, &len);
		if (!buf)
			return berth_error_set(err, BERTH_EINVALID, "verify_keys %s: %s", s->verify_keys, strerror(errno));
		rc = source_keys_detect(buf, len, &s->verify_kind, &why);
		free(buf);
		if (rc) {
			berth_error_set(err, BERTH_EINVALID, "verify_keys %s: %s", s->verify_keys, why);
			free(why);
			return BERTH_EINVALID;
		}
	}
	return 0;
}

void source_git_close(berth_source *s)
{
	/* only what open took: an extra shutdown would unbalance libgit2's count for every source */
	if (s->libgit2_ref)
		git_libgit2_shutdown();
	s->libgit2_ref = false;
}

/* ---- one fetch ---- */

typedef struct fetch_ctx {
	berth_source *s;
	int userpass_asked; /* times the credential callback gave a user and password */
	int sshkey_asked;   /* ... an ssh key (or the agent) */
	bool canceled;
	berth_error cb_err; /* what a callback decided, which beats libgit2's own message */
} fetch_ctx;

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown error";
}

/* libgit2's message with any secret replaced: it never got the password, so this is a second
 * line of defence, not the first. */
static char *scrubbed(const berth_source *s, const char *msg)
{
	char *m = xstrdup(msg);
	const char *secrets[] = {s->password, s->url.password};
	for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
		const char *sec = secrets[k];
		if (!sec || !*sec)
			continue;
		size_t sl = strlen(sec);
		for (char *hit; (hit = strstr(m, sec));) {
			char *n = xasprintf("%.*sxxxxx%s", (int)(hit - m), m, hit + sl);
			OPENSSL_cleanse(m, strlen(m));
			free(m);
			m = n;
		}
	}
	return m;
}

static int cb_canceled(fetch_ctx *c)
{
	if (!berth_cancel_fired(c->s->cancel))
		return 0;
	c->canceled = true;
	return GIT_EUSER;
}

static int on_credentials(git_credential **out, const char *url, const char *username_from_url,
			  unsigned int allowed, void *payload)
{
	(void)url; /* may hold userinfo: never shown */
	fetch_ctx *c = payload;
	berth_source *s = c->s;
	if (cb_canceled(c))
		return GIT_EUSER;
	if (s->url.kind == SOURCE_URL_SSH) {
		const char *user = username_from_url && *username_from_url ? username_from_url
				   : s->username                           ? s->username
									   : "git";
		if (allowed & GIT_CREDENTIAL_SSH_KEY) {
			if (++c->sshkey_asked > 1) {
				berth_error_set(&c->cb_err, BERTH_EAUTH, "authentication failed for %s (the server refused %s%s for user %s)",
						s->url.shown, s->ssh_key ? "the key " : "the keys of ssh-agent",
						s->ssh_key ? s->ssh_key : "", user);
				return GIT_EAUTH;
			}
			/* the public half is derived from the private key by libssh2 */
			int rc = s->ssh_key ? git_credential_ssh_key_new(out, user, NULL, s->ssh_key, NULL)
					    : git_credential_ssh_key_from_agent(out, user);
			return rc;
		}
		if (allowed & GIT_CREDENTIAL_USERNAME)
			return git_credential_username_new(out, user);
		berth_error_set(&c->cb_err, BERTH_EAUTH, "authentication failed for %s: the server accepts no ssh key "
				"(it offers only methods berth does not use)", s->url.shown);
		return GIT_EAUTH;
	}
	if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) {
		berth_error_set(&c->cb_err, BERTH_EAUTH, "%s asks for an authentication berth does not do (only basic "
				"authentication with a user and password or token)", s->url.shown);
		return GIT_EAUTH;
	}
	const char *user = s->username ? s->username : s->url.user;
	const char *pass = s->password ? s->password : s->url.password;
	if (!user && !pass) {
		berth_error_set(&c->cb_err, BERTH_EAUTH, "%s requires authentication and no username or password is configured",
				s->url.shown);
		return GIT_EAUTH;
	}
	if (++c->userpass_asked > 1) {
		berth_error_set(&c->cb_err, BERTH_EAUTH, "authentication failed for %s", s->url.shown);
		return GIT_EAUTH;
	}
	/* a token alone goes as the password of a placeholder user, which forges accept */
	return git_credential_userpass_plaintext_new(out, user ? user : "git", pass ? pass : "");
}

/* "SHA256:<base64>" as ssh-keygen -l shows it, for the operator to compare. */
static char *fingerprint(const unsigned char *key, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;
	EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
	unsigned char b64[64];
	int n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	return xasprintf("SHA256:%.*s", n, (const char *)b64);
}

static int check_hostkey(fetch_ctx *c, const git_cert_hostkey *hk)
{
	berth_source *s = c->s;
	char *name = source_url_known_hosts_name(s->url.host, s->url.port);
	if (!(hk->type & GIT_CERT_SSH_RAW) || !hk->hostkey || !hk->hostkey_len) {
		berth_error_set(&c->cb_err, BERTH_EAUTH, "host key for %s cannot be checked: libssh2 gave no raw key", name);
		free(name);
		return GIT_ECERTIFICATE;
	}
	size_t len = 0;
	char *text = spec_read_file(s->known_hosts, KNOWN_HOSTS_MAX, &len);
	if (!text && errno != ENOENT) {
		berth_error_set(&c->cb_err, BERTH_EAUTH, "host key for %s cannot be checked: cannot read %s: %s", name,
				s->known_hosts, strerror(errno));
		free(name);
		return GIT_ECERTIFICATE;
	}
	int line = 0;
	source_hostkey_result r = source_known_hosts_check(text ? text : "", text ? len : 0, s->url.host, s->url.port,
							   (const unsigned char *)hk->hostkey, hk->hostkey_len, &line);
	free(text);
	int rc = 0;
	char *type = source_ssh_key_type((const unsigned char *)hk->hostkey, hk->hostkey_len);
	char *fp = fingerprint((const unsigned char *)hk->hostkey, hk->hostkey_len);
	switch (r) {
	case SOURCE_HOSTKEY_MATCH:
		break;
	case SOURCE_HOSTKEY_UNKNOWN:
		rc = berth_error_set(&c->cb_err, BERTH_EAUTH, "host key for %s is not in %s (the server's key: %s %s)", name,
				     s->known_hosts, type ? type : "?", fp);
		break;
	case SOURCE_HOSTKEY_CHANGED:
		rc = berth_error_set(&c->cb_err, BERTH_EAUTH, "host key for %s has changed (%s:%d; the server's key: %s %s)", name,
				     s->known_hosts, line, type ? type : "?", fp);
		break;
	case SOURCE_HOSTKEY_REVOKED:
		rc = berth_error_set(&c->cb_err, BERTH_EAUTH, "host key for %s is revoked (%s:%d)", name, s->known_hosts, line);
		break;
	}
	free(type);
	free(fp);
	free(name);
	return rc ? GIT_ECERTIFICATE : 0;
}

static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	(void)host;
	fetch_ctx *c = payload;
	if (cb_canceled(c))
		return GIT_EUSER;
	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
		return check_hostkey(c, (const git_cert_hostkey *)cert);
	/* TLS: libgit2 verified the chain and the name against the CAs in force; its verdict stands */
	(void)valid;
	return GIT_PASSTHROUGH;
}

static int on_transfer(const git_indexer_progress *stats, void *payload)
{
	(void)stats;
	return cb_canceled(payload);
}

static int on_sideband(const char *str, int len, void *payload)
{
	(void)str;
	(void)len;
	return cb_canceled(payload);
}

static void set_callbacks(git_remote_callbacks *cb, fetch_ctx *c)
{
	cb->credentials = on_credentials;
	cb->certificate_check = on_certificate;
	cb->transfer_progress = on_transfer;
	cb->sideband_progress = on_sideband;
	cb->payload = c;
}

/* The berth code for a libgit2 failure of `doing` (returned by libgit2 as gerr). What a callback
 * decided wins; then the cancel; then libgit2's code and error class, never its text. */
static int git_failure(fetch_ctx *c, int gerr, const char *doing, berth_error *err)
{
	berth_source *s = c->s;
	if (c->cb_err.code) {
		berth_error_move(err, &c->cb_err);
		return err ? err->code : BERTH_EAUTH;
	}
	if (c->canceled || berth_cancel_fired(s->cancel))
		return berth_error_set(err, BERTH_ECANCELED, "fetch of %s canceled", s->url.shown);
	const git_error *e = git_error_last();
	int klass = e ? e->klass : GIT_ERROR_NONE;
	char *msg = scrubbed(s, git_msg());
	berth_error_code code;
	if (gerr == GIT_EAUTH)
		code = BERTH_EAUTH;
	else if (gerr == GIT_ECERTIFICATE)
		code = BERTH_EAUTH;
	else if (gerr == GIT_ENOTFOUND)
		code = BERTH_ENOTFOUND;
	else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP || klass == GIT_ERROR_SSL ||
		 klass == GIT_ERROR_OS || klass == GIT_ERROR_CALLBACK)
		code = BERTH_EUNREACHABLE;
	else
		code = BERTH_EFAILED;
	if (gerr == GIT_ECERTIFICATE)
		berth_error_set(err, code, "the TLS certificate of %s is not trusted: %s", s->url.shown, msg);
	else if (gerr == GIT_EAUTH)
		berth_error_set(err, code, "authentication failed for %s: %s", s->url.shown, msg);
	else
		berth_error_set(err, code, "%s %s: %s", doing, s->url.shown, msg);
	OPENSSL_cleanse(msg, strlen(msg));
	free(msg);
	return code;
}

/* flock on path, polled so that a cancel ends the wait. Returns the fd, or -1 with *err. */
static int lock_cache(berth_source *s, const char *path, berth_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		berth_error_set(err, BERTH_EFAILED, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			berth_error_set(err, BERTH_EFAILED, "cannot lock %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (!berth_sleep(NULL, LOCK_POLL_SECONDS, s->cancel)) {
			berth_error_set(err, BERTH_ECANCELED, "fetch of %s canceled", s->url.shown);
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Opens the cache repository, making it if it is not there (or is not a repository: what an
 * interrupted first fetch could leave, since nothing else writes there). */
static int open_cache(const char *dir, git_repository **repo, berth_error *err)
{
	if (git_repository_open_bare(repo, dir) == 0)
		return 0;
	struct stat st;
	if (lstat(dir, &st) == 0 && source_remove_tree(dir) != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot remove the broken cache %s: %s", dir, strerror(errno));
	if (git_repository_init(repo, dir, 1) != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot create the cache repository %s: %s", dir, git_msg());
	return 0;
}

typedef struct target {
	git_oid oid;        /* what the remote's ref points at (a commit, or an annotated tag) */
	bool have_oid;
	char *src;          /* the remote ref to fetch; NULL: every branch and tag */
} target;

/* The remote ref the configured ref names, among the advertised ones. */
static int resolve_remote(fetch_ctx *c, const git_remote_head **heads, size_t n, target *t, berth_error *err)
{
	berth_source *s = c->s;
	if (s->ref_kind == SOURCE_REF_SHA) {
		if (git_oid_fromstr(&t->oid, s->sha) != 0)
			return berth_error_set(err, BERTH_EINVALID, "ref %s is not a commit id", s->ref);
		t->have_oid = true;
		/* an advertised ref at that commit is the cheapest way to get it */
		for (size_t i = 0; i < n; i++) {
			if (git_oid_equal(&heads[i]->oid, &t->oid) && !strncmp(heads[i]->name, "refs/", 5) &&
			    !strstr(heads[i]->name, "^{}")) {
				t->src = xstrdup(heads[i]->name);
				return 0;
			}
		}
		t->src = NULL;
		return 0;
	}
	char *want_head = NULL, *want_tag = NULL;
	if (s->ref_kind == SOURCE_REF_FULL) {
		want_head = xstrdup(s->ref);
	} else {
		want_head = xasprintf("refs/heads/%s", s->ref);
		want_tag = xasprintf("refs/tags/%s", s->ref);
	}
	const git_remote_head *head = NULL, *tag = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(heads[i]->name, want_head))
			head = heads[i];
		else if (want_tag && !strcmp(heads[i]->name, want_tag))
			tag = heads[i];
	}
	int rc = 0;
	if (head && tag) {
		rc = berth_error_set(err, BERTH_EINVALID, "ref %s is both a branch and a tag in %s: write refs/heads/%s or refs/tags/%s",
				     s->ref, s->url.shown, s->ref, s->ref);
	} else if (!head && !tag) {
		if (s->ref_kind == SOURCE_REF_FULL)
			rc = berth_error_set(err, BERTH_ENOTFOUND, "no ref %s in %s", s->ref, s->url.shown);
		else
			rc = berth_error_set(err, BERTH_ENOTFOUND, "no branch or tag %s in %s", s->ref, s->url.shown);
	} else {
		const git_remote_head *h = head ? head : tag;
		t->oid = h->oid;
		t->have_oid = true;
		t->src = xstrdup(h->name);
	}
	free(want_head);
	free(want_tag);
	return rc;
}

/* refs/heads/x -> refs/berth/heads/x: where the cache keeps what it fetched. */
static char *local_ref(const char *src)
{
	return xasprintf("refs/berth/%s", src + 5);
}

static bool have_object(git_repository *repo, const git_oid *oid)
{
	git_odb *odb = NULL;
	if (git_repository_odb(&odb, repo) != 0)
		return false;
	bool ok = git_odb_exists(odb, oid) != 0;
	git_odb_free(odb);
	return ok;
}

/* connect, resolve, download what is missing; on return the target's objects are in repo. */
static int fetch_target(fetch_ctx *c, git_repository *repo, target *t, berth_error *err)
{
	berth_source *s = c->s;
	struct stat st;
	/* libgit2 takes a path that does not exist for a URL of an unknown protocol */
	if (s->url.kind == SOURCE_URL_LOCAL && stat(s->url.fetch_url, &st) != 0)
		return berth_error_set(err, errno == ENOENT || errno == ENOTDIR ? BERTH_ENOTFOUND : BERTH_EFAILED,
				       "repository %s: %s", s->url.shown, strerror(errno));
	/* a commit never changes: one already in the cache needs no network at all */
	if (s->ref_kind == SOURCE_REF_SHA && git_oid_fromstr(&t->oid, s->sha) == 0 && have_object(repo, &t->oid)) {
		t->have_oid = true;
		return 0;
	}
	git_remote *remote = NULL;
	git_remote_create_options co;
	git_remote_create_options_init(&co, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	co.repository = repo;
	co.name = NULL; /* in memory only: nothing about the remote is written to the cache's config */
	/* the URL is the configuration's, not rewritten by a url.*.insteadOf of the user's gitconfig */
	co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	int g = git_remote_create_with_opts(&remote, s->url.fetch_url, &co);
	if (g != 0)
		return git_failure(c, g, "cannot use", err);
	git_remote_callbacks cb;
	git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
	set_callbacks(&cb, c);
	git_proxy_options proxy;
	git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
	proxy.type = GIT_PROXY_AUTO; /* http.proxy and the *_proxy variables, as git does */
	int rc = 0;
	if ((g = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, &proxy, NULL)) != 0) {
		rc = git_failure(c, g, "cannot fetch from", err);
		goto out;
	}
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if ((g = git_remote_ls(&heads, &n, remote)) != 0) {
		rc = git_failure(c, g, "cannot list the refs of", err);
		goto out;
	}
	if ((rc = resolve_remote(c, heads, n, t, err)))
		goto out;
	if (t->have_oid && have_object(repo, &t->oid)) {
		/* nothing to download; the cache's ref still follows the remote's for negotiation */
		if (t->src) {
			char *dst = local_ref(t->src);
			git_reference *ref = NULL;
			if ((g = git_reference_create(&ref, repo, dst, &t->oid, 1, "berth: up to date")) != 0)
				rc = berth_error_set(err, BERTH_EFAILED, "cannot update %s in the cache: %s", dst, git_msg());
			git_reference_free(ref);
			free(dst);
		}
		goto out;
	}
	char *specs_buf[2];
	size_t nspecs = 0;
	if (t->src) {
		char *dst = local_ref(t->src);
		/* '+': the ref may move anywhere (a force-push); nothing is merged */
		specs_buf[nspecs++] = xasprintf("+%s:%s", t->src, dst);
		free(dst);
	} else {
		specs_buf[nspecs++] = xstrdup("+refs/heads/*:refs/berth/heads/*");
		specs_buf[nspecs++] = xstrdup("+refs/tags/*:refs/berth/tags/*");
	}
	git_strarray specs = {specs_buf, nspecs};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks = cb;
	fo.proxy_opts = proxy;
	fo.prune = GIT_FETCH_NO_PRUNE;
	fo.update_fetchhead = 0;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* only the ref asked for */
	g = git_remote_fetch(remote, &specs, &fo, "berth: fetch");
	for (size_t i = 0; i < nspecs; i++)
		free(specs_buf[i]);
	if (g != 0)
		rc = git_failure(c, g, "cannot fetch from", err);
out:
	if (remote && git_remote_connected(remote))
		git_remote_disconnect(remote);
	git_remote_free(remote);
	return rc;
}

/* The commit the target names, now that its objects are local. */
static int target_commit(fetch_ctx *c, git_repository *repo, const target *t, git_commit **commit, berth_error *err)
{
	berth_source *s = c->s;
	git_object *obj = NULL, *peeled = NULL;
	int g = git_object_lookup(&obj, repo, &t->oid, GIT_OBJECT_ANY);
	if (g == GIT_ENOTFOUND && s->ref_kind == SOURCE_REF_SHA)
		return berth_error_set(err, BERTH_ENOTFOUND, "commit %s is not in %s (no branch or tag reaches it)", s->sha,
				       s->url.shown);
	if (g != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot read %s from the cache of %s: %s", s->ref, s->url.shown, git_msg());
	g = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (g != 0)
		return berth_error_set(err, BERTH_EINVALID, "ref %s of %s does not name a commit", s->ref, s->url.shown);
	*commit = (git_commit *)peeled;
	return 0;
}

static int verify_signature(berth_source *s, git_repository *repo, const git_commit *commit, const char *sha,
			    char **signer, berth_error *err)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	git_oid id = *git_commit_id(commit);
	int g = git_commit_extract_signature(&sig, &data, repo, &id, NULL);
	if (g == GIT_ENOTFOUND)
		return berth_error_set(err, BERTH_EAUTH, "commit %s is not signed", sha);
	if (g != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot read the signature of commit %s: %s", sha, git_msg());
	char *tmp = xasprintf("%s/tmp", s->cache_dir);
	source_verify_input in = {
		.keys_file = s->verify_keys,
		.kind = s->verify_kind,
		.sha = sha,
		.signature = sig.ptr,
		.signature_len = sig.size,
		.payload = data.ptr,
		.payload_len = data.size,
		.tmp_parent = tmp,
		.cancel = s->cancel,
	};
	int rc = source_verify_commit(&in, signer, err);
	free(tmp);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}

int source_git_fetch(berth_source *s, berth_revision *out, berth_error *err)
{
	char *why = NULL;
	char *repos = xasprintf("%s/repos", s->cache_dir);
	char *checkouts = xasprintf("%s/checkouts", s->cache_dir);
	char *tmp = xasprintf("%s/tmp", s->cache_dir);
	char key[BERTH_SHA256_HEX];
	berth_sha256_hex(s->url.key, strlen(s->url.key), key);
	char *repo_dir = xasprintf("%s/%s.git", repos, key);
	char *lock_path = xasprintf("%s.lock", repo_dir);
	fetch_ctx c = {.s = s};
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	target t = {0};
	char *dir = NULL, *signer = NULL;
	int lock_fd = -1, rc = 0;
	bool tls = false;

	/* the cache may hold private repositories: only its owner reads it */
	if (source_mkdirs(s->cache_dir, 0700, &why) || source_mkdirs(repos, 0700, &why) ||
	    source_mkdirs(checkouts, 0755, &why) || source_mkdirs(tmp, 0700, &why)) {
		rc = berth_error_take(err, BERTH_EFAILED, why);
		goto out;
	}
	if ((lock_fd = lock_cache(s, lock_path, err)) < 0) {
		rc = err ? err->code : BERTH_EFAILED;
		goto out;
	}
	if ((rc = open_cache(repo_dir, &repo, err)))
		goto out;
	/* http too: a redirect may lead to https */
	if (s->url.kind == SOURCE_URL_HTTP) {
		if ((rc = source_tls_begin(s->ca_file, tmp, err)))
			goto out;
		tls = true;
	}
	rc = fetch_target(&c, repo, &t, err);
	if (tls)
		source_tls_end();
	if (rc)
		goto out;
	if (!t.src && s->ref_kind != SOURCE_REF_SHA) {
		rc = berth_error_set(err, BERTH_EFAILED, "no ref resolved for %s", s->ref);
		goto out;
	}
	if ((rc = target_commit(&c, repo, &t, &commit, err)))
		goto out;
	char sha[GIT_OID_HEXSZ + 1];
	git_oid_tostr(sha, sizeof(sha), git_commit_id(commit));
	if (*s->path) {
		git_tree *tree = NULL;
		git_tree_entry *entry = NULL;
		if (git_commit_tree(&tree, commit) != 0) {
			rc = berth_error_set(err, BERTH_EFAILED, "cannot read the tree of commit %s: %s", sha, git_msg());
			goto out;
		}
		int g = git_tree_entry_bypath(&entry, tree, s->path);
		git_tree_entry_free(entry);
		git_tree_free(tree);
		if (g == GIT_ENOTFOUND) {
			rc = berth_error_set(err, BERTH_ENOTFOUND, "%s is not in commit %s of %s", s->path, sha, s->url.shown);
			goto out;
		}
		if (g != 0) {
			rc = berth_error_set(err, BERTH_EFAILED, "cannot look up %s in commit %s: %s", s->path, sha, git_msg());
			goto out;
		}
	}
	/* verified before anything of it is written: a refused commit is never checked out */
	if (s->verify_keys && (rc = verify_signature(s, repo, commit, sha, &signer, err)))
		goto out;
	if ((rc = source_checkout(repo, commit, sha, checkouts, &dir, err)))
		goto out;
	source_checkout_prune(checkouts, dir, SOURCE_CHECKOUTS_KEPT);
	out->revision = xstrdup(sha);
	out->spec_path = *s->path ? xasprintf("%s/%s", dir, s->path) : xstrdup(dir);
	out->repo = xstrdup(s->url.shown);
	out->ref = xstrdup(s->ref);
	out->signer = signer;
	signer = NULL;
	const char *summary = git_commit_summary(commit);
	out->summary = summary ? xstrdup(summary) : NULL;
	const git_signature *who = git_commit_author(commit);
	out->author = who && who->name ? xstrdup(who->name) : NULL;
	out->time = (long long)git_commit_time(commit);
out:
	berth_error_clear(&c.cb_err);
	free(signer);
	free(dir);
	free(t.src);
	git_commit_free(commit);
	git_repository_free(repo);
	if (lock_fd >= 0)
		close(lock_fd); /* releases the flock */
	free(lock_path);
	free(repo_dir);
	free(tmp);
	free(checkouts);
	free(repos);
	return rc;
}
