/* SHA-256 to lower-case hex: the one place berth turns bytes into a digest (content names of
 * secrets and configs, fingerprints of observed state, spec digests, secure-value hashes). */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H
#include <stddef.h>

#define BERTH_SHA256_HEX 65 /* 64 hex digits and a NUL */

typedef struct berth_sha256 berth_sha256;

berth_sha256 *berth_sha256_new(void);
void berth_sha256_update(berth_sha256 *h, const void *data, size_t n);
/* A length-prefixed field, so that ("ab","c") and ("a","bc") hash differently. */
void berth_sha256_field(berth_sha256 *h, const void *data, size_t n);
/* Writes the digest as hex into out and frees h. */
void berth_sha256_final_hex(berth_sha256 *h, char out[BERTH_SHA256_HEX]);
/* One buffer at once. */
void berth_sha256_hex(const void *data, size_t n, char out[BERTH_SHA256_HEX]);
/* The same, malloc'd. */
char *berth_sha256_hex_dup(const void *data, size_t n);

#endif
