/* The repository URL of a git source, taken apart once: which transport it needs, what libgit2 is
 * given (never a password), the user and password it carried, the host and port an SSH host key
 * is looked up under, and the form every message shows (berth_url_redact, declared in source.h).
 *
 * Accepted: https://, http:// (smart HTTP); ssh://, git+ssh://, ssh+git:// and the scp-like
 * [user@]host:path; file:// and local paths. Anything else (git://, which authenticates nothing,
 * ftp://, ...) is refused. Pure: no I/O but getcwd() for a relative local path. */
#ifndef BERTH_SOURCE_URL_H
#define BERTH_SOURCE_URL_H
#include <stdbool.h>

typedef enum source_url_kind {
	SOURCE_URL_HTTP,  /* http:// and https:// */
	SOURCE_URL_SSH,   /* ssh:// (and its aliases) and scp-like */
	SOURCE_URL_LOCAL, /* file:// and paths */
} source_url_kind;

typedef struct source_url {
	source_url_kind kind;
	bool tls;        /* https:// */
	char *fetch_url; /* what libgit2 connects to: http(s) without userinfo, ssh without a password,
			  * a local path made absolute */
	char *shown;     /* berth_url_redact(url), or the absolute path */
	char *key;       /* what names the cache repository: shown (so no secret is in a path) */
	char *user;      /* from the userinfo, %-decoded; NULL if none */
	char *password;  /* from the userinfo, %-decoded; NULL if none; wiped when freed */
	char *host;      /* http and ssh: the host, without IPv6 brackets */
	int port;        /* ssh: 22 unless given; http: 0 unless given */
} source_url;

/* Parses url into *out (zeroed first). Returns 0, or -1 with *why (malloc'd; it never holds the
 * password). */
int source_url_parse(const char *url, source_url *out, char **why);
void source_url_free(source_url *u);

/* The name a host has in known_hosts: "host" on port 22, else "[host]:port". */
char *source_url_known_hosts_name(const char *host, int port);

#endif
