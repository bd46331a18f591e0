/* Commit signature checks with ssh-keygen and gpgv. See source_verify.h. */
#include "source/source_verify.h"
#include "source/source_base64.h"
#include "source/source_fs.h"
#include "core/util.h"
#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How long one tool may take: they check one signature; a hang is a fault, not work. */
#define TOOL_TIMEOUT_MS 60000
/* What is kept of a tool's output: enough for its reason, bounded against a runaway. */
#define TOOL_OUTPUT_MAX 65536

/* ---- detection ---- */

/* OpenSSH's key types (sshkey.c), as an allowed-signers line may name them. */
static const char *const ssh_key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", NULL,
};

static bool is_ssh_key_type(const char *s, size_t n)
{
	for (int i = 0; ssh_key_types[i]; i++)
		if (strlen(ssh_key_types[i]) == n && !strncmp(ssh_key_types[i], s, n))
			return true;
	return false;
}

/* One field of an allowed-signers line: up to whitespace outside double quotes (options such as
 * namespaces="git,file" may hold spaces in quotes). */
static bool next_token(const char *l, size_t len, size_t *pos, const char **t, size_t *tl)
{
	size_t i = *pos;
	while (i < len && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i >= len)
		return false;
	size_t j = i;
	bool quoted = false;
	while (j < len && (quoted || (l[j] != ' ' && l[j] != '\t'))) {
		if (l[j] == '"')
			quoted = !quoted;
		j++;
	}
	*t = l + i;
	*tl = j - i;
	*pos = j;
	return true;
}

/* "PRINCIPALS [OPTIONS] KEYTYPE BASE64 [comment]": the key type is the second or third field. */
static bool allowed_signers_line(const char *l, size_t len)
{
	size_t pos = 0;
	const char *t[4];
	size_t tl[4];
	int n = 0;
	while (n < 4 && next_token(l, len, &pos, &t[n], &tl[n]))
		n++;
	for (int k = 1; k + 1 < n && k <= 2; k++) {
		if (!is_ssh_key_type(t[k], tl[k]))
			continue;
		size_t blob_len;
		unsigned char *blob = source_base64_decode(t[k + 1], tl[k + 1], false, &blob_len);
		free(blob);
		return blob != NULL && blob_len > 0;
	}
	return false;
}

static const char armor_begin[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

int source_keys_detect(const char *buf, size_t len, source_keys_kind *kind, char **why)
{
	*why = NULL;
	const unsigned char *u = (const unsigned char *)buf;
	/* a keybox: a first blob whose header carries "KBXf" at offset 8 */
	if (len >= 12 && !memcmp(buf + 8, "KBXf", 4)) {
		*kind = SOURCE_KEYS_GPG;
		return 0;
	}
	/* OpenPGP packets: the first byte has its top bit set; a keyring starts with a public key
	 * packet, tag 6, old format (0x98-0x9b) or new format (0xc6) */
	if (len > 0 && ((u[0] & 0xfc) == 0x98 || u[0] == 0xc6)) {
		*kind = SOURCE_KEYS_GPG;
		return 0;
	}
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (len - i >= sizeof(armor_begin) - 1 && !memcmp(buf + i, armor_begin, sizeof(armor_begin) - 1)) {
		*kind = SOURCE_KEYS_GPG_ARMORED;
		return 0;
	}
	int lineno = 0, lines = 0;
	size_t off = 0;
	while (off < len) {
		const char *l = buf + off;
		const char *nl = memchr(l, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - l) : len - off;
		off += ll + 1;
		lineno++;
		if (ll && l[ll - 1] == '\r')
			ll--;
		size_t s = 0;
		while (s < ll && (l[s] == ' ' || l[s] == '\t'))
			s++;
		if (s == ll || l[s] == '#')
			continue;
		for (size_t k = s; k < ll; k++) {
			if ((unsigned char)l[k] < 0x20 && l[k] != '\t') {
				*why = xstrdup("it is neither an SSH allowed-signers file nor a GPG keyring");
				return -1;
			}
		}
		if (!allowed_signers_line(l + s, ll - s)) {
			*why = xasprintf("line %d is not an SSH allowed-signers line (PRINCIPALS [OPTIONS] KEYTYPE KEY), "
					 "and the file is not a GPG keyring", lineno);
			return -1;
		}
		lines++;
	}
	if (!lines) {
		*why = xstrdup("it holds no key (neither an SSH allowed-signers line nor a GPG keyring)");
		return -1;
	}
	*kind = SOURCE_KEYS_SSH;
	return 0;
}

unsigned char *source_gpg_dearmor(const char *buf, size_t len, size_t *out_len)
{
	unsigned char *out = NULL;
	size_t n = 0;
	size_t off = 0;
	/* states: 0 outside a block, 1 in its armor headers, 2 in its base64, 3 after its checksum */
	int state = 0;
	size_t data_start = 0, data_end = 0;
	while (off < len) {
		const char *l = buf + off;
		const char *nl = memchr(l, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - l) : len - off;
		size_t here = off;
		off += ll + 1;
		while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ' || l[ll - 1] == '\t'))
			ll--;
		if (state == 0) {
			if (ll == sizeof(armor_begin) - 1 && !memcmp(l, armor_begin, ll))
				state = 1;
			continue;
		}
		if (state == 1) {
			/* "Key: value" headers end at a blank line (some writers omit both) */
			if (ll == 0 || !memchr(l, ':', ll)) {
				state = 2;
				data_start = data_end = ll == 0 ? off : here;
				if (ll == 0)
					continue;
			} else {
				continue;
			}
		}
		if (state == 3) {
			if (ll >= 5 && !memcmp(l, "-----", 5))
				state = 0;
			continue;
		}
		if ((ll && l[0] == '=') || (ll >= 5 && !memcmp(l, "-----", 5))) {
			size_t dl;
			unsigned char *d = source_base64_decode(buf + data_start, data_end - data_start, true, &dl);
			if (!d) {
				free(out);
				return NULL;
			}
			out = xrealloc(out, n + dl + 1);
			memcpy(out + n, d, dl);
			n += dl;
			free(d);
			/* the checksum line ("=XXXX") is skipped; the END line closes the block */
			state = ll && l[0] == '=' ? 3 : 0;
			continue;
		}
		data_end = here + ll;
	}
	if (!out || n == 0) {
		free(out);
		return NULL;
	}
	*out_len = n;
	return out;
}

/* ---- running a tool ---- */

typedef struct tool_run {
	char *out;  /* stdout, NUL-terminated */
	char *err;  /* stderr, NUL-terminated */
	int status; /* exit status, or 128+signal */
} tool_run;

static void tool_run_free(tool_run *r)
{
	free(r->out);
	free(r->err);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	if (*len + n > TOOL_OUTPUT_MAX)
		n = TOOL_OUTPUT_MAX - *len;
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Runs argv (found on PATH; no shell) with stdin from stdin_path (NULL: /dev/null) and both outputs
 * captured. 0 with *r filled, ECANCELED, or EFAILED (it could not start, or ran out of time). */
static int run_tool(char *const argv[], const char *stdin_path, berth_cancel *cancel, tool_run *r, berth_error *err)
{
	memset(r, 0, sizeof(*r));
	r->out = xstrdup("");
	r->err = xstrdup("");
	int op[2], ep[2];
	if (pipe2(op, O_CLOEXEC) != 0)
		return berth_error_set(err, BERTH_EFAILED, "cannot run %s: cannot create a pipe: %s", argv[0], strerror(errno));
	if (pipe2(ep, O_CLOEXEC) != 0) {
		int e = errno;
		close(op[0]);
		close(op[1]);
		return berth_error_set(err, BERTH_EFAILED, "cannot run %s: cannot create a pipe: %s", argv[0], strerror(e));
	}
	posix_spawn_file_actions_t fa;
	int rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	pid_t pid = -1;
	if (!rc)
		rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(op[1]);
	close(ep[1]);
	if (rc != 0) {
		close(op[0]);
		close(ep[0]);
		return berth_error_set(err, BERTH_EFAILED, "cannot run %s: %s", argv[0],
				       rc == ENOENT ? "not found on PATH" : strerror(rc));
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	size_t olen = 0, elen = 0;
	bool canceled = false, timed_out = false;
	struct pollfd p[3] = {{.fd = op[0], .events = POLLIN}, {.fd = ep[0], .events = POLLIN},
			      {.fd = berth_cancel_fd(cancel), .events = POLLIN}};
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (berth_cancel_fired(cancel)) {
			canceled = true;
			break;
		}
		long left = TOOL_TIMEOUT_MS - elapsed_ms(&start);
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int n = poll(p, 3, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			timed_out = true; /* cannot wait: treat as a failure to finish */
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char chunk[4096];
			ssize_t got = read(p[i].fd, chunk, sizeof(chunk));
			if (got > 0)
				append(i == 0 ? &r->out : &r->err, i == 0 ? &olen : &elen, chunk, (size_t)got);
			else if (got == 0 || errno != EINTR) {
				close(p[i].fd);
				p[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	if (canceled || timed_out)
		kill(pid, SIGKILL); /* our own child, by its pid */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (canceled)
		return berth_error_set(err, BERTH_ECANCELED, "signature check of commit canceled");
	if (timed_out)
		return berth_error_set(err, BERTH_EFAILED, "%s did not finish within %d s", argv[0], TOOL_TIMEOUT_MS / 1000);
	return 0;
}

/* A tool's stderr made one line for a message: the lines joined with "; ", trailing space gone. */
static char *one_line(const char *s)
{
	char *o = xmalloc(strlen(s) * 2 + 1);
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			if (n && p[1])
				o[n++] = ';', o[n++] = ' ';
			continue;
		}
		o[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	}
	while (n && (o[n - 1] == ' ' || o[n - 1] == ';'))
		n--;
	o[n] = '\0';
	if (n > 500)
		strcpy(o + 497, "...");
	return o;
}

/* ---- the checks ---- */

static int verify_ssh(const source_verify_input *in, const char *sig, const char *payload, char **signer, berth_error *err)
{
	char *fp_argv[] = {"ssh-keygen", "-Y", "find-principals", "-f", (char *)in->keys_file, "-s", (char *)sig, NULL};
	tool_run r;
	int rc = run_tool(fp_argv, NULL, in->cancel, &r, err);
	if (rc) {
		tool_run_free(&r);
		return rc;
	}
	/* the first principal that names the key (one per line) */
	size_t pl = strcspn(r.out, "\r\n");
	if (r.status != 0 || pl == 0) {
		char *why = one_line(r.err);
		if (*why)
			berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: its key is not in %s (ssh-keygen: %s)", in->sha,
					in->keys_file, why);
		else
			berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: its key is not in %s", in->sha, in->keys_file);
		free(why);
		tool_run_free(&r);
		return BERTH_EAUTH;
	}
	char *principal = xstrndup(r.out, pl);
	tool_run_free(&r);
	/* -n git: git signs commits in the "git" namespace, so a signature made for another purpose
	 * (a file signed with -n file) cannot pass for a commit's */
	char *v_argv[] = {"ssh-keygen", "-Y", "verify", "-f", (char *)in->keys_file, "-I", principal, "-n", "git",
			  "-s", (char *)sig, NULL};
	rc = run_tool(v_argv, payload, in->cancel, &r, err);
	if (rc) {
		tool_run_free(&r);
		free(principal);
		return rc;
	}
	if (r.status != 0) {
		char *why = one_line(*r.err ? r.err : r.out);
		berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: %s", in->sha, *why ? why : "ssh-keygen -Y verify refused it");
		free(why);
		free(principal);
		tool_run_free(&r);
		return BERTH_EAUTH;
	}
	tool_run_free(&r);
	*signer = principal;
	return 0;
}

/* The signer from gpgv's status lines: VALIDSIG's primary key fingerprint (its 10th argument),
 * else its first; NULL without GOODSIG and VALIDSIG. The status protocol is machine output meant
 * to be parsed (gnupg's doc/DETAILS), unlike the human text on stderr. */
static char *gpg_signer(const char *status)
{
	bool good = false;
	char *signer = NULL;
	for (const char *l = status; *l;) {
		size_t ll = strcspn(l, "\n");
		if (ll > 17 && !strncmp(l, "[GNUPG:] GOODSIG ", 17))
			good = true;
		if (ll > 18 && !strncmp(l, "[GNUPG:] VALIDSIG ", 18) && !signer) {
			const char *f[11];
			size_t fl[11];
			int n = 0;
			const char *p = l + 18, *end = l + ll;
			while (p < end && n < 11) {
				while (p < end && *p == ' ')
					p++;
				if (p >= end)
					break;
				const char *s = p;
				while (p < end && *p != ' ')
					p++;
				f[n] = s;
				fl[n++] = (size_t)(p - s);
			}
			if (n >= 10)
				signer = xstrndup(f[9], fl[9]);
			else if (n >= 1)
				signer = xstrndup(f[0], fl[0]);
		}
		l += ll;
		if (*l)
			l++;
	}
	if (!good) {
		free(signer);
		return NULL;
	}
	return signer;
}

static int verify_gpg(const source_verify_input *in, const char *dir, const char *sig, const char *payload, char **signer,
		      berth_error *err)
{
	const char *keyring = in->keys_file;
	char *dearmored = NULL;
	char *why = NULL;
	if (in->kind == SOURCE_KEYS_GPG_ARMORED) {
		size_t len = 0, klen = 0;
		char *text = spec_read_file(in->keys_file, 64u << 20, &len);
		unsigned char *bin = text ? source_gpg_dearmor(text, len, &klen) : NULL;
		free(text);
		if (!bin)
			return berth_error_set(err, BERTH_EINVALID, "verify_keys %s: cannot read its armored GPG keys", in->keys_file);
		dearmored = xasprintf("%s/keyring.gpg", dir);
		int wrc = source_write_file(dearmored, bin, klen, 0600, &why);
		free(bin);
		if (wrc) {
			berth_error_take(err, BERTH_EFAILED, why);
			free(dearmored);
			return BERTH_EFAILED;
		}
		keyring = dearmored;
	}
	/* gpgv's home is private and empty, so only the keyring given is trusted and no user's
	 * ~/.gnupg is read or created */
	char *home = xasprintf("%s/gnupg", dir);
	if (mkdir(home, 0700) != 0) {
		berth_error_set(err, BERTH_EFAILED, "cannot create %s: %s", home, strerror(errno));
		free(home);
		free(dearmored);
		return BERTH_EFAILED;
	}
	char *argv[] = {"gpgv", "--homedir", home, "--status-fd", "1", "--keyring", (char *)keyring, (char *)sig,
			(char *)payload, NULL};
	tool_run r;
	int rc = run_tool(argv, NULL, in->cancel, &r, err);
	free(home);
	free(dearmored);
	if (rc) {
		tool_run_free(&r);
		return rc;
	}
	char *who = r.status == 0 ? gpg_signer(r.out) : NULL;
	if (!who) {
		char *reason = one_line(r.err);
		berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: %s", in->sha, *reason ? reason : "gpgv refused it");
		free(reason);
		tool_run_free(&r);
		return BERTH_EAUTH;
	}
	tool_run_free(&r);
	*signer = who;
	return 0;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	return n >= pl && !memcmp(s, prefix, pl);
}

int source_verify_commit(const source_verify_input *in, char **signer, berth_error *err)
{
	*signer = NULL;
	bool ssh_sig = starts_with(in->signature, in->signature_len, "-----BEGIN SSH SIGNATURE-----");
	bool pgp_sig = starts_with(in->signature, in->signature_len, "-----BEGIN PGP SIGNATURE-----");
	bool ssh_keys = in->kind == SOURCE_KEYS_SSH;
	if (!ssh_sig && !pgp_sig)
		return berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: neither an SSH nor an OpenPGP signature "
				       "(X.509 signatures are not supported)", in->sha);
	if (ssh_sig != ssh_keys)
		return berth_error_set(err, BERTH_EAUTH, "commit %s: bad signature: it is an %s signature and %s is %s", in->sha,
				       ssh_sig ? "SSH" : "OpenPGP", in->keys_file,
				       ssh_keys ? "an SSH allowed-signers file" : "a GPG keyring");
	char *why = NULL;
	char *dir = source_mkdtemp(in->tmp_parent, "verify-", &why);
	if (!dir)
		return berth_error_take(err, BERTH_EFAILED, why);
	char *sig = xasprintf("%s/commit.sig", dir);
	char *payload = xasprintf("%s/commit", dir);
	int rc = 0;
	if (source_write_file(sig, in->signature, in->signature_len, 0600, &why) ||
	    source_write_file(payload, in->payload, in->payload_len, 0600, &why)) {
		rc = berth_error_take(err, BERTH_EFAILED, why);
	} else if (ssh_keys) {
		rc = verify_ssh(in, sig, payload, signer, err);
	} else {
		rc = verify_gpg(in, dir, sig, payload, signer, err);
	}
	if (source_remove_tree(dir) != 0 && rc == 0)
		rc = berth_error_set(err, BERTH_EFAILED, "cannot remove %s: %s", dir, strerror(errno));
	if (rc) {
		free(*signer);
		*signer = NULL;
	}
	free(sig);
	free(payload);
	free(dir);
	return rc;
}
