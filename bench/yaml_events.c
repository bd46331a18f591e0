/* yaml_events [-n REPS] FILE: libyaml's bare event-parse time for FILE (parse every event and
 * delete it, nothing else), the median of REPS runs over the file held in memory.
 * spec_bench measures the same interleaved with berth's loader; this is the standalone tool. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

int main(int argc, char **argv)
{
	int reps = 11, ch;
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch == 'n' && atoi(optarg) > 0) {
			reps = atoi(optarg);
		} else {
			fputs("usage: yaml_events [-n REPS] FILE\n", stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs("usage: yaml_events [-n REPS] FILE\n", stderr);
		return 2;
	}
	size_t len;
	char *buf = bench_read_file(argv[optind], &len);
	double *t = calloc((size_t)reps, sizeof(*t));
	long events = bench_yaml_events(buf, len); /* warm-up */
	if (events < 0 || !t)
		return 1;
	for (int i = 0; i < reps; i++) {
		double t0 = bench_now_ms();
		bench_yaml_events(buf, len);
		t[i] = bench_now_ms() - t0;
	}
	double med = bench_median(t, (size_t)reps);
	printf("file_bytes %zu\nevents %ld\nreps %d\nlibyaml_min_ms %.3f\nlibyaml_median_ms %.3f\n"
	       "libyaml_mib_per_s %.1f\n",
	       len, events, reps, t[0], med, (double)len / (1 << 20) / (med / 1e3));
	free(t);
	free(buf);
	return 0;
}
