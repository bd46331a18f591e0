#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "spec/xalloc.h"

int berth_error_take(berth_error *e, berth_error_code code, char *message)
{
	if (!e) {
		free(message);
		return code;
	}
	free(e->message);
	e->code = code;
	e->message = message ? message : xstrdup(berth_error_code_name(code));
	return code;
}

int berth_error_set(berth_error *e, berth_error_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	return berth_error_take(e, code, m);
}

void berth_error_prefix(berth_error *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	char *m = xasprintf("%s%s", p, e->message ? e->message : "");
	free(p);
	free(e->message);
	e->message = m;
}

void berth_error_clear(berth_error *e)
{
	if (!e)
		return;
	free(e->message);
	e->message = NULL;
	e->code = BERTH_OK;
}

void berth_error_move(berth_error *dst, berth_error *src)
{
	if (!dst) {
		berth_error_clear(src);
		return;
	}
	free(dst->message);
	*dst = *src;
	src->message = NULL;
	src->code = BERTH_OK;
}

const char *berth_error_code_name(berth_error_code code)
{
	switch (code) {
	case BERTH_OK: return "OK";
	case BERTH_EGENERIC: return "ERROR";
	case BERTH_ENOTFOUND: return "ENOTFOUND";
	case BERTH_ECONFLICT: return "ECONFLICT";
	case BERTH_EAUTH: return "EAUTH";
	case BERTH_ETRANSIENT: return "ETRANSIENT";
	case BERTH_ECANCELED: return "ECANCELED";
	case BERTH_EPLAN: return "EPLAN";
	case BERTH_EINVALID: return "EINVALID";
	case BERTH_ETIMEOUT: return "ETIMEOUT";
	case BERTH_EFAILED: return "EFAILED";
	case BERTH_ESTALE: return "ESTALE";
	case BERTH_EUNREACHABLE: return "EUNREACHABLE";
	}
	return "ERROR";
}

berth_error_code berth_error_from_http(long status)
{
	if (status >= 200 && status < 300)
		return BERTH_OK;
	if (status == 0)
		return BERTH_EUNREACHABLE;
	if (status == 404)
		return BERTH_ENOTFOUND;
	if (status == 409 || status == 412)
		return BERTH_ECONFLICT;
	if (status == 401 || status == 403)
		return BERTH_EAUTH;
	if (status == 408 || status == 429 || status >= 500)
		return BERTH_ETRANSIENT;
	return BERTH_EINVALID;
}
