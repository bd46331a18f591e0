/* The ARM simulator (tests/azure-sim/armsim.py) for unit tests that need it: started once per test
 * file on a free port, reset between cases through its control API, stopped at the end. */
#ifndef BERTH_TEST_ARMSIM_H
#define BERTH_TEST_ARMSIM_H
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "testutil.h"

extern char **environ;

static inline char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return buf;
}

/* ---- the simulator ---- */

static struct {
	pid_t pid;
	int port;
	char url[64];
	char why[512];
} sim;

typedef struct {
	char *data;
	size_t len;
} sbuf;

static inline size_t sbuf_write(char *p, size_t s, size_t n, void *u)
{
	sbuf *b = u;
	char *d = realloc(b->data, b->len + s * n + 1);
	assert_non_null(d);
	b->data = d;
	memcpy(b->data + b->len, p, s * n);
	b->len += s * n;
	b->data[b->len] = '\0';
	return s * n;
}

/* One plain HTTP call (to the simulator's control API or token endpoint). Returns the status. */
static inline long http_call(const char *method, const char *url, const char *ctype, const char *body, json_t **resp)
{
	CURL *c = curl_easy_init();
	assert_non_null(c);
	sbuf b = {0};
	struct curl_slist *h = NULL;
	char ct[128];
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	h = curl_slist_append(h, ct);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sbuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (resp)
		*resp = b.len ? json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL) : NULL;
	free(b.data);
	return status;
}

static inline void sim_post(const char *path, const char *json)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", sim.url, path);
	long st = http_call("POST", url, "application/json", json ? json : "{}", NULL);
	if (st < 200 || st >= 300)
		fail_msg("simulator control call POST %s %s answered %ld", path, json ? json : "", st);
}

static inline void sim_postf(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sim_postf(const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	sim_post(path, s);
	free(s);
}

static inline void sim_stop(void)
{
	if (sim.pid > 0) {
		kill(sim.pid, SIGTERM); /* the simulator this file started, by its pid */
		int st;
		waitpid(sim.pid, &st, 0);
		sim.pid = 0;
	}
}

/* Starts the simulator with its files in dir; on failure sim.why says why (sim.port stays 0). */
static inline void sim_start(const char *dir)
{
	const char *tmpdir = dir;
	const char *script = getenv("BERTH_ARMSIM");
	if (!script || !*script)
		script = "tests/azure-sim/armsim.py";
	if (access(script, R_OK) != 0) {
		snprintf(sim.why, sizeof(sim.why), "%s: %s (run the tests from the repository root)", script,
			 strerror(errno));
		return;
	}
	char port_file[600];
	snprintf(port_file, sizeof(port_file), "%s/armsim.port", tmpdir);
	char *argv[] = {"/usr/bin/python3", (char *)script, "--port", "0", "--port-file", port_file, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* its output goes to a file, shown if it does not start (BERTH_TEST_VERBOSE: to the terminal) */
	char sim_out[600];
	snprintf(sim_out, sizeof(sim_out), "%s/armsim.out", tmpdir);
	if (!getenv("BERTH_TEST_VERBOSE")) {
		posix_spawn_file_actions_addopen(&fa, 1, sim_out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	int rc = posix_spawn(&sim.pid, "/usr/bin/python3", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(sim.why, sizeof(sim.why), "cannot start /usr/bin/python3 %s: %s", script, strerror(rc));
		sim.pid = 0;
		return;
	}
	for (int i = 0; i < 200; i++) { /* up to 20 s */
		char *t = read_text(port_file);
		int port = atoi(t);
		free(t);
		if (port > 0) {
			sim.port = port;
			snprintf(sim.url, sizeof(sim.url), "http://127.0.0.1:%d", port);
			return;
		}
		int st;
		if (waitpid(sim.pid, &st, WNOHANG) == sim.pid) {
			char *out = read_text(sim_out);
			size_t ol = strlen(out);
			snprintf(sim.why, sizeof(sim.why), "%s exited (status %d) before it listened: %s", script,
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1, ol > 300 ? out + ol - 300 : out);
			free(out);
			sim.pid = 0;
			return;
		}
		usleep(100 * 1000);
	}
	snprintf(sim.why, sizeof(sim.why), "%s did not write its port file within 20 s", script);
	sim_stop();
}

#endif
