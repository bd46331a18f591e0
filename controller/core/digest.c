#include "core/digest.h"

#include <stdint.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include "spec/xalloc.h"

struct berth_sha256 {
	EVP_MD_CTX *ctx;
};

berth_sha256 *berth_sha256_new(void)
{
	berth_sha256 *h = xmalloc(sizeof(*h));
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		abort(); /* only on out of memory */
	return h;
}

void berth_sha256_update(berth_sha256 *h, const void *data, size_t n)
{
	if (n)
		EVP_DigestUpdate(h->ctx, data, n);
}

void berth_sha256_field(berth_sha256 *h, const void *data, size_t n)
{
	/* Eight bytes, little-endian, whatever the machine. */
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (8 * i));
	EVP_DigestUpdate(h->ctx, len, sizeof(len));
	berth_sha256_update(h, data, n);
}

void berth_sha256_final_hex(berth_sha256 *h, char out[BERTH_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(h->ctx, md, &len);
	EVP_MD_CTX_free(h->ctx);
	free(h);
	for (unsigned int i = 0; i < len && i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

void berth_sha256_hex(const void *data, size_t n, char out[BERTH_SHA256_HEX])
{
	berth_sha256 *h = berth_sha256_new();
	berth_sha256_update(h, data, n);
	berth_sha256_final_hex(h, out);
}

char *berth_sha256_hex_dup(const void *data, size_t n)
{
	char *out = xmalloc(BERTH_SHA256_HEX);
	berth_sha256_hex(data, n, out);
	return out;
}
