/* berth run's log: one line per event on stderr, as text ("2026-12-03T09:45:00Z info msg") or as
 * JSON lines ({"time":..., "level":..., "msg":..., and fields}). Thread-safe. Callers never pass
 * secrets: messages come from events and errors, which carry none. */
#ifndef BERTH_RUN_LOG_H
#define BERTH_RUN_LOG_H
#include <stdbool.h>
#include <stdio.h>

#include "core/events.h"

typedef struct run_log {
	FILE *out;
	bool json;
} run_log;

/* One line; fields are NULL-terminated key/value pairs (values may be NULL: left out). */
void run_log_line(const run_log *l, const char *level, const char *msg, ...);
/* An engine event as a log line (step events name the step and its outcome). */
void run_log_event(void *ctx, const berth_event *ev);

#endif
