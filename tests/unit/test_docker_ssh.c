/* ssh:// Docker hosts: the URL forms accepted and refused (with their messages), and the ssh
 * command line built from them. The transport itself is tested in test_docker.c (a fake ssh)
 * and tests/integration/t_docker_ssh.sh (a real sshd). */
#include "testutil.h"
#include "transport/docker_ssh.h"

typedef struct {
	const char *url;
	const char *user, *host;
	int port;
	const char *socket_path;
} good_case;

static void assert_str_or_null(const char *exp, const char *got, const char *url, const char *what)
{
	if (!exp && !got)
		return;
	if (!exp || !got || strcmp(exp, got) != 0) {
		print_error("%s: %s: expected %s, got %s\n", url, what, exp ? exp : "NULL", got ? got : "NULL");
		fail();
	}
}

static void test_parse_accepted(void **state)
{
	static const good_case cases[] = {
		{"ssh://host", NULL, "host", 0, NULL},
		{"ssh://me@host", "me", "host", 0, NULL},
		{"ssh://root@127.0.0.1:2222", "root", "127.0.0.1", 2222, NULL},
		{"ssh://swarm-manager.westeurope.cloudapp.azure.com:2200", NULL,
		 "swarm-manager.westeurope.cloudapp.azure.com", 2200, NULL},
		{"ssh://azureuser@my_host:65535", "azureuser", "my_host", 65535, NULL},
		{"ssh://@host", NULL, "host", 0, NULL}, /* an empty user: ssh's default */
		{"ssh://me%40corp.example@host", "me@corp.example", "host", 0, NULL},
		{"ssh://me@corp@host:22", "me@corp", "host", 22, NULL}, /* the last '@' ends the user */
		{"ssh://[::1]", NULL, "::1", 0, NULL},
		{"ssh://me@[2001:db8::7]:2222", "me", "2001:db8::7", 2222, NULL},
		{"ssh://[fe80::1%25eth0]:22", NULL, "fe80::1%eth0", 22, NULL},
		{"ssh://[::ffff:10.0.0.1]", NULL, "::ffff:10.0.0.1", 0, NULL},
		{"ssh://host/", NULL, "host", 0, NULL},
		{"ssh://host//", NULL, "host", 0, NULL},
		{"ssh://me@host:22/var/run/docker.sock", "me", "host", 22, "/var/run/docker.sock"},
		{"ssh://host/run/my%20docker.sock", NULL, "host", 0, "/run/my docker.sock"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const good_case *c = &cases[i];
		docker_ssh_target t;
		char *err = NULL;
		int rc = docker_ssh_parse(c->url, &t, &err);
		if (rc != 0)
			print_error("%s: %s\n", c->url, err);
		assert_int_equal(rc, 0);
		assert_null(err);
		assert_str_or_null(c->user, t.user, c->url, "user");
		assert_str_or_null(c->host, t.host, c->url, "host");
		assert_str_or_null(c->socket_path, t.socket_path, c->url, "socket path");
		if (t.port != c->port)
			print_error("%s: port %d, expected %d\n", c->url, t.port, c->port);
		assert_int_equal(t.port, c->port);
		docker_ssh_target_free(&t);
	}
}

typedef struct {
	const char *url;
	const char *reason; /* after "invalid Docker host <shown>: " */
	const char *shown;  /* NULL: the url itself */
} bad_case;

static void test_parse_refused(void **state)
{
	static const bad_case cases[] = {
		{"ssh://me:hunter2@host", "a password in the URL is not supported (use a key, or ssh-agent)",
		 "ssh://me:xxxxx@host"},
		{"ssh://me:@host:22/x", "a password in the URL is not supported (use a key, or ssh-agent)",
		 "ssh://me:xxxxx@host:22/x"},
		{"ssh://", "the host is empty", NULL},
		{"ssh://me@", "the host is empty", NULL},
		{"ssh://me@:22", "the host is empty", NULL},
		{"ssh:///var/run/docker.sock", "the host is empty", NULL},
		{"ssh://[]", "the host is empty", NULL},
		{"ssh://host:", "the port is empty", NULL},
		{"ssh://host:0", "invalid port '0' (expected 1-65535)", NULL},
		{"ssh://host:65536", "invalid port '65536' (expected 1-65535)", NULL},
		{"ssh://host:22x", "invalid port '22x' (expected 1-65535)", NULL},
		{"ssh://host:99999999999999999999", "invalid port '99999999999999999999' (expected 1-65535)", NULL},
		{"ssh://[::1]:", "the port is empty", NULL},
		{"ssh://::1", "an IPv6 address must be in brackets, e.g. ssh://[::1]:22", NULL},
		{"ssh://fe80::1:22", "an IPv6 address must be in brackets, e.g. ssh://[::1]:22", NULL},
		{"ssh://[::1", "unterminated IPv6 address (no ']')", NULL},
		{"ssh://[::1]22", "unexpected '22' after the IPv6 address", NULL},
		{"ssh://[host]", "invalid IPv6 address 'host'", NULL},
		{"ssh://[fe80::1%eth0]", "invalid IPv6 address 'fe80::1%eth0'", NULL},
		{"ssh://[fe80::1%25]", "invalid IPv6 address 'fe80::1%25'", NULL},
		{"ssh://host?x=1", "query parameters are not allowed", NULL},
		{"ssh://host/sock?x=1", "query parameters are not allowed", NULL},
		{"ssh://host#frag", "fragments are not allowed", NULL},
		{"ssh://ho st", "invalid character ' ' in the host name", NULL},
		{"ssh://host;rm", "invalid character ';' in the host name", NULL},
		{"ssh://h\xc3\xa9", "invalid character 0xc3 in the host name", NULL},
		{"ssh://-oProxyCommand", "invalid host name '-oProxyCommand'", NULL},
		{"ssh://.host", "invalid host name '.host'", NULL},
		{"ssh://m e@host", "invalid character ' ' in the user name", NULL},
		{"ssh://me%0a@host", "the user name contains a control character", NULL},
		{"ssh://me%zz@host", "malformed %-escape in the user name", NULL},
		{"ssh://me%4@host", "malformed %-escape in the user name", NULL},
		{"ssh://host/run/x%00", "the socket path contains a control character", NULL},
		{"tcp://host:2375", "expected ssh://[USER@]HOST[:PORT]", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const bad_case *c = &cases[i];
		docker_ssh_target t;
		char *err = NULL;
		assert_int_equal(docker_ssh_parse(c->url, &t, &err), -1);
		char expected[512];
		snprintf(expected, sizeof(expected), "invalid Docker host %s: %s", c->shown ? c->shown : c->url,
			 c->reason);
		if (!err || strcmp(err, expected) != 0)
			print_error("%s:\nexpected: %s\ngot:      %s\n", c->url, expected, err ? err : "NULL");
		assert_non_null(err);
		assert_string_equal(err, expected);
		assert_null(strstr(err, "hunter2"));
		/* nothing is left allocated in t */
		assert_null(t.user);
		assert_null(t.host);
		assert_null(t.socket_path);
		free(err);
	}
	/* and without an err to fill */
	docker_ssh_target t;
	assert_int_equal(docker_ssh_parse("ssh://", &t, NULL), -1);
}

static char *joined(char **argv)
{
	size_t n = 1;
	for (char **p = argv; *p; p++)
		n += strlen(*p) + 3;
	char *s = calloc(1, n);
	for (char **p = argv; *p; p++) {
		if (p != argv)
			strcat(s, " ");
		/* brackets show where one argument ends */
		bool space = strchr(*p, ' ') != NULL;
		if (space)
			strcat(s, "[");
		strcat(s, *p);
		if (space)
			strcat(s, "]");
	}
	return s;
}

static void expect_argv(const char *url, const char *config, const char *expected)
{
	docker_ssh_target t;
	char *err = NULL;
	assert_int_equal(docker_ssh_parse(url, &t, &err), 0);
	char **argv = docker_ssh_argv(&t, config);
	char *got = joined(argv);
	if (strcmp(got, expected) != 0)
		print_error("%s:\nexpected: %s\ngot:      %s\n", url, expected, got);
	assert_string_equal(got, expected);
	free(got);
	docker_ssh_argv_free(argv);
	docker_ssh_target_free(&t);
}

static void test_argv(void **state)
{
	/* the docker CLI's flags (-l, -p, ConnectTimeout=30, -T, --) plus BatchMode */
	expect_argv("ssh://host", NULL,
		    "ssh -o ConnectTimeout=30 -o BatchMode=yes -T -- host [docker system dial-stdio]");
	expect_argv("ssh://azureuser@10.0.0.4:2200", "",
		    "ssh -l azureuser -p 2200 -o ConnectTimeout=30 -o BatchMode=yes -T -- 10.0.0.4 "
		    "[docker system dial-stdio]");
	expect_argv("ssh://me%40corp@[fe80::1%25eth0]:22", "/etc/berth/ssh_config",
		    "ssh -F /etc/berth/ssh_config -l me@corp -p 22 -o ConnectTimeout=30 -o BatchMode=yes -T -- "
		    "fe80::1%eth0 [docker system dial-stdio]");
	/* a socket path goes to the remote docker CLI, quoted for the remote shell */
	expect_argv("ssh://host/var/run/docker.sock", NULL,
		    "ssh -o ConnectTimeout=30 -o BatchMode=yes -T -- host "
		    "[docker '--host=unix:///var/run/docker.sock' system dial-stdio]");
	expect_argv("ssh://host/run/it's%20$(here).sock", NULL,
		    "ssh -o ConnectTimeout=30 -o BatchMode=yes -T -- host "
		    "[docker '--host=unix:///run/it'\\''s $(here).sock' system dial-stdio]");
}

static void test_open_refuses_bad_urls(void **state)
{
	char *err = NULL;
	assert_null(docker_ssh_open("ssh://me:pw@host", &err));
	assert_string_equal(err, "invalid Docker host ssh://me:xxxxx@host: a password in the URL is not supported "
				 "(use a key, or ssh-agent)");
	free(err);
	err = NULL;
	docker_ssh *s = docker_ssh_open("ssh://me@host:22", &err);
	assert_non_null(s);
	assert_null(err);
	docker_ssh_close(s); /* nothing was spawned: nothing to end */
	docker_ssh_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepted),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_open_refuses_bad_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
