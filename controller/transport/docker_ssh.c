/* ssh:// Docker hosts: one `ssh ... docker system dial-stdio` process per libcurl connection. See
 * docker_ssh.h.
 *
 * Bookkeeping: every curl easy handle that talks to the host has a slot (found by the handle's
 * address; slots live until docker_ssh_close). A slot lists the connections its handle opened.
 * libcurl keeps a handle's connections to that handle (no multi or share handle is used) and a
 * handle is used by one thread at a time, so a slot is only ever touched by the thread that
 * holds its handle; the mutex guards the list of slots. */
#include "transport/docker_ssh.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#if LIBCURL_VERSION_NUM < 0x075000
#error "ssh:// Docker hosts need libcurl 7.80 or later (CURLOPT_PREREQFUNCTION)"
#endif

/* The docker CLI's default: long enough for a slow bastion, short enough to fail a plan. */
#define SSH_CONNECT_TIMEOUT "ConnectTimeout=30"
/* How long ssh may take to exit after SIGTERM (or after ending the connection itself) before it
 * is killed; the docker CLI waits 3 s too. */
#define SSH_EXIT_GRACE_MS 3000
/* The tail of ssh's stderr that is kept: its last lines say why it failed. */
#define SSH_STDERR_KEEP 4096
/* The most of it that goes into an error message. */
#define SSH_REASON_MAX 600
#define SSH_REASON_LINES 2

/* ---- the URL ---- */

/* The URL as it may be shown: a password (user:password@) becomes xxxxx. */
static char *redacted(const char *url)
{
	const char *a = strstr(url, "://");
	if (!a)
		return xstrdup(url);
	a += 3;
	size_t alen = strcspn(a, "/?#");
	const char *at = memrchr(a, '@', alen);
	const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
	if (!colon)
		return xstrdup(url);
	return xasprintf("%.*sxxxxx%s", (int)(colon + 1 - url), url, at);
}



/* RFC 3986 userinfo characters (unreserved, sub-delims, %-escapes), less ':' (a password). */
static bool user_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=%", c);
}

static bool name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

/* "what 'X'" with X printable, for messages about one character. */
static char *bad_char(const char *what, int c)
{
	if (c >= 0x20 && c < 0x7f)
		return xasprintf("invalid character '%c' in the %s", c, what);
	return xasprintf("invalid character 0x%02x in the %s", (unsigned)c & 0xff, what);
}

/* An IPv6 literal from between the brackets: hex digits, ':' and '.', then maybe a zone
 * (%25 and a name, RFC 6874). The zone's "%25" becomes '%', as ssh wants it. */
static char *ipv6_host(const char *s, size_t n, char **why)
{
	size_t i = 0;
	bool colon = false;
	for (; i < n && s[i] != '%'; i++) {
		if (s[i] == ':')
			colon = true;
		else if (hex_digit(s[i]) < 0 && s[i] != '.')
			break;
	}
	if (n == 0) {
		*why = xstrdup("the host is empty");
		return NULL;
	}
	size_t addr_len = i;
	bool ok = colon && addr_len > 0;
	if (ok && i < n) {
		ok = s[i] == '%' && n - i > 3 && strncmp(s + i, "%25", 3) == 0;
		for (size_t j = i + 3; ok && j < n; j++)
			ok = name_char(s[j]) || s[j] == '~';
	}
	if (!ok) {
		*why = xasprintf("invalid IPv6 address '%.*s'", (int)n, s);
		return NULL;
	}
	if (addr_len == n)
		return xstrndup(s, n);
	return xasprintf("%.*s%%%.*s", (int)addr_len, s, (int)(n - addr_len - 3), s + addr_len + 3);
}

static int parse_port(const char *s, size_t n, int *port, char **why)
{
	if (n == 0) {
		*why = xstrdup("the port is empty");
		return -1;
	}
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 65535) {
			v = -1;
			break;
		}
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535) {
		*why = xasprintf("invalid port '%.*s' (expected 1-65535)", (int)n, s);
		return -1;
	}
	*port = (int)v;
	return 0;
}

/* The parse proper; *why is set on failure. */
static int parse(const char *url, docker_ssh_target *t, char **why)
{
	if (strncmp(url, "ssh://", 6) != 0) {
		*why = xstrdup("expected ssh://[USER@]HOST[:PORT]");
		return -1;
	}
	const char *a = url + 6;
	size_t alen = strcspn(a, "/?#");
	const char *path = a + alen;
	size_t plen = strcspn(path, "?#");
	if (path[plen] == '?') {
		*why = xstrdup("query parameters are not allowed");
		return -1;
	}
	if (path[plen] == '#') {
		*why = xstrdup("fragments are not allowed");
		return -1;
	}

	/* [USER@]: the last '@' ends it, as in Go's net/url (a user may be "me@corp" spelt me%40corp,
	 * or even with a raw '@'). */
	const char *hp = a;
	size_t hlen = alen;
	const char *at = memrchr(a, '@', alen);
	if (at) {
		size_t ulen = (size_t)(at - a);
		if (memchr(a, ':', ulen)) {
			*why = xstrdup("a password in the URL is not supported (use a key, or ssh-agent)");
			return -1;
		}
		for (size_t i = 0; i < ulen; i++)
			if (a[i] != '@' && !user_char((unsigned char)a[i])) {
				*why = bad_char("user name", (unsigned char)a[i]);
				return -1;
			}
		if (ulen > 0 && !(t->user = pct_decode(a, ulen, "user name", why)))
			return -1;
		hp = at + 1;
		hlen = alen - ulen - 1;
	}

	/* HOST[:PORT], HOST a name, an IPv4 address or [IPv6]. */
	const char *first_colon = memchr(hp, ':', hlen);
	if (hp[0] != '[' && first_colon && memchr(first_colon + 1, ':', hlen - (size_t)(first_colon - hp) - 1)) {
		*why = xstrdup("an IPv6 address must be in brackets, e.g. ssh://[::1]:22");
		return -1;
	}
	if (hlen == 0 || hp[0] == ':') {
		*why = xstrdup("the host is empty");
		return -1;
	}
	const char *port = NULL;
	size_t port_len = 0;
	if (hp[0] == '[') {
		const char *close = memchr(hp, ']', hlen);
		if (!close) {
			*why = xstrdup("unterminated IPv6 address (no ']')");
			return -1;
		}
		if (!(t->host = ipv6_host(hp + 1, (size_t)(close - hp - 1), why)))
			return -1;
		const char *after = close + 1, *end = hp + hlen;
		if (after < end) {
			if (*after != ':') {
				*why = xasprintf("unexpected '%.*s' after the IPv6 address", (int)(end - after), after);
				return -1;
			}
			port = after + 1;
			port_len = (size_t)(end - port);
		}
	} else {
		const char *colon = first_colon;
		size_t name_len = colon ? (size_t)(colon - hp) : hlen;
		for (size_t i = 0; i < name_len; i++)
			if (!name_char((unsigned char)hp[i])) {
				*why = bad_char("host name", (unsigned char)hp[i]);
				return -1;
			}
		/* ssh would read a leading '-' as an option were it not for "--"; refuse it anyway. */
		if (hp[0] == '-' || hp[0] == '.') {
			*why = xasprintf("invalid host name '%.*s'", (int)name_len, hp);
			return -1;
		}
		t->host = xstrndup(hp, name_len);
		if (colon) {
			port = colon + 1;
			port_len = hlen - name_len - 1;
		}
	}
	if (port && parse_port(port, port_len, &t->port, why) < 0)
		return -1;

	/* /SOCKET_PATH: the engine's socket on the remote host ("/" alone is no path). */
	if (plen > 0) {
		char *p = pct_decode(path, plen, "socket path", why);
		if (!p)
			return -1;
		if (p[strspn(p, "/")] == '\0')
			free(p);
		else
			t->socket_path = p;
	}
	return 0;
}

int docker_ssh_parse(const char *url, docker_ssh_target *t, char **err)
{
	memset(t, 0, sizeof(*t));
	char *why = NULL;
	if (parse(url ? url : "", t, &why) == 0)
		return 0;
	docker_ssh_target_free(t);
	char *shown = redacted(url ? url : "");
	set_err(err, xasprintf("invalid Docker host %s: %s", shown, why));
	free(shown);
	free(why);
	return -1;
}

void docker_ssh_target_free(docker_ssh_target *t)
{
	free(t->user);
	free(t->host);
	free(t->socket_path);
	memset(t, 0, sizeof(*t));
}

/* ---- the command line ---- */

/* s in single quotes for the remote POSIX shell (ssh hands the command to the user's shell). */
static char *sh_quote(const char *s)
{
	size_t n = 2;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = xmalloc(n + 1);
	if (!out)
		abort();
	char *o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

char **docker_ssh_argv(const docker_ssh_target *t, const char *config_file)
{
	enum { MAX_ARGS = 20 };
	char **v = xcalloc(MAX_ARGS, sizeof(*v));
	if (!v)
		abort();
	size_t n = 0;
	v[n++] = xstrdup("ssh");
	if (nonempty(config_file)) {
		v[n++] = xstrdup("-F");
		v[n++] = xstrdup(config_file);
	}
	if (t->user) {
		v[n++] = xstrdup("-l");
		v[n++] = xstrdup(t->user);
	}
	if (t->port) {
		v[n++] = xstrdup("-p");
		v[n++] = xasprintf("%d", t->port);
	}
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup(SSH_CONNECT_TIMEOUT);
	/* Never prompt (for a passphrase, a password or an unknown host key): berth runs unattended,
	 * and a prompt would hang the request until its timeout. */
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("BatchMode=yes");
	/* No pseudo-terminal: the channel carries HTTP bytes, and a tty would mangle them. */
	v[n++] = xstrdup("-T");
	v[n++] = xstrdup("--");
	v[n++] = xstrdup(t->host);
	if (t->socket_path) {
		char *opt = xasprintf("--host=unix://%s", t->socket_path);
		char *q = sh_quote(opt);
		v[n++] = xasprintf("docker %s system dial-stdio", q);
		free(q);
		free(opt);
	} else {
		v[n++] = xstrdup("docker system dial-stdio");
	}
	v[n] = NULL;
	return v;
}

void docker_ssh_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* ---- processes ---- */

typedef struct ssh_conn {
	struct ssh_conn *next;
	int fd;     /* the socket libcurl has */
	int err_fd; /* the read end of ssh's stderr, non-blocking; -1 before ssh runs */
	pid_t pid;  /* -1 before ssh runs */
	struct sockaddr_un name; /* fd's own (autobound) address, to pick its peer out of the listener */
	socklen_t name_len;
	unsigned long generation; /* the slot's generation when it was opened */
	size_t err_len;
	char err[SSH_STDERR_KEEP];
} ssh_conn;

typedef struct ssh_slot {
	struct ssh_slot *next;
	docker_ssh *owner;
	CURL *curl;
	int listen_fd;      /* where this handle's connections go; -1 if it could not be made */
	char *listen_path;  /* its path, in the handle's private directory */
	char *listen_error; /* why there is no listener */
	unsigned long generation; /* one per request (docker_ssh_setopt) */
	ssh_conn *conns;
	ssh_conn *pending; /* connected by libcurl, its ssh not started yet */
	char *failure;     /* since the last docker_ssh_setopt; NULL: none */
	bool failure_fresh;
} ssh_slot;

struct docker_ssh {
	char **argv;
	char *dir; /* private (0700) directory for the listeners' sockets */
	pthread_mutex_t mu;
	unsigned n_slots;
	ssh_slot *slots;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends what ssh has written to its stderr so far, keeping the last SSH_STDERR_KEEP bytes.
 * Returns 1 at end of file (ssh and everything that inherited its stderr are gone), else 0. */
static int drain_stderr(ssh_conn *cn)
{
	char buf[1024];
	for (;;) {
		ssize_t r = read(cn->err_fd, buf, sizeof(buf));
		if (r == 0)
			return 1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: nothing more for now; anything else: there is nothing more to read. */
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
		}
		size_t n = (size_t)r;
		_Static_assert(sizeof(buf) <= SSH_STDERR_KEEP, "one read fits in what is kept");
		if (cn->err_len + n > SSH_STDERR_KEEP) {
			size_t drop = cn->err_len + n - SSH_STDERR_KEEP;
			memmove(cn->err, cn->err + drop, cn->err_len - drop);
			cn->err_len -= drop;
		}
		memcpy(cn->err + cn->err_len, buf, n);
		cn->err_len += n;
	}
}

/* Reads stderr until end of file or for at most timeout_ms. Returns 1 at end of file. */
static int drain_stderr_until_eof(ssh_conn *cn, long timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	for (;;) {
		if (drain_stderr(cn))
			return 1;
		long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = cn->err_fd, .events = POLLIN};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return 0;
	}
}

/* Ends ssh and reaps it: SIGTERM unless it is already on its way out, SIGKILL after the grace
 * period. Returns its wait status, or -1 if it could not be had (SIGCHLD ignored by the program:
 * the kernel reaped it). */
static int end_process(ssh_conn *cn, bool already_ending)
{
	if (!already_ending)
		(void)kill(cn->pid, SIGTERM); /* the pid is ours until waitpid: it cannot be reused */
	if (!drain_stderr_until_eof(cn, SSH_EXIT_GRACE_MS)) {
		/* Still running, or something it started still holds its stderr. */
		(void)kill(cn->pid, SIGKILL);
		drain_stderr(cn);
	}
	int status = -1;
	while (waitpid(cn->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	(void)close(cn->err_fd); /* a read end: a failed close loses nothing */
	cn->err_fd = -1;
	cn->pid = -1;
	return status;
}

/* The last SSH_REASON_LINES lines of what ssh said, on one line: control characters (the remote
 * side's stderr is forwarded too, it must not reach a terminal raw) and the "@@@@" banner lines
 * of a changed host key dropped. NULL if it said nothing. */
static char *stderr_tail(const ssh_conn *cn)
{
	char text[SSH_STDERR_KEEP + 1];
	size_t n = 0;
	for (size_t i = 0; i < cn->err_len; i++) {
		unsigned char c = (unsigned char)cn->err[i];
		if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
			text[n++] = c == '\t' ? ' ' : (char)c;
		else if (c != '\r')
			text[n++] = '?';
	}
	text[n] = '\0';
	/* Walk back over the lines, collecting the last meaningful ones. */
	const char *lines[SSH_REASON_LINES];
	size_t lens[SSH_REASON_LINES];
	int got = 0;
	size_t end = n;
	while (end > 0 && got < SSH_REASON_LINES) {
		size_t start = end;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		size_t b = start, e = end;
		while (b < e && text[b] == ' ')
			b++;
		while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\n'))
			e--;
		bool banner = e > b && strspn(text + b, "@ ") >= e - b;
		if (e > b && !banner) {
			lines[got] = text + b;
			lens[got] = e - b;
			got++;
		}
		end = start > 0 ? start - 1 : 0;
	}
	if (got == 0)
		return NULL;
	char *out = NULL;
	for (int i = got - 1; i >= 0; i--) {
		char *s = xasprintf("%s%s%.*s", out ? out : "", out ? " " : "", (int)lens[i], lines[i]);
		free(out);
		out = s;
	}
	if (strlen(out) > SSH_REASON_MAX)
		strcpy(out + SSH_REASON_MAX - 3, "...");
	return out;
}

static char *describe(int status, const ssh_conn *cn)
{
	char *tail = stderr_tail(cn);
	char *head;
	if (status == -1)
		head = xstrdup("ssh ended the connection");
	else if (WIFEXITED(status))
		head = xasprintf("ssh exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		head = xasprintf("ssh was killed by signal %d", WTERMSIG(status));
	else
		head = xasprintf("ssh ended with wait status %d", status);
	char *r = tail ? xasprintf("%s: %s", head, tail) : head;
	if (tail)
		free(head);
	free(tail);
	return r;
}

static void record_failure(ssh_slot *sl, char *why, bool fresh)
{
	free(sl->failure);
	sl->failure = why;
	sl->failure_fresh = fresh;
}

/* Starts ssh with sock as its stdin and stdout (the socket is bidirectional). Sets cn->pid and
 * cn->err_fd, or returns -1 with *why set. Leaves sock open. */
static int spawn(const docker_ssh *s, ssh_conn *cn, int sock, char **why)
{
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0) {
		*why = xasprintf("cannot create a pipe for ssh's stderr: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc == 0 && (rc = posix_spawnattr_init(&attr)) != 0)
		posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		*why = xasprintf("cannot start ssh: %s", strerror(rc));
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	/* dup2 clears close-on-exec on the copies; every other descriptor (another connection's
	 * socket above all, which would then never see end of file) stays out of ssh. */
	rc = posix_spawn_file_actions_adddup2(&fa, sock, STDIN_FILENO);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, sock, STDOUT_FILENO);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, ep[1], STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Descriptors that libraries opened without O_CLOEXEC, too. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
	/* Its own session: a Ctrl-C meant for berth (which finishes its in-flight steps) does not
	 * cut its connections, and ssh has no terminal to prompt on. Default signal dispositions and
	 * an empty mask, whatever the spawning thread had. */
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_SETSID
	flags |= POSIX_SPAWN_SETSID;
#endif
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, flags);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &all);
	pid_t pid = -1;
	if (rc == 0)
		rc = posix_spawnp(&pid, s->argv[0], &fa, &attr, s->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(ep[1]);
	if (rc != 0) {
		*why = rc == ENOENT ? xstrdup("cannot run ssh: it is not on PATH (install an OpenSSH client)")
				    : xasprintf("cannot run ssh: %s", strerror(rc));
		close(ep[0]);
		return -1;
	}
	cn->pid = pid;
	cn->err_fd = ep[0];
	int fl = fcntl(ep[0], F_GETFL);
	if (fl < 0 || fcntl(ep[0], F_SETFL, fl | O_NONBLOCK) < 0) {
		/* A blocking stderr would stall every later drain: give this connection up. */
		*why = xasprintf("cannot set up ssh's stderr: %s", strerror(errno));
		(void)kill(pid, SIGKILL);
		end_process(cn, true);
		return -1;
	}
	return 0;
}

/* ---- the per-handle listener ----
 *
 * Why not a socketpair handed to libcurl as already connected: libcurl 7.88 (Debian 12's)
 * connect()s such a socket anyway and fails (curl PR #10648, fixed in 8.0.0). So libcurl
 * connects for real, to a unix socket that only this process listens on, and the connection it
 * accepts becomes ssh's stdin and stdout: bytes go straight between libcurl and ssh, nothing is
 * copied in between. The socket is a file in a private directory, not an abstract name,
 * because libcurl 7.88 never reuses a connection to an abstract socket (its address prints as
 * an empty "IP", which reads as "still resolving"). The directory is mode 0700, and a
 * connection from anything but the socket libcurl just made is closed unread anyway. One
 * listener per curl handle: libcurl reuses a connection only for the same socket path. */

/* Makes the private directory: $XDG_RUNTIME_DIR (per user, cleaned at logout), else $TMPDIR,
 * else /tmp. */
static char *private_dir(char **why)
{
	const char *bases[] = {getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"), "/tmp"};
	int last_errno = 0;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!nonempty(bases[i]))
			continue;
		char *d = xasprintf("%s/berth-ssh-XXXXXX", bases[i]);
		if (mkdtemp(d)) /* mode 0700 */
			return d;
		last_errno = errno;
		free(d);
	}
	*why = xasprintf("cannot create a private directory for ssh's sockets: %s", strerror(last_errno));
	return NULL;
}

static int listener_open(docker_ssh *s, ssh_slot *sl, unsigned n, char **why)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	sl->listen_path = xasprintf("%s/%u", s->dir, n);
	if (strlen(sl->listen_path) >= sizeof(a.sun_path)) {
		*why = xasprintf("cannot listen for ssh at %s: the path is too long for a unix socket",
				 sl->listen_path);
		return -1;
	}
	strcpy(a.sun_path, sl->listen_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		*why = xasprintf("cannot listen for ssh at %s: %s", sl->listen_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sl->listen_fd = fd;
	return 0;
}

/* Accepts cn's connection (skipping strangers' and stale ones) and starts its ssh. */
static int start_pending(ssh_slot *sl, ssh_conn *cn, char **why)
{
	for (;;) {
		struct sockaddr_un peer;
		socklen_t plen = sizeof(peer);
		int s = accept4(sl->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			*why = errno == EAGAIN || errno == EWOULDBLOCK
				       ? xstrdup("the connection for ssh was not found on its unix socket")
				       : xasprintf("cannot accept the connection for ssh: %s", strerror(errno));
			return -1;
		}
		/* A stranger's, or a connection libcurl closed before its request: an autobound name
		 * may be taken again once its socket is closed, so a live peer is checked for too. */
		struct pollfd p = {.fd = s, .events = POLLRDHUP};
		if (plen != cn->name_len || memcmp(&peer, &cn->name, plen) != 0 ||
		    (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {
			close(s);
			continue;
		}
		int rc = spawn(sl->owner, cn, s, why);
		close(s); /* ssh has it now */
		return rc;
	}
}

/* ---- libcurl callbacks ---- */

static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)address; /* the listener's, from CURLOPT_UNIX_SOCKET_PATH */
	ssh_slot *sl = clientp;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (sl->listen_fd < 0) {
		record_failure(sl, xstrdup(sl->listen_error), true);
		return CURL_SOCKET_BAD;
	}
	ssh_conn *cn = xcalloc(1, sizeof(*cn));
	if (!cn)
		abort();
	cn->pid = -1;
	cn->err_fd = -1;
	cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cn->name_len = sizeof(cn->name);
	/* Its own autobound name tells its connection from others on the listener. */
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (cn->fd < 0 || bind(cn->fd, (struct sockaddr *)&a, sizeof(sa_family_t)) < 0 ||
	    getsockname(cn->fd, (struct sockaddr *)&cn->name, &cn->name_len) < 0) {
		record_failure(sl, xasprintf("cannot create a unix socket for ssh: %s", strerror(errno)), true);
		if (cn->fd >= 0)
			close(cn->fd);
		free(cn);
		return CURL_SOCKET_BAD;
	}
	cn->generation = sl->generation;
	cn->next = sl->conns;
	sl->conns = cn;
	sl->pending = cn;
	return cn->fd;
}

/* Called once libcurl is connected, before each request: a new connection gets its ssh here. */
static int on_prereq(void *clientp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
		     int conn_local_port)
{
	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	ssh_slot *sl = clientp;
	ssh_conn *cn = sl->pending;
	if (!cn)
		return CURL_PREREQFUNC_OK; /* a kept-alive connection */
	sl->pending = NULL;
	char *why = NULL;
	if (start_pending(sl, cn, &why) < 0) {
		record_failure(sl, why, true);
		return CURL_PREREQFUNC_ABORT; /* libcurl closes the connection */
	}
	return CURL_PREREQFUNC_OK;
}

/* libcurl is done with the connection. If ssh ended it (its end of the socket is closed: ssh
 * exited or is exiting), a non-zero status is the failure to report; otherwise berth is closing
 * a healthy connection and ssh is terminated. Either way it is reaped here: no zombies. */
static int on_close(void *clientp, curl_socket_t fd)
{
	ssh_slot *sl = clientp;
	ssh_conn **pp = &sl->conns;
	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	ssh_conn *cn = *pp;
	if (!cn)
		return close(fd); /* not one of ours (cannot happen): close it as libcurl would */
	*pp = cn->next;
	if (sl->pending == cn)
		sl->pending = NULL;
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
	bool peer_gone = poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
	int rc = close(fd);
	if (cn->pid > 0) {
		int status = end_process(cn, peer_gone);
		if (peer_gone && !(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0))
			record_failure(sl, describe(status, cn), cn->generation == sl->generation);
	}
	free(cn);
	return rc;
}

/* ---- the handle ---- */

docker_ssh *docker_ssh_open(const char *url, char **err)
{
	docker_ssh_target t;
	if (docker_ssh_parse(url, &t, err) < 0)
		return NULL;
	docker_ssh *s = xcalloc(1, sizeof(*s));
	if (!s)
		abort();
	s->argv = docker_ssh_argv(&t, getenv("BERTH_SSH_CONFIG"));
	docker_ssh_target_free(&t);
	if (!(s->dir = private_dir(err))) {
		docker_ssh_argv_free(s->argv);
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

static ssh_slot *slot_for(docker_ssh *s, CURL *c)
{
	pthread_mutex_lock(&s->mu);
	ssh_slot *sl = s->slots;
	while (sl && sl->curl != c)
		sl = sl->next;
	if (!sl) {
		sl = xcalloc(1, sizeof(*sl));
		if (!sl)
			abort();
		sl->owner = s;
		sl->curl = c;
		sl->listen_fd = -1;
		listener_open(s, sl, s->n_slots++, &sl->listen_error); /* on_open reports a failure */
		sl->next = s->slots;
		s->slots = sl;
	}
	pthread_mutex_unlock(&s->mu);
	return sl;
}

void docker_ssh_setopt(docker_ssh *s, CURL *c)
{
	ssh_slot *sl = slot_for(s, c);
	sl->generation++;
	record_failure(sl, NULL, false);
	/* Kept-alive connections: take what their ssh wrote meanwhile, so that a chatty one never
	 * blocks on a full pipe. */
	for (ssh_conn *cn = sl->conns; cn; cn = cn->next)
		if (cn->pid > 0)
			drain_stderr(cn);
	/* Set even when there is no listener (on_open then reports why): a unix socket path keeps
	 * libcurl off DNS for "docker". */
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sl->listen_fd >= 0 ? sl->listen_path : "/berth-ssh-unavailable");
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, sl);
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(c, CURLOPT_PREREQDATA, sl);
	/* libcurl keeps these two with each connection, so they stay in force after a reset. */
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, sl);
}

char *docker_ssh_failure(docker_ssh *s, CURL *c, bool *fresh)
{
	ssh_slot *sl = slot_for(s, c);
	if (fresh)
		*fresh = sl->failure_fresh;
	return sl->failure ? xstrdup(sl->failure) : NULL;
}

void docker_ssh_close(docker_ssh *s)
{
	if (!s)
		return;
	for (ssh_slot *sl = s->slots, *next; sl; sl = next) {
		next = sl->next;
		/* Connections libcurl did not close (a handle that was never cleaned up): the socket
		 * is still libcurl's, so it is left alone, but ssh is ended and reaped. */
		for (ssh_conn *cn = sl->conns, *cnext; cn; cn = cnext) {
			cnext = cn->next;
			if (cn->pid > 0)
				end_process(cn, false);
			free(cn);
		}
		if (sl->listen_fd >= 0) {
			close(sl->listen_fd);
			/* Nothing to report to: the close cannot fail. A file left in a private
			 * temporary directory harms nothing. */
			(void)unlink(sl->listen_path);
		}
		free(sl->listen_path);
		free(sl->listen_error);
		free(sl->failure);
		free(sl);
	}
	(void)rmdir(s->dir); /* empty now; if not, see above */
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
	docker_ssh_argv_free(s->argv);
	free(s);
}
