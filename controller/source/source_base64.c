/* Base64 decoding. See source_base64.h. */
#include "source/source_base64.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *source_base64_decode(const char *s, size_t n, bool skip_space, size_t *out_len)
{
	unsigned char *out = xmalloc(n / 4 * 3 + 4);
	size_t o = 0, pad = 0;
	unsigned acc = 0;
	int bits = 0, count = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (skip_space && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64val(c);
		if (v < 0 || pad) /* a character after padding */
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		count++;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* A lone sixth of a byte cannot be; padding, when present, must complete the quantum. */
	if (count % 4 == 1 || pad > 2 || (pad && (count + pad) % 4 != 0))
		goto bad;
	out[o] = '\0';
	*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}
