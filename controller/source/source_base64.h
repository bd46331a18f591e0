/* Base64 decoding (RFC 4648), for the keys in known_hosts and allowed-signers files and for
 * ASCII-armored GPG keys: the one decoder of source/. Strict: anything but the alphabet, and
 * '=' padding at the end only, is an error. */
#ifndef BERTH_SOURCE_BASE64_H
#define BERTH_SOURCE_BASE64_H
#include <stdbool.h>
#include <stddef.h>

/* s[0..n) decoded (malloc'd, *out_len bytes; NUL-terminated for convenience), or NULL when it is
 * not base64. With skip_space, whitespace and line breaks are ignored (armor). */
unsigned char *source_base64_decode(const char *s, size_t n, bool skip_space, size_t *out_len);

#endif
