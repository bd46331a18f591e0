/* Repository URLs of git sources: parse, redact, the known_hosts name of a host. See source_url.h.
 *
 * Redaction rule (berth_url_redact): a URL with a scheme loses its whole userinfo, user included —
 * over https a token is often the user name (https://TOKEN@host/x), so the user is no safer to
 * show than the password. The scp-like form user@host:path keeps its user: it cannot carry a
 * password (ssh authenticates with keys), and "git@" is what people recognise their remote by. */
#include "source/source_url.h"
#include "source/source.h"
#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>



/* "scheme://" at the start: its length (scheme and "://"), or 0. RFC 3986 scheme characters. */
static size_t scheme_len(const char *u)
{
	size_t i = 0;
	if (!((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
		return 0;
	while ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') || (u[i] >= '0' && u[i] <= '9') ||
	       u[i] == '+' || u[i] == '-' || u[i] == '.')
		i++;
	return strncmp(u + i, "://", 3) == 0 ? i + 3 : 0;
}

char *berth_url_redact(const char *url)
{
	if (!url)
		return xstrdup("");
	size_t sl = scheme_len(url);
	if (sl) {
		const char *a = url + sl;
		size_t alen = strcspn(a, "/?#");
		const char *at = memrchr(a, '@', alen);
		if (!at)
			return xstrdup(url);
		return xasprintf("%.*s%s", (int)sl, url, at + 1);
	}
	/* scp-like or a path: only a "user:password@" before the first '/' is removed whole. */
	size_t alen = strcspn(url, "/");
	const char *at = memrchr(url, '@', alen);
	if (at && memchr(url, ':', (size_t)(at - url)))
		return xstrdup(at + 1);
	return xstrdup(url);
}

char *source_url_known_hosts_name(const char *host, int port)
{
	if (port == 22 || port <= 0)
		return xstrdup(host);
	return xasprintf("[%s]:%d", host, port);
}

static int parse_port(const char *s, size_t n, int *port, char **why)
{
	long v = 0;
	if (n == 0 || n > 5) {
		*why = xstrdup("invalid port in the repository URL");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = xstrdup("invalid port in the repository URL");
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535) {
		*why = xstrdup("invalid port in the repository URL (expected 1-65535)");
		return -1;
	}
	*port = (int)v;
	return 0;
}

/* host[:port] or [v6][:port] in s[0..n) into u->host and *port (left alone without one). */
static int parse_hostport(const char *s, size_t n, source_url *u, int *port, char **why)
{
	const char *hend;
	const char *rest;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1) {
			*why = xstrdup("invalid IPv6 address in the repository URL");
			return -1;
		}
		u->host = xstrndup(s + 1, (size_t)(close - s - 1));
		hend = close + 1;
		rest = hend;
		if (rest < s + n && *rest != ':') {
			*why = xstrdup("unexpected text after the IPv6 address in the repository URL");
			return -1;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		hend = colon ? colon : s + n;
		rest = hend;
		u->host = xstrndup(s, (size_t)(hend - s));
	}
	if (!u->host[0]) {
		*why = xstrdup("the repository URL has no host");
		return -1;
	}
	if (rest < s + n && *rest == ':')
		return parse_port(rest + 1, (size_t)(s + n - rest - 1), port, why);
	return 0;
}

/* The userinfo a[0..n) (without the '@') into user and password. */
static int parse_userinfo(const char *a, size_t n, source_url *u, char **why)
{
	const char *colon = memchr(a, ':', n);
	size_t ulen = colon ? (size_t)(colon - a) : n;
	if (!(u->user = pct_decode(a, ulen, "user name of the repository URL", why)))
		return -1;
	if (colon && !(u->password = pct_decode(colon + 1, n - ulen - 1, "password of the repository URL", why)))
		return -1;
	return 0;
}

static int parse_scheme_url(const char *url, size_t sl, source_url *u, char **why)
{
	char *scheme = xstrndup(url, sl - 3);
	for (char *p = scheme; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	int rc = 0;
	if (!strcmp(scheme, "https") || !strcmp(scheme, "http")) {
		u->kind = SOURCE_URL_HTTP;
		u->tls = !strcmp(scheme, "https");
	} else if (!strcmp(scheme, "ssh") || !strcmp(scheme, "git+ssh") || !strcmp(scheme, "ssh+git")) {
		u->kind = SOURCE_URL_SSH;
		u->port = 22;
	} else if (!strcmp(scheme, "file")) {
		u->kind = SOURCE_URL_LOCAL;
	} else {
		*why = xasprintf("unsupported repository URL scheme '%s' (expected https://, http://, ssh://, "
				 "user@host:path, file:// or a path)", scheme);
		rc = -1;
	}
	free(scheme);
	if (rc)
		return rc;

	const char *a = url + sl;
	size_t alen = strcspn(a, "/?#");
	const char *rest = a + alen;
	if (u->kind == SOURCE_URL_LOCAL) {
		/* file:///abs/path, or file://localhost/abs/path */
		if (alen && !(alen == 9 && !strncmp(a, "localhost", 9))) {
			*why = xstrdup("file:// URLs must name a local path (file:///path)");
			return -1;
		}
		if (*rest != '/') {
			*why = xstrdup("file:// URLs must name an absolute path (file:///path)");
			return -1;
		}
		if (!(u->fetch_url = pct_decode(rest, strlen(rest), "path of the repository URL", why)))
			return -1;
		u->shown = berth_url_redact(url);
		u->key = xstrdup(u->fetch_url);
		return 0;
	}
	const char *at = memrchr(a, '@', alen);
	const char *hp = at ? at + 1 : a;
	size_t hlen = (size_t)(a + alen - hp);
	if (at && parse_userinfo(a, (size_t)(at - a), u, why))
		return -1;
	if (parse_hostport(hp, hlen, u, &u->port, why))
		return -1;
	if (u->kind == SOURCE_URL_SSH && !*rest) {
		*why = xstrdup("the ssh:// repository URL has no path");
		return -1;
	}
	/* The password never goes to libgit2 (it comes back through the credential callback), so no
	 * libgit2 message can hold it. An ssh user is kept: it is who logs in. */
	if (u->kind == SOURCE_URL_SSH && at) {
		const char *colon = memchr(a, ':', (size_t)(at - a));
		size_t raw_user = colon ? (size_t)(colon - a) : (size_t)(at - a);
		u->fetch_url = xasprintf("%.*s%.*s@%.*s%s", (int)sl, url, (int)raw_user, a, (int)hlen, hp, rest);
	} else {
		u->fetch_url = xasprintf("%.*s%.*s%s", (int)sl, url, (int)hlen, hp, rest);
	}
	u->shown = berth_url_redact(url);
	u->key = xstrdup(u->shown);
	return 0;
}

/* [user@]host:path, git's scp-like syntax; s has no scheme, and colon is its first ':' that is
 * not inside brackets, before any '/'. */
static int parse_scp(const char *url, source_url *u, char **why)
{
	u->kind = SOURCE_URL_SSH;
	u->port = 22;
	size_t alen = strcspn(url, "/");
	const char *at = memrchr(url, '@', alen);
	const char *hp = at ? at + 1 : url;
	if (at) {
		if (memchr(url, ':', (size_t)(at - url))) {
			*why = xstrdup("a password in an scp-like repository URL is not supported (ssh uses keys)");
			return -1;
		}
		if (!(u->user = pct_decode(url, (size_t)(at - url), "user name of the repository URL", why)))
			return -1;
	}
	const char *colon;
	if (*hp == '[') {
		const char *close = strchr(hp, ']');
		if (!close || close == hp + 1 || close[1] != ':') {
			*why = xstrdup("invalid IPv6 address in the repository URL");
			return -1;
		}
		u->host = xstrndup(hp + 1, (size_t)(close - hp - 1));
		colon = close + 1;
	} else {
		colon = strchr(hp, ':');
		u->host = xstrndup(hp, (size_t)(colon - hp));
	}
	if (!u->host[0]) {
		*why = xstrdup("the repository URL has no host");
		return -1;
	}
	if (!colon[1]) {
		*why = xstrdup("the scp-like repository URL has no path after ':'");
		return -1;
	}
	u->fetch_url = xstrdup(url);
	u->shown = berth_url_redact(url);
	u->key = xstrdup(u->shown);
	return 0;
}

/* Is url git's scp-like form? A ':' before any '/', outside brackets, with something before it. */
static bool is_scp(const char *url)
{
	size_t alen = strcspn(url, "/");
	const char *at = memrchr(url, '@', alen);
	const char *hp = at ? at + 1 : url;
	if (*hp == '[') {
		const char *close = memchr(hp, ']', alen - (size_t)(hp - url));
		return close && close[1] == ':';
	}
	const char *colon = memchr(hp, ':', alen - (size_t)(hp - url));
	return colon && colon > url;
}

static int parse_local(const char *url, source_url *u, char **why)
{
	u->kind = SOURCE_URL_LOCAL;
	char resolved[PATH_MAX];
	if (realpath(url, resolved)) {
		u->fetch_url = xstrdup(resolved);
	} else if (url[0] == '/') {
		u->fetch_url = xstrdup(url);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			*why = xasprintf("cannot resolve the repository path %s: %s", url, strerror(errno));
			return -1;
		}
		u->fetch_url = xasprintf("%s/%s", cwd, url);
	}
	u->shown = xstrdup(u->fetch_url);
	u->key = xstrdup(u->fetch_url);
	return 0;
}

int source_url_parse(const char *url, source_url *out, char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (!url || !*url) {
		*why = xstrdup("the repository URL is empty");
		return -1;
	}
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ' ') {
			*why = xstrdup("the repository URL contains a space or a control character");
			return -1;
		}
	}
	size_t sl = scheme_len(url);
	int rc;
	if (sl)
		rc = parse_scheme_url(url, sl, out, why);
	else if (is_scp(url))
		rc = parse_scp(url, out, why);
	else
		rc = parse_local(url, out, why);
	if (rc)
		source_url_free(out);
	return rc;
}

void source_url_free(source_url *u)
{
	if (!u)
		return;
	if (u->password) {
		OPENSSL_cleanse(u->password, strlen(u->password));
		free(u->password);
	}
	free(u->fetch_url);
	free(u->shown);
	free(u->key);
	free(u->user);
	free(u->host);
	memset(u, 0, sizeof(*u));
}
