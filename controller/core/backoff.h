/* Exponential backoff with jitter: the one formula for every retry in berth (ARM requests, token
 * requests, a failed commit in the run loop). */
#ifndef BERTH_BACKOFF_H
#define BERTH_BACKOFF_H

/* base * 2^attempt, capped at max, then scaled by a random factor in [0.5, 1) ("equal jitter"),
 * so that clients that failed together do not retry together. attempt counts from 0. */
double berth_backoff(double base, double max, int attempt);
/* The same without jitter (for tests and for waits that must be predictable). */
double berth_backoff_nojitter(double base, double max, int attempt);

#endif
