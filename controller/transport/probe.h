/* A rollout's own health probe: one HTTP GET of a revision's FQDN, answered with the status. */
#ifndef BERTH_PROBE_H
#define BERTH_PROBE_H
#include "core/clock.h"

/* GETs url (http:// or https://, no redirects, timeout_s). connect_to (may be NULL) is curl's
 * CONNECT_TO list, comma-separated, so a test can send the real Host to a local server. Returns
 * the HTTP status, or -1 when no answer came (refused, timed out, cancelled). */
int probe_http(const char *url, const char *connect_to, double timeout_s, berth_cancel *cancel);

#endif
