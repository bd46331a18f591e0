#include "core/secret.h"
#include "spec/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

/* Swarm allows 500 KB per secret; ACI volumes are similar. */
#define SECRET_MAX_BYTES (1024 * 1024)

struct secret_value {
	size_t len;
	unsigned char *bytes;
};

static char *fmt_err(const char *fmt, const char *a, const char *b) __attribute__((format(printf, 1, 0)));
static char *fmt_err(const char *fmt, const char *a, const char *b)
{
	return xasprintf(fmt, a, b);
}

int secret_resolve(const spec_secret_ref *ref, secret_value **out, char **err)
{
	secret_value *s = xcalloc(1, sizeof(*s));
	if (!s)
		abort();
	if (ref->kind == SPEC_REF_ENV) {
		const char *v = getenv(ref->name);
		if (!v) {
			*err = fmt_err("environment variable '%s' is not set%s", ref->name, "");
			free(s);
			return -1;
		}
		s->len = strlen(v);
		s->bytes = xmalloc(s->len + 1);
		if (!s->bytes)
			abort();
		memcpy(s->bytes, v, s->len + 1);
	} else {
		char *buf = spec_read_file(ref->name, SECRET_MAX_BYTES, &s->len);
		if (!buf) {
			*err = fmt_err("cannot read secret file '%s': %s", ref->name, strerror(errno));
			free(s);
			return -1;
		}
		s->bytes = (unsigned char *)buf;
	}
	*out = s;
	return 0;
}

const unsigned char *secret_bytes(const secret_value *s, size_t *len)
{
	*len = s->len;
	return s->bytes;
}

void secret_free(secret_value *s)
{
	if (!s)
		return;
	if (s->bytes)
		OPENSSL_cleanse(s->bytes, s->len);
	free(s->bytes);
	free(s);
}
