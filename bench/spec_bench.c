/* spec_bench: berth's spec loader against libyaml's bare event parse, on the same bytes.
 *
 *   spec_bench [-n REPS] FILE       time both, interleaved in this one process
 *   spec_bench --rss BERTH FILE     peak RSS of `BERTH validate --skip-secret-refs -q FILE`
 *
 * Timing: FILE is read into memory once. Each repetition times libyaml's event loop
 * (yaml_parser_parse + yaml_event_delete, nothing else) and berth's spec_load_buffer (parse,
 * tree, decode, validate; skip_secret_refs) followed by spec_free, alternating which of the two
 * goes first, so that machine noise hits both alike. Prints "KEY VALUE" lines: medians,
 * minimums and the ratio of the medians, berth/libyaml.
 *
 * RSS: runs berth as a child (fork + exec from this small process, before anything is loaded)
 * and reads the child's ru_maxrss from wait4(). Also measures `BERTH --version`, the fixed cost
 * of the executable and its libraries. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spec/spec.h"
#include "bench.h"

static int usage(void)
{
	fputs("usage: spec_bench [-n REPS] FILE\n"
	      "       spec_bench --rss BERTH FILE\n",
	      stderr);
	return 2;
}

/* Runs argv with stdout and stderr sent to /dev/null; returns the peak RSS in KiB, or -1. */
static long child_maxrss_kib(char *const argv[], int *status)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("spec_bench: fork");
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	struct rusage ru;
	if (wait4(pid, status, 0, &ru) < 0) {
		perror("spec_bench: wait4");
		return -1;
	}
	return ru.ru_maxrss; /* KiB on Linux */
}

static int measure_rss(const char *berth, const char *file)
{
	struct stat st;
	if (stat(file, &st) != 0) {
		perror(file);
		return 2;
	}
	int status;
	char *base_argv[] = {(char *)berth, "--version", NULL};
	long base = child_maxrss_kib(base_argv, &status);
	char *argv[] = {(char *)berth, "validate", "--skip-secret-refs", "-q", (char *)file, NULL};
	long peak = child_maxrss_kib(argv, &status);
	if (peak < 0)
		return 1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "spec_bench: %s validate %s failed (status %d)\n", berth, file,
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return 1;
	}
	printf("file_bytes %lld\n", (long long)st.st_size);
	printf("rss_base_kib %ld\n", base);
	printf("rss_peak_kib %ld\n", peak);
	printf("rss_peak_mib %.1f\n", peak / 1024.0);
	printf("rss_multiple %.2f\n", peak * 1024.0 / (double)st.st_size);
	return 0;
}

static double time_berth(const char *buf, size_t len, const char *file, const spec_options *opts, int *ok)
{
	double t0 = bench_now_ms();
	spec_diags *d = spec_diags_new();
	spec *s = spec_load_buffer(buf, len, file, opts, d);
	*ok = s != NULL;
	spec_free(s);
	spec_diags_free(d);
	return bench_now_ms() - t0;
}

static double time_libyaml(const char *buf, size_t len, long *events)
{
	double t0 = bench_now_ms();
	*events = bench_yaml_events(buf, len);
	return bench_now_ms() - t0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--rss"))
		return measure_rss(argv[2], argv[3]);

	int reps = 11, ch;
	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch == 'n' && atoi(optarg) > 0)
			reps = atoi(optarg);
		else
			return usage();
	}
	if (optind != argc - 1)
		return usage();
	const char *file = argv[optind];
	size_t len;
	char *buf = bench_read_file(file, &len);
	spec_options opts = {.skip_secret_refs = true};

	/* Warm-up, and a check that the file is valid: an invalid one measures error paths. */
	spec_diags *d = spec_diags_new();
	spec *s = spec_load_buffer(buf, len, file, &opts, d);
	if (!s) {
		spec_diags_print(d, stderr);
		fprintf(stderr, "spec_bench: %s is not a valid spec\n", file);
		return 1;
	}
	size_t services = spec_model(s)->swarm.n_services;
	spec_free(s);
	spec_diags_free(d);
	long events;
	time_libyaml(buf, len, &events);
	if (events < 0)
		return 1;

	double *ty = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double));
	if (!ty || !tb)
		return 1;
	for (int i = 0; i < reps; i++) {
		int ok;
		long ev;
		if (i % 2 == 0) {
			ty[i] = time_libyaml(buf, len, &ev);
			tb[i] = time_berth(buf, len, file, &opts, &ok);
		} else {
			tb[i] = time_berth(buf, len, file, &opts, &ok);
			ty[i] = time_libyaml(buf, len, &ev);
		}
	}
	double my = bench_median(ty, (size_t)reps), mb = bench_median(tb, (size_t)reps);
	printf("file_bytes %zu\n", len);
	printf("services %zu\n", services);
	printf("events %ld\n", events);
	printf("reps %d\n", reps);
	printf("libyaml_min_ms %.3f\n", ty[0]);
	printf("libyaml_median_ms %.3f\n", my);
	printf("berth_min_ms %.3f\n", tb[0]);
	printf("berth_median_ms %.3f\n", mb);
	printf("berth_mib_per_s %.1f\n", (double)len / (1 << 20) / (mb / 1e3));
	printf("ratio %.3f\n", mb / my);
	free(ty);
	free(tb);
	free(buf);
	return 0;
}
