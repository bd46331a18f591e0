#include "core/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

void set_err(char **err, char *msg)
{
	if (err)
		*err = msg;
	else
		free(msg);
}

bool nonempty(const char *s)
{
	return s && *s;
}

void problems_init(problems *pr)
{
	pr->text = NULL;
	pr->len = 0;
	pr->count = 0;
	pr->f = open_memstream(&pr->text, &pr->len);
	if (!pr->f)
		abort();
}

void problem(problems *pr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (pr->count++)
		fputc('\n', pr->f);
	vfprintf(pr->f, fmt, ap);
	va_end(ap);
}

char *problems_finish(problems *pr)
{
	fclose(pr->f);
	pr->f = NULL;
	if (pr->count)
		return pr->text;
	free(pr->text);
	pr->text = NULL;
	return NULL;
}

int problems_to_error(problems *pr, berth_error *err)
{
	char *text = problems_finish(pr);
	return text ? berth_error_take(err, BERTH_EPLAN, text) : 0;
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *pct_decode(const char *s, size_t n, const char *what, char **why)
{
	char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 1 < n ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				OPENSSL_cleanse(out, n + 1);
				free(out);
				*why = xasprintf("malformed %%-escape in the %s", what);
				return NULL;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			OPENSSL_cleanse(out, n + 1);
			free(out);
			*why = xasprintf("the %s contains a control character", what);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* "2026-11-24T09:42:16.731463323Z" (RFC 3339, as the engine writes times) -> ms since the
 * epoch; 0 when absent, unreadable or Go's zero time. */
long long berth_rfc3339_ms(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || y < 1970)
		return 0;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	long long ms = (long long)timegm(&tm) * 1000;
	const char *p = s + n;
	if (*p == '.') {
		int digits = 0;
		long long frac = 0;
		for (p++; isdigit((unsigned char)*p); p++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0'), digits++;
		for (; digits < 3; digits++)
			frac *= 10;
		ms += frac;
	}
	int oh, om;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
		ms += (*p == '+' ? -1 : 1) * (oh * 60LL + om) * 60000LL;
	return ms;
}
