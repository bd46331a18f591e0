#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
