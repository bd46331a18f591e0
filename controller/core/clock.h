/* Time and cancellation, injected: every wait in berth (service convergence, the ACI start wait,
 * ARM long-running operations, retries and backoff, libcurl transfers) reads the time from a
 * berth_clock and sleeps through it, and every one of them returns early when its berth_cancel
 * fires. So SIGINT, SIGTERM or lost leadership stop work within one poll, and tests run waits of
 * minutes on a fake clock in no time.
 *
 * A berth_cancel is a flag plus a pipe: firing it is async-signal-safe (a signal handler may call
 * berth_cancel_fire), and the real clock's wait is a poll() on the pipe, so a sleeper wakes the
 * moment the flag is set. Once fired it stays fired until berth_cancel_reset. */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H
#include <stdbool.h>

typedef struct berth_cancel berth_cancel;

berth_cancel *berth_cancel_new(void);
void berth_cancel_free(berth_cancel *c);
void berth_cancel_fire(berth_cancel *c); /* async-signal-safe; NULL is fine */
bool berth_cancel_fired(const berth_cancel *c); /* false for NULL */
void berth_cancel_reset(berth_cancel *c);       /* not while anyone waits on it */
int berth_cancel_fd(const berth_cancel *c);     /* readable once fired; -1 for NULL */

typedef struct berth_clock {
	double (*now)(void *ctx); /* monotonic seconds */
	/* Waits up to seconds, or less once cancel (may be NULL) has fired. */
	void (*wait)(void *ctx, double seconds, berth_cancel *cancel);
	void *ctx;
	/* Unix seconds, for times kept on live objects (a rollout's step start); NULL: now(), so a
	 * fake clock's wall time moves with it. */
	double (*wall)(void *ctx);
} berth_clock;

/* CLOCK_MONOTONIC and poll() on the cancel pipe. */
const berth_clock *berth_clock_real(void);
/* The real clock running factor times faster (now and wall multiplied, waits divided): the
 * integration tests' rollouts pause for minutes of berth time in seconds of real time, with the
 * simulator's monitor on the same scale. factor must be > 0. Lives for the process. */
const berth_clock *berth_clock_scaled(double factor);
/* How many seconds of clk pass per real second: the factor of a scaled clock, else 1. */
double berth_clock_rate(const berth_clock *clk);

/* Through clk (NULL: the real clock). */
double berth_now(const berth_clock *clk);
double berth_wall(const berth_clock *clk);
/* Sleeps seconds through clk unless cancel fires; returns false if it fired (before or during). */
bool berth_sleep(const berth_clock *clk, double seconds, berth_cancel *cancel);

#endif
