/* Errors that code can branch on: a code (modelled on libgit2's) and a message for people.
 *
 * Code decides by the code, never by the text. A berth_error starts zeroed ({0}: no error);
 * berth_error_set fills it (the message is malloc'd and owned by the error), berth_error_clear
 * frees the message and zeroes it again. */
#ifndef BERTH_ERROR_H
#define BERTH_ERROR_H
#include <stdbool.h>

typedef enum berth_error_code {
	BERTH_OK = 0,
	BERTH_EGENERIC = -1,    /* anything without a better code */
	BERTH_ENOTFOUND = -3,   /* the object does not exist (HTTP 404) */
	BERTH_ECONFLICT = -4,   /* a concurrent change won (409, 412, a stale version index) */
	BERTH_EAUTH = -5,       /* credentials missing or refused (401, 403) */
	BERTH_ETRANSIENT = -6,  /* worth retrying later: 5xx, 429, a dropped connection */
	BERTH_ECANCELED = -7,   /* the caller cancelled (a signal, lost leadership) */
	BERTH_EPLAN = -8,       /* no plan can be made: the problems are in the message */
	BERTH_EINVALID = -9,    /* bad input: a spec, a saved plan, an option */
	BERTH_ETIMEOUT = -10,   /* a wait ran out of time */
	BERTH_EFAILED = -11,    /* the remote side did the work and it failed (tasks crash, provisioning failed) */
	BERTH_ESTALE = -12,     /* a saved plan no longer matches the spec or the live state */
	BERTH_EUNREACHABLE = -13, /* the Docker engine or ARM cannot be reached */
} berth_error_code;

typedef struct berth_error {
	berth_error_code code;
	char *message;
} berth_error;

/* Sets *e (freeing any previous message); e may be NULL. Returns code, so that
 * `return berth_error_set(err, BERTH_EFAILED, "...")` reads naturally. */
int berth_error_set(berth_error *e, berth_error_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, taking a malloc'd message (from the transports' char **err). */
int berth_error_take(berth_error *e, berth_error_code code, char *message);
/* Prefixes the message with context: "listing services: " + message. */
void berth_error_prefix(berth_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void berth_error_clear(berth_error *e);
/* Moves src into dst (dst's old message freed); src is zeroed. */
void berth_error_move(berth_error *dst, berth_error *src);
/* "ENOTFOUND", ... for logs and JSON. */
const char *berth_error_code_name(berth_error_code code);
/* The code an HTTP status maps to: 404 ENOTFOUND, 409/412 ECONFLICT, 401/403 EAUTH, 408/429/5xx
 * ETRANSIENT, 0 (no answer) EUNREACHABLE, other 4xx EINVALID. */
berth_error_code berth_error_from_http(long status);

#endif
