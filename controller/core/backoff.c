#include "core/backoff.h"

#include <math.h>
#include <openssl/rand.h>

double berth_backoff_nojitter(double base, double max, int attempt)
{
	double d = base * pow(2, attempt < 0 ? 0 : attempt > 62 ? 62 : attempt);
	return d > max ? max : d;
}

static double rand_unit(void)
{
	unsigned int r;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0.5;
	return (double)r / 4294967296.0;
}

double berth_backoff(double base, double max, int attempt)
{
	return berth_backoff_nojitter(base, max, attempt) * (0.5 + 0.5 * rand_unit());
}
