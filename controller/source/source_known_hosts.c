/* known_hosts lookups for SSH host keys. See source_known_hosts.h. */
#include "source/source_known_hosts.h"
#include "source/source_base64.h"
#include "source/source_url.h"
#include "core/util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

char *source_ssh_key_type(const unsigned char *key, size_t len)
{
	if (len < 4)
		return NULL;
	uint32_t n = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3];
	if (n == 0 || n > len - 4 || n > 64)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if (key[4 + i] < 0x21 || key[4 + i] > 0x7e)
			return NULL;
	return xstrndup((const char *)key + 4, n);
}

/* OpenSSH's match_pattern: '*' any run, '?' one character, case-insensitive (host names). */
static bool glob_match(const char *s, size_t sn, const char *p, size_t pn)
{
	size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
	while (si < sn) {
		if (pi < pn && (p[pi] == '?' || tolower((unsigned char)p[pi]) == tolower((unsigned char)s[si]))) {
			si++;
			pi++;
		} else if (pi < pn && p[pi] == '*') {
			star_p = pi++;
			star_s = si;
		} else if (star_p != (size_t)-1) {
			pi = star_p + 1;
			si = ++star_s;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

/* "|1|salt|hash": HMAC-SHA1 keyed with the salt over the name, as ssh-keygen -H writes it. */
static bool hashed_match(const char *pat, size_t pn, const char *name)
{
	const char *salt64 = pat + 3;
	const char *bar = memchr(salt64, '|', pn - 3);
	if (!bar)
		return false;
	size_t salt_len, hash_len;
	unsigned char *salt = source_base64_decode(salt64, (size_t)(bar - salt64), false, &salt_len);
	unsigned char *hash = source_base64_decode(bar + 1, (size_t)(pat + pn - bar - 1), false, &hash_len);
	bool ok = false;
	if (salt && hash && salt_len == 20 && hash_len == 20) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		if (HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)name, strlen(name), mac, &mac_len) &&
		    mac_len == 20)
			ok = CRYPTO_memcmp(mac, hash, 20) == 0;
	}
	free(salt);
	free(hash);
	return ok;
}

/* Does the PATTERNS field p[0..n) name `name`? A negated pattern that matches wins over all. */
static bool hosts_match(const char *p, size_t n, const char *name)
{
	if (n > 3 && !strncmp(p, "|1|", 3))
		return hashed_match(p, n, name);
	bool any = false;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != ',')
			j++;
		bool neg = j > i && p[i] == '!';
		const char *pat = p + i + (neg ? 1 : 0);
		size_t pl = j - i - (neg ? 1 : 0);
		if (pl && glob_match(name, strlen(name), pat, pl)) {
			if (neg)
				return false;
			any = true;
		}
		i = j + 1;
	}
	return any;
}

/* The next whitespace-separated field of line[*pos..len), or false at the end. */
static bool next_field(const char *line, size_t len, size_t *pos, const char **f, size_t *fl)
{
	size_t i = *pos;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len)
		return false;
	size_t j = i;
	while (j < len && line[j] != ' ' && line[j] != '\t')
		j++;
	*f = line + i;
	*fl = j - i;
	*pos = j;
	return true;
}

source_hostkey_result source_known_hosts_check(const char *text, size_t len, const char *host, int port,
					       const unsigned char *key, size_t key_len, int *line)
{
	char *name = source_url_known_hosts_name(host, port);
	char *want_type = source_ssh_key_type(key, key_len);
	int match_line = 0, changed_line = 0, revoked_line = 0;
	int lineno = 0;
	size_t off = 0;
	while (off < len && !revoked_line) {
		const char *l = text + off;
		const char *nl = memchr(l, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - l) : len - off;
		off += ll + 1;
		lineno++;
		if (ll && l[ll - 1] == '\r')
			ll--;
		size_t pos = 0;
		const char *f;
		size_t fl;
		if (!next_field(l, ll, &pos, &f, &fl) || f[0] == '#')
			continue;
		bool revoked = false;
		if (f[0] == '@') {
			if (fl == 8 && !strncmp(f, "@revoked", 8))
				revoked = true;
			else
				continue; /* @cert-authority, or an unknown marker */
			if (!next_field(l, ll, &pos, &f, &fl))
				continue;
		}
		const char *hosts = f;
		size_t hosts_len = fl;
		const char *type, *b64;
		size_t type_len, b64_len;
		if (!next_field(l, ll, &pos, &type, &type_len) || !next_field(l, ll, &pos, &b64, &b64_len))
			continue;
		if (!hosts_match(hosts, hosts_len, name))
			continue;
		size_t blob_len;
		unsigned char *blob = source_base64_decode(b64, b64_len, false, &blob_len);
		if (!blob)
			continue;
		char *blob_type = source_ssh_key_type(blob, blob_len);
		/* the type field must agree with the blob's own, or the line is malformed */
		bool well_formed = blob_type && strlen(blob_type) == type_len && !strncmp(blob_type, type, type_len);
		bool same_key = well_formed && blob_len == key_len && CRYPTO_memcmp(blob, key, key_len) == 0;
		if (well_formed) {
			if (revoked) {
				if (same_key)
					revoked_line = lineno;
			} else if (same_key) {
				if (!match_line)
					match_line = lineno;
			} else if (want_type && !strcmp(blob_type, want_type) && !changed_line) {
				changed_line = lineno;
			}
		}
		free(blob_type);
		free(blob);
	}
	free(name);
	free(want_type);
	if (revoked_line) {
		*line = revoked_line;
		return SOURCE_HOSTKEY_REVOKED;
	}
	if (match_line) {
		*line = match_line;
		return SOURCE_HOSTKEY_MATCH;
	}
	if (changed_line) {
		*line = changed_line;
		return SOURCE_HOSTKEY_CHANGED;
	}
	*line = 0;
	return SOURCE_HOSTKEY_UNKNOWN;
}
