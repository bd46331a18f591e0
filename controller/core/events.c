#include "core/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "spec/xalloc.h"

void berth_emit(const berth_events *events, const berth_event *ev)
{
	if (events && events->fn)
		events->fn(events->ctx, ev);
}

void berth_emitf(const berth_events *events, berth_event_kind kind, const plan *p, const plan_step *step,
		 const char *fmt, ...)
{
	if (!events || !events->fn)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	berth_event ev = {.kind = kind, .message = msg, .plan = p, .step = step};
	events->fn(events->ctx, &ev);
	free(msg);
}
