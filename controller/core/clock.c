#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "spec/xalloc.h"

struct berth_cancel {
	atomic_int fired;
	int pipe[2];
};

berth_cancel *berth_cancel_new(void)
{
	berth_cancel *c = xcalloc(1, sizeof(*c));
	atomic_init(&c->fired, 0);
	if (pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		abort(); /* out of file descriptors at start-up: nothing sensible to do */
	return c;
}

void berth_cancel_free(berth_cancel *c)
{
	if (!c)
		return;
	close(c->pipe[0]);
	close(c->pipe[1]);
	free(c);
}

void berth_cancel_fire(berth_cancel *c)
{
	if (!c)
		return;
	if (atomic_exchange(&c->fired, 1) == 0) {
		int saved = errno; /* a signal handler must not change errno */
		ssize_t n = write(c->pipe[1], "x", 1);
		(void)n; /* the pipe is empty, so one byte always fits */
		errno = saved;
	}
}

bool berth_cancel_fired(const berth_cancel *c)
{
	return c && atomic_load(&((berth_cancel *)c)->fired);
}

void berth_cancel_reset(berth_cancel *c)
{
	if (!c)
		return;
	char buf[16];
	while (read(c->pipe[0], buf, sizeof(buf)) > 0)
		;
	atomic_store(&c->fired, 0);
}

int berth_cancel_fd(const berth_cancel *c)
{
	return c ? c->pipe[0] : -1;
}

static double real_now(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void real_wait(void *ctx, double seconds, berth_cancel *cancel)
{
	double end = real_now(ctx) + seconds;
	for (;;) {
		double left = end - real_now(ctx);
		if (left <= 0 || berth_cancel_fired(cancel))
			return;
		int ms = left > 3600 ? 3600000 : (int)ceil(left * 1000);
		struct pollfd p = {.fd = berth_cancel_fd(cancel), .events = POLLIN};
		/* With no cancel, fd -1 is ignored by poll: a plain sleep. EINTR just loops. */
		(void)poll(&p, 1, ms);
	}
}

static double real_wall(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const berth_clock real_clock = {real_now, real_wait, NULL, real_wall};

static double scaled_now(void *ctx)
{
	return real_now(NULL) * *(double *)ctx;
}

static double scaled_wall(void *ctx)
{
	return real_wall(NULL) * *(double *)ctx;
}

static void scaled_wait(void *ctx, double seconds, berth_cancel *cancel)
{
	real_wait(NULL, seconds / *(double *)ctx, cancel);
}

const berth_clock *berth_clock_scaled(double factor)
{
	double *f = xmalloc(sizeof(*f));
	*f = factor;
	berth_clock *c = xmalloc(sizeof(*c));
	*c = (berth_clock){scaled_now, scaled_wait, f, scaled_wall};
	return c;
}

const berth_clock *berth_clock_real(void)
{
	return &real_clock;
}

double berth_now(const berth_clock *clk)
{
	if (!clk)
		clk = &real_clock;
	return clk->now(clk->ctx);
}

double berth_clock_rate(const berth_clock *clk)
{
	return clk && clk->now == scaled_now ? *(double *)clk->ctx : 1;
}

double berth_wall(const berth_clock *clk)
{
	if (!clk)
		clk = &real_clock;
	return clk->wall ? clk->wall(clk->ctx) : clk->now(clk->ctx);
}

bool berth_sleep(const berth_clock *clk, double seconds, berth_cancel *cancel)
{
	if (!clk)
		clk = &real_clock;
	if (berth_cancel_fired(cancel))
		return false;
	if (seconds > 0)
		clk->wait(clk->ctx, seconds, cancel);
	return !berth_cancel_fired(cancel);
}
