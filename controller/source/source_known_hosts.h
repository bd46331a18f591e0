/* SSH host keys against an OpenSSH known_hosts file, checked by berth itself: libgit2 1.5 checks
 * the host key only against ~/.ssh/known_hosts (through libssh2), and a git source names its own
 * file. Pure: the caller reads the file.
 *
 * A line is "[@marker] PATTERNS KEYTYPE BASE64 [comment]". PATTERNS is a comma-separated list of
 * host names, "[host]:port" for other ports than 22, wildcards ('*', '?') and negations ('!'),
 * matched case-insensitively; or one hashed name "|1|BASE64(salt)|BASE64(HMAC-SHA1(salt, name))"
 * (ssh-keygen -H). The key is compared as the raw SSH public key blob the server sent.
 *
 * Markers: "@revoked" refuses that key for the hosts named; "@cert-authority" lines are skipped,
 * since libgit2 hands over the raw host key, never a host certificate, so no CA can vouch for it.
 * Malformed lines are skipped, as ssh does. */
#ifndef BERTH_SOURCE_KNOWN_HOSTS_H
#define BERTH_SOURCE_KNOWN_HOSTS_H
#include <stddef.h>

typedef enum source_hostkey_result {
	SOURCE_HOSTKEY_MATCH,   /* a line names the host with exactly this key */
	SOURCE_HOSTKEY_UNKNOWN, /* no line names the host with a key of this type */
	SOURCE_HOSTKEY_CHANGED, /* a line names the host with another key of the same type */
	SOURCE_HOSTKEY_REVOKED, /* an @revoked line names this key for the host */
} source_hostkey_result;

/* Checks key (key_len bytes, the SSH wire-format public key) for host on port (22: the plain
 * name, else "[host]:port") against the known_hosts text. *line (1-based) is the line that
 * decided (MATCH: the matching one; CHANGED: the first with another key of the type; REVOKED:
 * the @revoked one), 0 for UNKNOWN. */
source_hostkey_result source_known_hosts_check(const char *text, size_t len, const char *host, int port,
					       const unsigned char *key, size_t key_len, int *line);

/* The key type named inside an SSH public key blob ("ssh-ed25519"...), malloc'd; NULL if the blob
 * is malformed. */
char *source_ssh_key_type(const unsigned char *key, size_t len);

#endif
