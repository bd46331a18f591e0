/* DOCKER_HOST=ssh://[USER@]HOST[:PORT][/SOCKET] for the Docker client, the way the docker CLI
 * does it: every libcurl connection is its own `ssh ... -- HOST docker system dial-stdio`
 * process, and the Engine API is spoken over that process's stdin and stdout.
 *
 * libcurl connects to a unix socket that only this process listens on (one per curl handle, in
 * a private directory); the connection accepted there, once libcurl is connected
 * (CURLOPT_PREREQFUNCTION), is handed to a new ssh as its stdin and stdout. Why not a socketpair
 * given to libcurl as already connected: see docker_ssh.c. When libcurl closes the connection
 * (CURLOPT_CLOSESOCKETFUNCTION) ssh is terminated and reaped; when ssh ends the connection itself
 * its exit status and the tail of its stderr (host key verification failed, permission denied,
 * ...) become the error message.
 *
 * The ssh client is the first `ssh` on PATH with the environment berth has (so ~/.ssh/config and
 * SSH_AUTH_SOCK apply, as with the docker CLI); BERTH_SSH_CONFIG=FILE passes `-F FILE` instead
 * (ssh then reads only FILE). It runs with BatchMode=yes: it never prompts, so the host key must
 * already be in known_hosts and the key must need no passphrase (or sit in ssh-agent). */
#ifndef BERTH_DOCKER_SSH_H
#define BERTH_DOCKER_SSH_H
#include <curl/curl.h>
#include <stdbool.h>

/* The URL's parts, malloc'd. */
typedef struct docker_ssh_target {
	char *user;        /* NULL: ssh's default (~/.ssh/config, else the local user) */
	char *host;        /* a name or an address; IPv6 without its brackets */
	int port;          /* 0: ssh's default */
	char *socket_path; /* the engine's socket on the remote host; NULL: the remote docker CLI's default */
} docker_ssh_target;

/* Parses ssh://[USER@]HOST[:PORT][/SOCKET_PATH] (USER and SOCKET_PATH may be %-encoded, an IPv6
 * address is in brackets). On error returns -1 with *err set to "invalid Docker host URL: REASON";
 * a password in the URL is refused and never repeated (it shows as "xxxxx"). */
int docker_ssh_parse(const char *url, docker_ssh_target *t, char **err);
void docker_ssh_target_free(docker_ssh_target *t);

/* The ssh command line for t, NULL-terminated, argv[0] "ssh"; config_file NULL or "" for none.
 * Free with docker_ssh_argv_free. */
char **docker_ssh_argv(const docker_ssh_target *t, const char *config_file);
void docker_ssh_argv_free(char **argv);

/* The base URL to give libcurl: nothing is resolved, the host name only fills the Host header. */
#define DOCKER_SSH_BASE_URL "http://docker"

typedef struct docker_ssh docker_ssh;

/* Parses url and reads BERTH_SSH_CONFIG; NULL with *err set on a bad URL. Spawns nothing yet. */
docker_ssh *docker_ssh_open(const char *url, char **err);
/* Terminates and reaps every ssh still running. Call after the curl handles that used s are
 * cleaned up (their connections close through s). */
void docker_ssh_close(docker_ssh *s);

/* Before each request on c (after curl_easy_reset; it sets CURLOPT_UNIX_SOCKET_PATH and the
 * socket callbacks): makes c's new connections ssh processes and forgets the last failure
 * recorded for c. */
void docker_ssh_setopt(docker_ssh *s, CURL *c);

/* After a failed request on c: why the ssh process of one of c's connections ended during it
 * ("ssh exited with status 255: Host key verification failed."), or why it could not start;
 * malloc'd, or NULL when no ssh failed (the transfer failed for another reason). *fresh is
 * true when that connection was opened for this request (nothing had been exchanged on it). */
char *docker_ssh_failure(docker_ssh *s, CURL *c, bool *fresh);

#endif
