/* The ARM client and the credential chain: endpoints and api-versions without any server; the
 * rest against the project's ARM simulator (tests/azure-sim/armsim.py, started once for the
 * file; BERTH_ARMSIM names another copy) and, for exact headers and error bodies, a tiny canned
 * server on 127.0.0.1. Waits go through an injected sleep that advances a fake clock, so a
 * 300 s Retry-After costs nothing and is counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "testutil.h"
#include "armsim.h"
#include "transport/arm.h"

extern char **environ;

#define SUB "00000000-0000-0000-0000-00000000000a"
#define RG_PATH "/subscriptions/" SUB "/resourcegroups/rg-1"
#define SECRET "Sup3r-s3cret-client-VALUE"
#define SP_TENANT "tenant-1"
#define SP_CLIENT "app-1"

/* ---- injected hooks: a fake clock, counted sleeps, a captured log ---- */

static struct {
	pthread_mutex_t mu;
	double clock;
	double sleeps[4096];
	int n_sleeps;
	char *log;
	size_t log_len;
	FILE *logf;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void t_log(void *ctx, const char *line)
{
	pthread_mutex_lock(&T.mu);
	fprintf(T.logf, "%s\n", line);
	fflush(T.logf);
	pthread_mutex_unlock(&T.mu);
	if (getenv("BERTH_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", line);
}

static void t_sleep(void *ctx, double s)
{
	pthread_mutex_lock(&T.mu);
	if (T.n_sleeps < (int)(sizeof(T.sleeps) / sizeof(T.sleeps[0])))
		T.sleeps[T.n_sleeps++] = s;
	T.clock += s;
	pthread_mutex_unlock(&T.mu);
}

static double t_now(void *ctx)
{
	pthread_mutex_lock(&T.mu);
	double c = T.clock;
	pthread_mutex_unlock(&T.mu);
	return c;
}

static const azure_hooks hooks = {.log = t_log, .sleep = t_sleep, .now = t_now};

static void hooks_reset(void)
{
	if (T.logf)
		fclose(T.logf);
	free(T.log);
	T.log = NULL;
	T.log_len = 0;
	T.logf = open_memstream(&T.log, &T.log_len);
	T.n_sleeps = 0;
	T.clock = 1000;
}

static const char *log_text(void)
{
	fflush(T.logf);
	return T.log ? T.log : "";
}

static double max_sleep(void)
{
	double m = 0;
	for (int i = 0; i < T.n_sleeps; i++)
		if (T.sleeps[i] > m)
			m = T.sleeps[i];
	return m;
}

static double total_sleep(void)
{
	double s = 0;
	for (int i = 0; i < T.n_sleeps; i++)
		s += T.sleeps[i];
	return s;
}

/* ---- the environment ---- */

static char tmpdir[] = "/tmp/berth-arm-test-XXXXXX";
static char *orig_path;

static void clear_azure_env(void)
{
	static const char *const vars[] = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
					   "AZURE_FEDERATED_TOKEN_FILE", "AZURE_RESOURCE_MANAGER_ENDPOINT",
					   "AZURE_AUTHORITY_HOST", "AZURE_IMDS_ENDPOINT",
					   "AZURE_RESOURCE_MANAGER_AUDIENCE"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	/* no managed identity (connection refused at once) and no az, unless a test says so */
	setenv("AZURE_IMDS_ENDPOINT", "http://127.0.0.1:1", 1);
	char p[600];
	snprintf(p, sizeof(p), "%s/empty-bin", tmpdir);
	setenv("PATH", p, 1);
}

static void write_file(const char *path, const char *text, int mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
}

/* The simulator's request log as an array (whatever the wrapping object is called). */
static json_t *sim_log(void)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/_sim/log", sim.url);
	json_t *js = NULL;
	assert_int_equal(http_call("GET", url, "application/json", NULL, &js), 200);
	if (json_is_array(js))
		return js;
	static const char *const keys[] = {"requests", "log", "entries", "items"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *a = json_object_get(js, keys[i]);
		if (json_is_array(a)) {
			json_incref(a);
			json_decref(js);
			return a;
		}
	}
	fail_msg("unexpected /_sim/log answer");
	return NULL;
}

static const char *entry_str(json_t *e, const char *key)
{
	return json_string_value(json_object_get(e, key));
}

/* A log entry's path and query, "PATH?k=v&k=v" (the simulator logs them apart). The text lives
 * until the next call. */
static const char *entry_path(json_t *e)
{
	static char buf[8192];
	const char *p = entry_str(e, "path");
	snprintf(buf, sizeof(buf), "%s", p ? p : "");
	json_t *q = json_object_get(e, "query");
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach(q, k, v)
	{
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "%s%s=%s", first ? "?" : "&", k,
			 json_is_string(v) ? json_string_value(v) : "");
		first = false;
	}
	return buf;
}

static bool is_token_entry(json_t *e)
{
	return strstr(entry_path(e), "/oauth2/") != NULL;
}

static int count_entries(const char *method, const char *needle)
{
	json_t *log = sim_log();
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(log, i, e)
	{
		const char *m = entry_str(e, "method");
		if (method && (!m || strcmp(m, method) != 0))
			continue;
		if (needle && !strcasestr(entry_path(e), needle))
			continue;
		n++;
	}
	json_decref(log);
	return n;
}

static int count_token_requests(void)
{
	json_t *log = sim_log();
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(log, i, e)
	if (is_token_entry(e))
		n++;
	json_decref(log);
	return n;
}

static int group_setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	orig_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	if (!mkdtemp(tmpdir))
		return -1;
	char p[600];
	snprintf(p, sizeof(p), "%s/empty-bin", tmpdir);
	mkdir(p, 0755);
	sim_start(tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	sim_stop();
	setenv("PATH", orig_path, 1);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
	setenv("PATH", orig_path, 1);
	free(orig_path);
	if (T.logf)
		fclose(T.logf);
	free(T.log);
	curl_global_cleanup();
	return 0;
}

static int setup(void **state)
{
	clear_azure_env();
	hooks_reset();
	if (sim.port)
		sim_post("/_sim/reset", "{}");
	return 0;
}

static void need_sim(void)
{
	if (!sim.port)
		fail_msg("ARM simulator missing: %s", sim.why[0] ? sim.why : "not started");
}

static void seed_rg(void)
{
	sim_postf("/_sim/seed", "{\"resource_groups\":[{\"subscription\":\"%s\",\"name\":\"rg-1\",\"location\":\"westeurope\"}]}",
		  SUB);
}

static void use_service_principal(void)
{
	sim_postf("/_sim/credentials", "{\"tenant\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\"}", SP_TENANT,
		  SP_CLIENT, SECRET);
	setenv("AZURE_TENANT_ID", SP_TENANT, 1);
	setenv("AZURE_CLIENT_ID", SP_CLIENT, 1);
	setenv("AZURE_CLIENT_SECRET", SECRET, 1);
}

static arm_config sim_config(void)
{
	arm_config c = {0};
	c.resource_manager = sim.url;
	c.active_directory = sim.url;
	c.hooks = hooks;
	c.timeout_ms = 10000;
	return c;
}

static arm *open_arm(const arm_config *c)
{
	char *err = NULL;
	arm *a = arm_open(c, &err);
	if (!a)
		fail_msg("arm_open: %s", err);
	assert_null(err);
	return a;
}

static arm *open_sim(void)
{
	arm_config c = sim_config();
	return open_arm(&c);
}

/* GET the seeded resource group; asserts success. */
static void get_rg(arm *a)
{
	arm_response r;
	char *err = NULL;
	int rc = arm_request(a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r, &err);
	if (rc != 0)
		fail_msg("GET %s: %s", RG_PATH, err);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "name")), "rg-1");
	arm_response_free(&r);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("expected to find \"%s\" in:\n%s", needle, hay ? hay : "(null)");
}

static void assert_not_contains(const char *hay, const char *needle)
{
	if (hay && strstr(hay, needle))
		fail_msg("\"%s\" must not appear in:\n%s", needle, hay);
}

/* ================================================================================================
 * Without a server
 * ============================================================================================== */

static void test_api_versions_one_table(void **state)
{
	assert_string_equal(arm_api_version(ARM_API_CONTAINER_INSTANCE), "2023-05-01");
	assert_string_equal(arm_api_version(ARM_API_TRAFFIC_MANAGER), "2022-04-01");
	assert_string_equal(arm_api_version(ARM_API_STORAGE), "2023-05-01");
	assert_string_equal(arm_api_version(ARM_API_COMPUTE), "2024-11-01");
	assert_string_equal(arm_api_version(ARM_API_RESOURCES), "2021-04-01");
	assert_null(arm_api_version(ARM_API_NONE));
	assert_null(arm_api_version(ARM_API_COUNT));
}

static void test_endpoints_default_to_public_cloud(void **state)
{
	azure_endpoints e;
	char *err = NULL;
	assert_int_equal(azure_endpoints_resolve(NULL, NULL, &e, &err), 0);
	assert_string_equal(e.resource_manager, "https://management.azure.com");
	assert_string_equal(e.authority, "https://login.microsoftonline.com/");
	assert_string_equal(e.audience, "https://management.azure.com/");
	azure_endpoints_free(&e);
	assert_int_equal(azure_endpoints_resolve("", "", &e, &err), 0);
	assert_string_equal(e.resource_manager, "https://management.azure.com");
	azure_endpoints_free(&e);
	/* the caller's (the spec's) values, normalised */
	assert_int_equal(azure_endpoints_resolve("https://management.usgovcloudapi.net/",
						 "https://login.microsoftonline.us", &e, &err),
			 0);
	assert_string_equal(e.resource_manager, "https://management.usgovcloudapi.net");
	assert_string_equal(e.authority, "https://login.microsoftonline.us/");
	assert_string_equal(e.audience, "https://management.usgovcloudapi.net/");
	azure_endpoints_free(&e);
	/* a loopback endpoint stands in for public ARM: the public audience */
	assert_int_equal(azure_endpoints_resolve("http://127.0.0.1:8080/", NULL, &e, &err), 0);
	assert_string_equal(e.resource_manager, "http://127.0.0.1:8080");
	assert_string_equal(e.audience, "https://management.azure.com/");
	azure_endpoints_free(&e);
	setenv("AZURE_RESOURCE_MANAGER_AUDIENCE", "https://management.stack.example/abc", 1);
	assert_int_equal(azure_endpoints_resolve("https://management.stack.example", NULL, &e, &err), 0);
	assert_string_equal(e.audience, "https://management.stack.example/abc");
	azure_endpoints_free(&e);
	unsetenv("AZURE_RESOURCE_MANAGER_AUDIENCE");
}

static void test_endpoints_environment_wins(void **state)
{
	setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", "https://rm.example.test", 1);
	setenv("AZURE_AUTHORITY_HOST", "https://aad.example.test/", 1);
	azure_endpoints e;
	char *err = NULL;
	assert_int_equal(azure_endpoints_resolve("https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn/",
						 &e, &err),
			 0);
	assert_string_equal(e.resource_manager, "https://rm.example.test");
	assert_string_equal(e.authority, "https://aad.example.test/");
	azure_endpoints_free(&e);
	/* an empty variable is not set */
	setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", "", 1);
	assert_int_equal(azure_endpoints_resolve("https://management.chinacloudapi.cn", NULL, &e, &err), 0);
	assert_string_equal(e.resource_manager, "https://management.chinacloudapi.cn");
	assert_string_equal(e.authority, "https://aad.example.test/");
	azure_endpoints_free(&e);
}

static void expect_resolve_error(const char *rm, const char *ad, const char *expected)
{
	azure_endpoints e;
	char *err = NULL;
	assert_int_equal(azure_endpoints_resolve(rm, ad, &e, &err), -1);
	assert_null(e.resource_manager);
	if (!err || strcmp(err, expected) != 0)
		fail_msg("expected: %s\ngot:      %s", expected, err ? err : "(null)");
	free(err);
}

static void test_plain_http_only_for_loopback(void **state)
{
	expect_resolve_error("http://management.example.com", NULL,
			     "azure.endpoints.resource_manager: http://management.example.com: plain http:// is "
			     "accepted only for a loopback host (127.0.0.1, localhost, [::1]); use https://");
	expect_resolve_error(NULL, "http://10.1.2.3:8080/",
			     "azure.endpoints.active_directory: http://10.1.2.3:8080/: plain http:// is accepted only "
			     "for a loopback host (127.0.0.1, localhost, [::1]); use https://");
	expect_resolve_error("http://127.0.0.1.example.com", NULL,
			     "azure.endpoints.resource_manager: http://127.0.0.1.example.com: plain http:// is "
			     "accepted only for a loopback host (127.0.0.1, localhost, [::1]); use https://");
	expect_resolve_error("ftp://management.example.com", NULL,
			     "azure.endpoints.resource_manager: ftp://management.example.com: only https:// URLs are "
			     "accepted");
	expect_resolve_error("management.azure.com", NULL,
			     "azure.endpoints.resource_manager: management.azure.com is not a URL (expected "
			     "https://HOST)");
	setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", "http://rm.example.com:80", 1);
	expect_resolve_error("https://management.azure.com", NULL,
			     "AZURE_RESOURCE_MANAGER_ENDPOINT: http://rm.example.com:80: plain http:// is accepted "
			     "only for a loopback host (127.0.0.1, localhost, [::1]); use https://");
	unsetenv("AZURE_RESOURCE_MANAGER_ENDPOINT");

	static const char *const ok[] = {"http://127.0.0.1:8080", "http://127.5.6.7", "http://localhost:1/",
					 "http://LOCALHOST", "http://[::1]:8443", "https://10.1.2.3"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		azure_endpoints e;
		char *err = NULL;
		if (azure_endpoints_resolve(ok[i], ok[i], &e, &err) != 0)
			fail_msg("%s refused: %s", ok[i], err);
		azure_endpoints_free(&e);
	}

	/* arm_open refuses before it looks for a credential */
	arm_config c = {0};
	c.resource_manager = "http://management.example.com";
	c.hooks = hooks;
	char *err = NULL;
	assert_null(arm_open(&c, &err));
	assert_contains(err, "plain http:// is accepted only for a loopback host");
	free(err);
}

static void test_client_request_ids_are_fresh_uuids(void **state)
{
	char a[37], b[37];
	azure_uuid(a);
	azure_uuid(b);
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
}

/* ================================================================================================
 * Credentials (simulator)
 * ============================================================================================== */

static void test_service_principal(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	assert_string_equal(arm_credential_name(a), "service principal (AZURE_CLIENT_ID=app-1)");
	assert_int_equal(azure_credential_kind_of(arm_credential(a)), AZURE_CRED_SERVICE_PRINCIPAL);
	assert_string_equal(arm_endpoint(a), sim.url);

	/* every request carries a fresh client request id, and the answer says which */
	arm_response r1, r2;
	char *err = NULL;
	assert_int_equal(arm_request(a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r1, &err), 0);
	assert_int_equal(arm_request(a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r2, &err), 0);
	assert_non_null(r1.client_request_id);
	assert_string_not_equal(r1.client_request_id, r2.client_request_id);
	assert_non_null(r1.request_id);
	assert_non_null(r1.correlation_id);
	json_t *log = sim_log();
	int seen = 0;
	size_t i;
	json_t *e;
	json_array_foreach(log, i, e)
	{
		const char *crid = entry_str(e, "client_request_id");
		if (crid && (strcmp(crid, r1.client_request_id) == 0 || strcmp(crid, r2.client_request_id) == 0)) {
			seen++;
			assert_non_null(strstr(entry_path(e), "api-version=2021-04-01"));
		}
	}
	assert_int_equal(seen, 2);
	json_decref(log);
	arm_response_free(&r1);
	arm_response_free(&r2);
	arm_close(a);
}

static void test_service_principal_refused_names_no_secret(void **state)
{
	need_sim();
	use_service_principal();
	setenv("AZURE_CLIENT_SECRET", "Wrong-s3cret-VALUE-9", 1);
	/* a refused service principal stops the chain, even though a managed identity is there */
	sim_post("/_sim/credentials", "{\"msi\":true}");
	setenv("AZURE_IMDS_ENDPOINT", sim.url, 1);
	arm_config c = sim_config();
	char *err = NULL;
	assert_null(arm_open(&c, &err));
	assert_contains(err, "service principal (AZURE_CLIENT_ID=app-1): ");
	assert_contains(err, "401");
	assert_not_contains(err, "Wrong-s3cret-VALUE-9");
	assert_not_contains(err, SECRET);
	assert_not_contains(log_text(), "Wrong-s3cret-VALUE-9");
	free(err);
}

static void test_workload_identity_rereads_the_file(void **state)
{
	need_sim();
	seed_rg();
	char file[600];
	snprintf(file, sizeof(file), "%s/federated-token", tmpdir);
	write_file(file, "federated-assertion-ONE\n", 0600);
	sim_post("/_sim/credentials", "{\"tenant\":\"tenant-2\",\"client_id\":\"app-2\","
				      "\"federated_token\":\"federated-assertion-ONE\"}");
	setenv("AZURE_TENANT_ID", "tenant-2", 1);
	setenv("AZURE_CLIENT_ID", "app-2", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", file, 1);
	arm *a = open_sim();
	assert_string_equal(arm_credential_name(a), "workload identity (AZURE_CLIENT_ID=app-2)");
	assert_int_equal(azure_credential_kind_of(arm_credential(a)), AZURE_CRED_WORKLOAD_IDENTITY);
	get_rg(a);

	/* the file rotates: the next token request sends the new contents */
	write_file(file, "federated-assertion-TWO", 0600);
	sim_post("/_sim/credentials", "{\"tenant\":\"tenant-2\",\"client_id\":\"app-2\","
				      "\"federated_token\":\"federated-assertion-TWO\"}");
	char *tok = NULL, *err = NULL;
	if (azure_credential_token(arm_credential(a), true, &tok, &err) != 0)
		fail_msg("refresh with the rotated file: %s", err);
	azure_token_free(tok);
	get_rg(a);

	/* and a file with an assertion nobody accepts fails the refresh, naming no value */
	write_file(file, "federated-assertion-BOGUS", 0600);
	assert_int_equal(azure_credential_token(arm_credential(a), true, &tok, &err), -1);
	assert_null(tok);
	assert_contains(err, "workload identity (AZURE_CLIENT_ID=app-2): ");
	assert_not_contains(err, "federated-assertion-BOGUS");
	assert_not_contains(log_text(), "federated-assertion");
	free(err);

	/* a missing file names the variable and the path */
	unlink(file);
	assert_int_equal(azure_credential_token(arm_credential(a), true, &tok, &err), -1);
	assert_contains(err, "cannot read AZURE_FEDERATED_TOKEN_FILE ");
	free(err);
	arm_close(a);
}

static void test_managed_identity_system_assigned(void **state)
{
	need_sim();
	seed_rg();
	sim_post("/_sim/credentials", "{\"msi\":true}");
	setenv("AZURE_IMDS_ENDPOINT", sim.url, 1);
	arm *a = open_sim();
	assert_string_equal(arm_credential_name(a), "managed identity");
	assert_int_equal(azure_credential_kind_of(arm_credential(a)), AZURE_CRED_MANAGED_IDENTITY);
	get_rg(a);
	assert_int_equal(count_entries("GET", "/metadata/identity/oauth2/token"), 1);
	arm_close(a);
}

static void test_managed_identity_user_assigned(void **state)
{
	need_sim();
	seed_rg();
	sim_post("/_sim/credentials", "{\"msi\":true,\"client_id\":\"uami-7\"}");
	setenv("AZURE_IMDS_ENDPOINT", sim.url, 1);
	setenv("AZURE_CLIENT_ID", "uami-7", 1);
	arm *a = open_sim();
	assert_string_equal(arm_credential_name(a), "managed identity (AZURE_CLIENT_ID=uami-7)");
	get_rg(a);
	assert_int_equal(count_entries("GET", "client_id=uami-7"), 1);
	arm_close(a);

	/* another client id has no identity here: the chain moves on (and finds nothing) */
	setenv("AZURE_CLIENT_ID", "uami-other", 1);
	arm_config c = sim_config();
	char *err = NULL;
	assert_null(arm_open(&c, &err));
	assert_contains(err, "no Azure credential works: ");
	assert_contains(err, "managed identity: IMDS at ");
	free(err);
}

/* A fake az on PATH that records its arguments and prints what stdout_json says. */
static void install_fake_az(const char *stdout_json, int exit_status, const char *stderr_text)
{
	char dir[600], path[700], script[4096];
	snprintf(dir, sizeof(dir), "%s/fake-bin", tmpdir);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/az", dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "printf '%%s\\n' \"$*\" >> '%s/az-args'\n"
		 "printf '%%s\\n' '%s'\n"
		 "printf '%%s\\n' '%s' >&2\n"
		 "exit %d\n",
		 tmpdir, stdout_json, stderr_text, exit_status);
	write_file(path, script, 0755);
	char p[1400];
	snprintf(p, sizeof(p), "%s:%s", dir, orig_path);
	setenv("PATH", p, 1);
	snprintf(path, sizeof(path), "%s/az-args", tmpdir);
	unlink(path);
}

static char *az_args(void)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/az-args", tmpdir);
	return read_text(path);
}

/* A token the simulator accepts, fetched the way a signed-in az would have. */
static char *sim_token(void)
{
	sim_post("/_sim/credentials", "{\"tenant\":\"tenant-cli\",\"client_id\":\"cli-app\",\"client_secret\":\"cli-secret-1\"}");
	char url[256];
	snprintf(url, sizeof(url), "%s/tenant-cli/oauth2/v2.0/token", sim.url);
	char body[512];
	snprintf(body, sizeof(body),
		 "grant_type=client_credentials&client_id=cli-app&client_secret=cli-secret-1"
		 "&scope=https%%3A%%2F%%2Fmanagement.azure.com%%2F.default");
	json_t *js = NULL;
	assert_int_equal(http_call("POST", url, "application/x-www-form-urlencoded", body, &js), 200);
	const char *t = json_string_value(json_object_get(js, "access_token"));
	assert_non_null(t);
	char *r = strdup(t);
	json_decref(js);
	return r;
}

static void test_azure_cli(void **state)
{
	need_sim();
	seed_rg();
	char *tok = sim_token();
	/* today's az prints expires_on (epoch seconds) besides expiresOn (local time) */
	char json[2048];
	snprintf(json, sizeof(json),
		 "{\"accessToken\": \"%s\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": %ld, "
		 "\"subscription\": \"%s\", \"tenant\": \"tenant-cli\", \"tokenType\": \"Bearer\"}",
		 tok, (long)time(NULL) + 3600, SUB);
	install_fake_az(json, 0, "");
	arm *a = open_sim();
	assert_string_equal(arm_credential_name(a), "Azure CLI");
	assert_int_equal(azure_credential_kind_of(arm_credential(a)), AZURE_CRED_AZURE_CLI);
	get_rg(a);
	get_rg(a);
	char *args = az_args();
	char expected[512];
	snprintf(expected, sizeof(expected),
		 "account get-access-token --resource https://management.azure.com/ --output json\n");
	assert_string_equal(args, expected); /* once: the token is cached */
	free(args);
	arm_close(a);

	/* an older az prints only expiresOn, in local time */
	struct tm tm;
	time_t later = time(NULL) + 3600;
	localtime_r(&later, &tm);
	char when[64];
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S.000000", &tm);
	snprintf(json, sizeof(json), "{\"accessToken\": \"%s\", \"expiresOn\": \"%s\", \"tokenType\": \"Bearer\"}", tok,
		 when);
	install_fake_az(json, 0, "");
	a = open_sim();
	assert_string_equal(arm_credential_name(a), "Azure CLI");
	get_rg(a);
	arm_close(a);
	assert_not_contains(log_text(), tok);
	free(tok);
}

static void test_azure_cli_not_signed_in(void **state)
{
	need_sim();
	install_fake_az("", 1, "ERROR: Please run az login to setup account.");
	arm_config c = sim_config();
	char *err = NULL;
	assert_null(arm_open(&c, &err));
	assert_contains(err, "; Azure CLI: az account get-access-token failed (exit status 1): ERROR: Please run az "
			     "login to setup account.");
	free(err);
}

static void test_no_credential_says_why_for_each(void **state)
{
	need_sim();
	arm_config c = sim_config();
	char *err = NULL;
	assert_null(arm_open(&c, &err));
	assert_contains(err, "no Azure credential works: service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID and "
			     "AZURE_CLIENT_SECRET are not set; workload identity: AZURE_FEDERATED_TOKEN_FILE is not "
			     "set; managed identity: no IMDS answers at http://127.0.0.1:1 (");
	assert_contains(err, "; Azure CLI: az is not installed (not found on PATH)");
	free(err);

	/* a partial service principal is reported by variable, never by value */
	setenv("AZURE_CLIENT_SECRET", SECRET, 1);
	assert_null(arm_open(&c, &err));
	assert_contains(err, "no Azure credential works: service principal: AZURE_TENANT_ID and AZURE_CLIENT_ID are "
			     "not set; ");
	assert_contains(log_text(), "AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID and AZURE_CLIENT_ID are not set: not "
				    "using the service principal");
	assert_not_contains(err, SECRET);
	assert_not_contains(log_text(), SECRET);
	free(err);
}

static void test_credential_order(void **state)
{
	need_sim();
	seed_rg();
	char *tok = sim_token();
	char json[2048];
	snprintf(json, sizeof(json), "{\"accessToken\": \"%s\", \"expires_on\": %ld}", tok, (long)time(NULL) + 3600);
	free(tok);
	install_fake_az(json, 0, "");
	char file[600];
	snprintf(file, sizeof(file), "%s/federated-token", tmpdir);
	write_file(file, "federated-assertion-ORDER", 0600);
	setenv("AZURE_IMDS_ENDPOINT", sim.url, 1);
	/* everything is there: the service principal wins */
	use_service_principal();
	setenv("AZURE_FEDERATED_TOKEN_FILE", file, 1);
	/* one app registration with both a secret and a federated credential */
	sim_postf("/_sim/credentials",
		  "{\"tenant\":\"tenant-1\",\"client_id\":\"app-1\",\"client_secret\":\"%s\","
		  "\"federated_token\":\"federated-assertion-ORDER\"}",
		  SECRET);
	sim_post("/_sim/credentials", "{\"msi\":true,\"client_id\":\"app-1\"}");
	static const char *const want[] = {"service principal (AZURE_CLIENT_ID=app-1)",
					   "workload identity (AZURE_CLIENT_ID=app-1)",
					   "managed identity (AZURE_CLIENT_ID=app-1)", "Azure CLI"};
	for (int step = 0; step < 4; step++) {
		if (step == 1)
			unsetenv("AZURE_CLIENT_SECRET");
		if (step == 2)
			unsetenv("AZURE_FEDERATED_TOKEN_FILE");
		if (step == 3)
			setenv("AZURE_IMDS_ENDPOINT", "http://127.0.0.1:1", 1);
		arm *a = open_sim();
		assert_string_equal(arm_credential_name(a), want[step]);
		get_rg(a);
		arm_close(a);
	}
}

/* ================================================================================================
 * Tokens (simulator)
 * ============================================================================================== */

static void test_token_cached_across_requests(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	for (int i = 0; i < 10; i++)
		get_rg(a);
	assert_int_equal(count_token_requests(), 1);
	assert_int_equal(azure_credential_token_requests(arm_credential(a)), 1);
	assert_int_equal(count_entries("GET", "/resourcegroups/rg-1"), 10);
	arm_close(a);
}

static void test_token_refreshed_before_expiry(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	sim_post("/_sim/config", "{\"token_lifetime\":3600}");
	arm *a = open_sim();
	get_rg(a);
	T.clock += 3600 - 301; /* not yet within 5 minutes of expiry */
	get_rg(a);
	assert_int_equal(count_token_requests(), 1);
	T.clock += 2; /* now within 5 minutes */
	get_rg(a);
	get_rg(a);
	assert_int_equal(count_token_requests(), 2);
	arm_close(a);
}

static void test_token_refreshed_once_on_401(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	sim_post("/_sim/config", "{\"token_lifetime\":1}");
	arm *a = open_sim();
	/* berth's clock stands still, so it trusts its token; the simulator's does not */
	usleep(2200 * 1000);
	sim_post("/_sim/config", "{\"token_lifetime\":3600}");
	get_rg(a);
	assert_int_equal(count_token_requests(), 2);
	assert_contains(log_text(), "401");
	assert_contains(log_text(), "AuthenticationToken: getting a new token and retrying");
	get_rg(a); /* the new token is cached */
	assert_int_equal(count_token_requests(), 2);
	arm_close(a);
}

/* ================================================================================================
 * Retries and throttling (simulator)
 * ============================================================================================== */

static void test_429_retry_after_300_honoured(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.timeout_ms = 2000; /* per attempt: the 300 s wait is not inside it */
	arm *a = open_arm(&c);
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":1,"
				 "\"action\":\"status\",\"status\":429,\"retry_after\":300}]}");
	get_rg(a);
	assert_true(max_sleep() >= 300);
	assert_true(total_sleep() < 301);
	/* two attempts, each with its own client request id, both in the log line of the retry */
	json_t *log = sim_log();
	const char *ids[2] = {0};
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(log, i, e)
	if (strcasestr(entry_path(e), "resourcegroups/rg-1") && n < 2)
		ids[n++] = entry_str(e, "client_request_id");
	assert_int_equal(n, 2);
	assert_non_null(ids[0]);
	assert_non_null(ids[1]);
	assert_string_not_equal(ids[0], ids[1]);
	assert_contains(log_text(), "429 Too Many Requests");
	assert_contains(log_text(), "in 300 s");
	assert_contains(log_text(), ids[0]);
	assert_contains(log_text(), "correlation id ");
	json_decref(log);
	arm_close(a);
}

static void test_429_blocks_the_subscription_and_gives_up_when_told_too_long(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.max_retry_after_s = 600;
	arm *a = open_arm(&c);
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":1,"
				 "\"action\":\"status\",\"status\":429,\"retry_after\":7200}]}");
	arm_response r;
	char *err = NULL;
	assert_int_equal(arm_request(a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r, &err), -1);
	assert_int_equal(r.status, 429);
	assert_contains(err, "GET /subscriptions/" SUB "/resourcegroups/rg-1: 429 Too Many Requests");
	assert_contains(err, "(Retry-After 7200 s is longer than the 600 s berth waits)");
	assert_int_equal(T.n_sleeps, 0);
	free(err);
	arm_response_free(&r);
	arm_close(a);
}

static void test_5xx_retried_with_backoff(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":3,"
				 "\"action\":\"status\",\"status\":500},"
				 "{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":1,"
				 "\"action\":\"status\",\"status\":503}]}");
	get_rg(a);
	/* four waits, growing (1 s doubling, each with jitter of up to half) */
	assert_int_equal(T.n_sleeps, 4);
	assert_true(T.sleeps[0] >= 0.5 && T.sleeps[0] <= 1);
	assert_true(T.sleeps[1] >= 1 && T.sleeps[1] <= 2);
	assert_true(T.sleeps[2] >= 2 && T.sleeps[2] <= 4);
	assert_true(T.sleeps[3] >= 4 && T.sleeps[3] <= 8);
	assert_contains(log_text(), "500 Internal Server Error");
	assert_contains(log_text(), "retry 4 of 4");
	assert_int_equal(count_entries("GET", "resourcegroups/rg-1"), 5);
	arm_close(a);
}

static void test_5xx_gives_up_after_bounded_attempts(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.max_retries = 2;
	arm *a = open_arm(&c);
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\","
				 "\"times\":-1,\"action\":\"status\",\"status\":503}]}");
	arm_response r;
	char *err = NULL;
	assert_int_equal(arm_request(a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r, &err), -1);
	assert_int_equal(r.status, 503);
	assert_contains(err, "GET /subscriptions/" SUB "/resourcegroups/rg-1: 503 Service Unavailable");
	assert_contains(err, ", after 2 retries (client request id ");
	assert_contains(err, r.client_request_id);
	assert_contains(err, ", correlation id ");
	assert_int_equal(count_entries("GET", "resourcegroups/rg-1"), 3);
	assert_contains(log_text(), err); /* the failure is logged too */
	free(err);
	arm_response_free(&r);
	arm_close(a);
}

static void test_dropped_connection_retried(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":1,"
				 "\"action\":\"drop\"}]}");
	get_rg(a);
	assert_int_equal(T.n_sleeps, 1);
	assert_contains(log_text(), "GET /subscriptions/" SUB "/resourcegroups/rg-1: ");
	assert_contains(log_text(), "retry 1 of 4");
	arm_close(a);
}

static void test_timeout_is_per_attempt(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.timeout_ms = 700;
	arm *a = open_arm(&c);
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)resourcegroups/rg-1\",\"times\":1,"
				 "\"action\":\"delay\",\"ms\":2000}]}");
	get_rg(a);
	assert_contains(log_text(), "no answer within 700 ms; retry 1 of 4");
	arm_close(a);
}

static void test_request_budget_per_subscription(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.reads = (arm_budget){.burst = 2, .per_second = 0.5};
	arm *a = open_arm(&c);
	for (int i = 0; i < 5; i++)
		get_rg(a);
	/* two at once, then one every 2 s */
	assert_int_equal(T.n_sleeps, 3);
	assert_true(total_sleep() > 5.99 && total_sleep() < 6.01);
	/* another subscription has its own budget */
	T.n_sleeps = 0;
	arm_response r;
	char *err = NULL;
	arm_request(a, "GET", "/subscriptions/other-sub/resourcegroups/x", ARM_API_RESOURCES, NULL, &r, &err);
	free(err);
	arm_response_free(&r);
	assert_int_equal(T.n_sleeps, 0);
	arm_close(a);
}

/* ================================================================================================
 * Errors, long-running operations and paging (simulator)
 * ============================================================================================== */

static void test_error_names_code_message_and_ids(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	arm_response r;
	char *err = NULL;
	const char *path = "/subscriptions/" SUB "/resourcegroups/nope";
	assert_int_equal(arm_request(a, "GET", path, ARM_API_RESOURCES, NULL, &r, &err), -1);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.error_code, "ResourceGroupNotFound");
	assert_non_null(r.error_message);
	char *expected = NULL;
	assert_true(asprintf(&expected, "GET %s: 404 Not Found: ResourceGroupNotFound: %s (client request id %s, "
					"correlation id %s)",
			     path, r.error_message, r.client_request_id, r.correlation_id) > 0);
	assert_string_equal(err, expected);
	assert_not_contains(log_text(), "nope"); /* absence is an answer, not logged as a failure */
	free(expected);
	free(err);
	arm_response_free(&r);
	arm_close(a);
}

static const char *cg_path = "/subscriptions/" SUB "/resourceGroups/rg-1/providers/Microsoft.ContainerInstance/"
			     "containerGroups/web";

static json_t *cg_body(void)
{
	return json_pack("{s:s, s:{s:s, s:s, s:[{s:s, s:{s:s, s:{s:{s:f, s:f}}}}]}}", "location", "westeurope",
			 "properties", "osType", "Linux", "restartPolicy", "Always", "containers", "name", "web",
			 "properties", "image", "berth-demo/busybox:latest", "resources", "requests", "cpu", 1.0,
			 "memoryInGB", 1.5);
}

static void test_lro_followed_to_success(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	sim_post("/_sim/config", "{\"lro_polls\":3,\"retry_after\":2}");
	arm *a = open_sim();
	json_t *body = cg_body();
	arm_response r;
	char *err = NULL;
	assert_int_equal(arm_request(a, "PUT", cg_path, ARM_API_CONTAINER_INSTANCE, body, &r, &err), 0);
	assert_true(r.status == 200 || r.status == 201);
	assert_non_null(r.async_operation);
	if (arm_wait_lro(a, &r, &err) != 0)
		fail_msg("arm_wait_lro: %s", err);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "properties"), "provisioningState")),
			    "Succeeded");
	/* it polled, waiting what Retry-After said */
	assert_true(T.n_sleeps >= 2);
	for (int i = 0; i < T.n_sleeps; i++)
		if (T.sleeps[i] != 2)
			fail_msg("wait %d of %d was %g s, not the 2 s of Retry-After", i, T.n_sleeps, T.sleeps[i]);
	/* the final answer is a GET of the resource */
	assert_true(count_entries("GET", "containerGroups/web?") >= 1);
	arm_response_free(&r);
	json_decref(body);
	arm_close(a);
}

static void test_lro_failure_surfaces_code_and_message(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm *a = open_sim();
	sim_post("/_sim/faults", "{\"rules\":[{\"action\":\"fail_provisioning\",\"code\":\"SkuNotAvailable\","
				 "\"message\":\"The requested VM size is not available in westeurope.\"}]}");
	json_t *body = cg_body();
	arm_response r;
	char *err = NULL;
	assert_int_equal(arm_call(a, "PUT", cg_path, ARM_API_CONTAINER_INSTANCE, body, &r, &err), -1);
	assert_contains(err, "PUT /subscriptions/" SUB "/resourceGroups/rg-1/providers/Microsoft.ContainerInstance/"
			     "containerGroups/web: the operation Failed: SkuNotAvailable: The requested VM size is not "
			     "available in westeurope. (client request id ");
	assert_string_equal(r.error_code, "SkuNotAvailable");
	assert_string_equal(r.error_message, "The requested VM size is not available in westeurope.");
	free(err);
	arm_response_free(&r);
	json_decref(body);
	arm_close(a);
}

static void test_lro_delete(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	sim_post("/_sim/config", "{\"lro_polls\":2}");
	arm *a = open_sim();
	json_t *body = cg_body();
	arm_response r;
	char *err = NULL;
	if (arm_call(a, "PUT", cg_path, ARM_API_CONTAINER_INSTANCE, body, &r, &err) != 0)
		fail_msg("PUT: %s", err);
	arm_response_free(&r);
	if (arm_request(a, "DELETE", cg_path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &err) != 0)
		fail_msg("DELETE: %s", err);
	assert_int_equal(r.status, 202);
	if (arm_wait_lro(a, &r, &err) != 0)
		fail_msg("waiting for DELETE: %s", err);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "Succeeded");
	arm_response_free(&r);
	assert_int_equal(arm_request(a, "GET", cg_path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &err), -1);
	assert_int_equal(r.status, 404);
	free(err);
	arm_response_free(&r);
	/* deleting what is not there: 204, no operation */
	assert_int_equal(arm_call(a, "DELETE", cg_path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &err), 0);
	assert_int_equal(r.status, 204);
	arm_response_free(&r);
	json_decref(body);
	arm_close(a);
}

typedef struct {
	arm *a;
	int failures;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *w = p;
	for (int i = 0; i < 10; i++) {
		arm_response r;
		char *err = NULL;
		if (arm_request(w->a, "GET", RG_PATH, ARM_API_RESOURCES, NULL, &r, &err) != 0 || r.status != 200)
			w->failures++;
		free(err);
		arm_response_free(&r);
	}
	return NULL;
}

/* Six threads share one handle; their token has expired at the simulator (berth's clock stands
 * still), so each is refused once, but only one new token is fetched for all of them. */
static void test_one_handle_many_threads(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	sim_post("/_sim/config", "{\"token_lifetime\":1}");
	arm *a = open_sim();
	usleep(2200 * 1000);
	sim_post("/_sim/config", "{\"token_lifetime\":3600}");
	pthread_t th[6];
	worker_arg args[6];
	for (int i = 0; i < 6; i++) {
		args[i] = (worker_arg){.a = a};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_int_equal(count_token_requests(), 2);
	int gets = count_entries("GET", "/resourcegroups/rg-1");
	assert_true(gets >= 61 && gets <= 66); /* 60, and the refused ones */
	assert_int_equal(arm_requests(a), gets);
	arm_close(a);
}

static void test_lro_scale_set_patch(void **state)
{
	need_sim();
	use_service_principal();
	sim_postf("/_sim/seed", "{\"resource_groups\":[{\"subscription\":\"%s\",\"name\":\"rg-1\",\"location\":\"westeurope\"}],"
				"\"scale_sets\":[{\"subscription\":\"%s\",\"resource_group\":\"rg-1\",\"name\":\"workers\","
				"\"location\":\"westeurope\",\"capacity\":2}]}",
		  SUB, SUB);
	arm *a = open_sim();
	const char *path = "/subscriptions/" SUB "/resourceGroups/rg-1/providers/Microsoft.Compute/"
			   "virtualMachineScaleSets/workers";
	json_t *body = json_pack("{s:{s:i}}", "sku", "capacity", 3);
	arm_response r;
	char *err = NULL;
	if (arm_call(a, "PATCH", path, ARM_API_COMPUTE, body, &r, &err) != 0)
		fail_msg("PATCH: %s", err);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "sku"), "capacity")), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "properties"), "provisioningState")),
			    "Succeeded");
	assert_true(count_entries("PATCH", "api-version=2024-11-01") == 1);
	arm_response_free(&r);
	json_decref(body);
	arm_close(a);
}

#define VMSS_LIST "/subscriptions/" SUB "/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachineScaleSets"

/* n scale sets in rg-1, named set-00 ... */
static void seed_scale_sets(int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fprintf(f, "{\"resource_groups\":[{\"subscription\":\"%s\",\"name\":\"rg-1\",\"location\":\"westeurope\"}],"
		   "\"scale_sets\":[",
		SUB);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s{\"subscription\":\"%s\",\"resource_group\":\"rg-1\",\"name\":\"set-%02d\","
			   "\"location\":\"westeurope\",\"capacity\":0}",
			i ? "," : "", SUB, i);
	fputs("]}", f);
	fclose(f);
	sim_post("/_sim/seed", buf);
	free(buf);
}

static void test_list_follows_every_page(void **state)
{
	need_sim();
	use_service_principal();
	seed_scale_sets(7);
	sim_post("/_sim/config", "{\"page_size\":2}");
	arm *a = open_sim();
	json_t *items = NULL;
	char *err = NULL;
	if (arm_list(a, VMSS_LIST, ARM_API_COMPUTE, &items, &err) != 0)
		fail_msg("arm_list: %s", err);
	assert_int_equal(json_array_size(items), 7);
	bool seen[7] = {0};
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *name = json_string_value(json_object_get(it, "name"));
		assert_non_null(name);
		int k = atoi(name + strlen("set-"));
		assert_true(k >= 0 && k < 7);
		assert_false(seen[k]);
		seen[k] = true;
	}
	/* four pages, the later ones by nextLink, verbatim (the skip token and api-version it carries) */
	assert_int_equal(count_entries("GET", "/virtualMachineScaleSets?"), 4);
	assert_int_equal(count_entries("GET", "$skiptoken="), 3);
	json_decref(items);
	arm_close(a);
}

static void test_list_fails_whole_when_a_page_fails(void **state)
{
	need_sim();
	use_service_principal();
	seed_scale_sets(7);
	sim_post("/_sim/config", "{\"page_size\":2}");
	arm_config c = sim_config();
	c.max_retries = 1;
	arm *a = open_arm(&c);
	/* the first page is answered (the harmless first rule takes it), every later one fails */
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)virtualMachineScaleSets$\","
				 "\"times\":1,\"action\":\"delay\",\"ms\":1},"
				 "{\"method\":\"GET\",\"path_regex\":\"(?i)virtualMachineScaleSets$\",\"times\":-1,"
				 "\"action\":\"status\",\"status\":500}]}");
	json_t *items = (json_t *)1;
	char *err = NULL;
	assert_int_equal(arm_list(a, VMSS_LIST, ARM_API_COMPUTE, &items, &err), -1);
	assert_null(items);
	assert_contains(err, "listing " VMSS_LIST " failed at page 2, so nothing is returned: GET " VMSS_LIST
			     ": 500 Internal Server Error: InternalServerError: ");
	assert_int_equal(count_entries("GET", "$skiptoken="), 2);
	free(err);
	arm_close(a);
}

static void test_env_endpoints_win_over_callers(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	setenv("AZURE_RESOURCE_MANAGER_ENDPOINT", sim.url, 1);
	setenv("AZURE_AUTHORITY_HOST", sim.url, 1);
	arm_config c = sim_config();
	c.resource_manager = "https://management.example.invalid";
	c.active_directory = "https://login.example.invalid/";
	arm *a = open_arm(&c);
	assert_string_equal(arm_endpoint(a), sim.url);
	char want[128];
	snprintf(want, sizeof(want), "%s/", sim.url);
	assert_string_equal(arm_authority(a), want);
	get_rg(a);
	arm_close(a);
}

static void test_no_secret_or_token_in_any_output(void **state)
{
	need_sim();
	seed_rg();
	use_service_principal();
	arm_config c = sim_config();
	c.max_retries = 1;
	c.max_throttle_retries = 1;
	arm *a = open_arm(&c);
	char *tok = NULL, *err = NULL;
	assert_int_equal(azure_credential_token(arm_credential(a), false, &tok, &err), 0);
	sim_post("/_sim/faults", "{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"(?i)rg-1\",\"times\":-1,"
				 "\"action\":\"status\",\"status\":429,\"retry_after\":1},"
				 "{\"method\":\"GET\",\"path_regex\":\"(?i)rg-2\",\"times\":-1,\"action\":\"status\","
				 "\"status\":500},"
				 "{\"method\":\"GET\",\"path_regex\":\"(?i)rg-3\",\"times\":-1,\"action\":\"drop\"}]}");
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *ef = open_memstream(&errs, &errs_len);
	static const char *const paths[] = {"/subscriptions/" SUB "/resourcegroups/rg-1",
					    "/subscriptions/" SUB "/resourcegroups/rg-2",
					    "/subscriptions/" SUB "/resourcegroups/rg-3",
					    "/subscriptions/" SUB "/resourcegroups/rg-4"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		arm_response r;
		assert_int_equal(arm_request(a, "GET", paths[i], ARM_API_RESOURCES, NULL, &r, &err), -1);
		fprintf(ef, "%s\n", err);
		free(err);
		arm_response_free(&r);
	}
	fclose(ef);
	assert_not_contains(errs, tok);
	assert_not_contains(errs, SECRET);
	assert_not_contains(log_text(), tok);
	assert_not_contains(log_text(), SECRET);
	free(errs);
	azure_token_free(tok);
	arm_close(a);
}

/* ================================================================================================
 * A canned server, for headers the simulator need not send
 * ============================================================================================== */

typedef struct {
	int lfd;
	int port;
	const char *const *answers; /* ARM answers in order (full HTTP responses); token requests are automatic */
	int n_answers;
	int served;
	char requests[8][2048]; /* the first ARM request heads */
	pthread_t th;
} canned;

static void *canned_main(void *arg)
{
	canned *c = arg;
	for (;;) {
		struct pollfd p = {.fd = c->lfd, .events = POLLIN};
		if (poll(&p, 1, 10000) != 1)
			return NULL;
		int fd = accept(c->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char buf[16384];
		size_t len = 0;
		for (;;) {
			struct pollfd q = {.fd = fd, .events = POLLIN};
			if (poll(&q, 1, 5000) != 1)
				break;
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			if (end) {
				const char *cl = strcasestr(buf, "content-length:");
				size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 15) : 0);
				if (len >= want)
					break;
			}
		}
		if (strncmp(buf, "QUIT", 4) == 0) {
			close(fd);
			return NULL;
		}
		char resp[8192];
		if (strstr(buf, "/oauth2/")) {
			const char *b = "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"canned-token-1234\"}";
			snprintf(resp, sizeof(resp),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n%s",
				 strlen(b), b);
		} else {
			if (c->served < 8)
			{
				size_t n = len < sizeof(c->requests[0]) - 1 ? len : sizeof(c->requests[0]) - 1;
				memcpy(c->requests[c->served], buf, n);
				c->requests[c->served][n] = '\0';
			}
			int i = c->served < c->n_answers ? c->served : c->n_answers - 1;
			c->served++;
			snprintf(resp, sizeof(resp), "%s", c->answers[i]);
		}
		(void)!write(fd, resp, strlen(resp));
		close(fd);
	}
}

static void canned_start(canned *c, const char *const *answers, int n)
{
	memset(c, 0, sizeof(*c));
	c->answers = answers;
	c->n_answers = n;
	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->lfd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(c->lfd, 16), 0);
	socklen_t l = sizeof(sa);
	assert_int_equal(getsockname(c->lfd, (struct sockaddr *)&sa, &l), 0);
	c->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&c->th, NULL, canned_main, c), 0);
}

static void canned_stop(canned *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		(void)!write(fd, "QUIT\r\n\r\n", 8);
	close(fd);
	pthread_join(c->th, NULL);
	close(c->lfd);
}

static arm *open_canned(canned *c, arm_config *cfg)
{
	static char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", c->port);
	setenv("AZURE_TENANT_ID", "t", 1);
	setenv("AZURE_CLIENT_ID", "c", 1);
	setenv("AZURE_CLIENT_SECRET", "canned-secret", 1);
	cfg->resource_manager = url;
	cfg->active_directory = url;
	cfg->hooks = hooks;
	return open_arm(cfg);
}

static void test_error_details_and_headers(void **state)
{
	static const char body409[] = "{\"error\":{\"code\":\"Conflict\",\"message\":\"The container group is being "
				      "deleted.\",\"details\":[{\"code\":\"Inner\",\"message\":\"try later\"}]}}";
	char a409[1024], a200[1024];
	snprintf(a409, sizeof(a409),
		 "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nx-ms-request-id: rq-1\r\n"
		 "x-ms-correlation-request-id: corr-1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body409), body409);
	snprintf(a200, sizeof(a200),
		 "HTTP/1.1 200 \r\nContent-Type: application/json\r\nx-ms-request-id: rq-2\r\n"
		 "x-ms-correlation-request-id: corr-2\r\nETag: \"5\"\r\n"
		 "x-ms-ratelimit-remaining-subscription-reads: 11999\r\n"
		 "x-ms-ratelimit-remaining-resource: Microsoft.Compute/HighCostGet3Min;107,Microsoft.Compute/"
		 "HighCostGet30Min;587\r\n"
		 "Azure-AsyncOperation: http://127.0.0.1:1/op\r\nLocation: http://127.0.0.1:1/loc\r\n"
		 "Connection: close\r\nContent-Length: 2\r\n\r\n{}");
	const char *answers[] = {a409, a200};
	canned c;
	canned_start(&c, answers, 2);
	arm_config cfg = {0};
	arm *a = open_canned(&c, &cfg);
	json_t *body = json_pack("{s:s}", "location", "westeurope");
	arm_response r;
	char *err = NULL;
	const char *path = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/web";
	assert_int_equal(arm_request(a, "PUT", path, ARM_API_CONTAINER_INSTANCE, body, &r, &err), -1);
	char *expected = NULL;
	assert_true(asprintf(&expected,
			     "PUT %s: 409 Conflict: Conflict: The container group is being deleted. [details: Inner: try "
			     "later] (client request id %s, correlation id corr-1)",
			     path, r.client_request_id) > 0);
	assert_string_equal(err, expected);
	assert_string_equal(r.request_id, "rq-1");
	free(expected);
	free(err);
	arm_response_free(&r);
	/* what was sent */
	assert_non_null(strcasestr(c.requests[0], "\r\nAuthorization: Bearer canned-token-1234\r\n"));
	assert_non_null(strcasestr(c.requests[0], "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strcasestr(c.requests[0], "\r\nx-ms-client-request-id: "));
	assert_non_null(strstr(c.requests[0], "/containerGroups/web?api-version=2023-05-01 HTTP/1.1"));

	assert_int_equal(arm_request(a, "GET", path, ARM_API_CONTAINER_INSTANCE, NULL, &r, &err), 0);
	assert_string_equal(r.etag, "\"5\"");
	assert_string_equal(r.correlation_id, "corr-2");
	assert_string_equal(r.async_operation, "http://127.0.0.1:1/op");
	assert_string_equal(r.location, "http://127.0.0.1:1/loc");
	assert_int_equal(r.n_ratelimits, 2);
	assert_string_equal(r.ratelimits[0].name, "x-ms-ratelimit-remaining-subscription-reads");
	assert_int_equal(r.remaining, 107);
	assert_null(strcasestr(c.requests[1], "Content-Type:"));
	arm_response_free(&r);
	json_decref(body);
	arm_close(a);
	canned_stop(&c);
}

static void test_low_remaining_quota_slows_down(void **state)
{
	char low[1024], high[1024];
	snprintf(low, sizeof(low),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-ms-correlation-request-id: corr-l\r\n"
		 "x-ms-ratelimit-remaining-subscription-reads: 10\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
	snprintf(high, sizeof(high),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "x-ms-ratelimit-remaining-subscription-reads: 11000\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
	const char *answers[] = {low, low, low, high, high, high};
	canned c;
	canned_start(&c, answers, 6);
	arm_config cfg = {0};
	cfg.low_remaining = 50;
	cfg.low_remaining_delay_s = 2;
	arm *a = open_canned(&c, &cfg);
	for (int i = 0; i < 6; i++) {
		arm_response r;
		char *err = NULL;
		assert_int_equal(arm_request(a, "GET", "/subscriptions/s/resourcegroups", ARM_API_RESOURCES, NULL, &r, &err),
				 0);
		arm_response_free(&r);
	}
	/* after the first low answer, requests 2, 3 and 4 each waited 2 * (50 - 10) / 50 = 1.6 s */
	assert_int_equal(T.n_sleeps, 3);
	for (int i = 0; i < 3; i++)
		assert_true(T.sleeps[i] > 1.59 && T.sleeps[i] < 1.61);
	assert_contains(log_text(), "x-ms-ratelimit-remaining-subscription-reads is 10 (below 50): spacing requests to "
				    "subscription s by 1.60 s");
	assert_contains(log_text(), "correlation id corr-l");
	arm_close(a);
	canned_stop(&c);
}

/* An operation with only a Location header: 202 while it runs, then the result. */
static void test_lro_location_only(void **state)
{
	canned c;
	char a202[512], poll202[512], done[512], failed[1024];
	const char *answers[4] = {0};
	canned_start(&c, answers, 0);
	snprintf(a202, sizeof(a202),
		 "HTTP/1.1 202 Accepted\r\nLocation: http://127.0.0.1:%d/subscriptions/s/operationResults/1?api-version=x\r\n"
		 "Retry-After: 3\r\nx-ms-correlation-request-id: corr-9\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		 c.port);
	snprintf(poll202, sizeof(poll202),
		 "HTTP/1.1 202 Accepted\r\nLocation: http://127.0.0.1:%d/subscriptions/s/operationResults/1?api-version=x\r\n"
		 "Retry-After: 7\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		 c.port);
	snprintf(done, sizeof(done),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 13\r\n\r\n"
		 "{\"keys\":[42]}");
	static const char fbody[] = "{\"error\":{\"code\":\"QuotaExceeded\",\"message\":\"No more cores.\"}}";
	snprintf(failed, sizeof(failed),
		 "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(fbody), fbody);
	answers[0] = a202;
	answers[1] = poll202;
	answers[2] = done;
	c.n_answers = 3;
	arm_config cfg = {0};
	arm *a = open_canned(&c, &cfg);
	arm_response r;
	char *err = NULL;
	if (arm_call(a, "POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/"
				"w/delete",
		     ARM_API_COMPUTE, NULL, &r, &err) != 0)
		fail_msg("POST: %s", err);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(r.body, "keys"), 0)), 42);
	/* the waits were what each answer's Retry-After said */
	assert_int_equal(T.n_sleeps, 2);
	assert_true(T.sleeps[0] == 3 && T.sleeps[1] == 7);
	assert_non_null(strstr(c.requests[1], "GET /subscriptions/s/operationResults/1?api-version=x HTTP/1.1"));
	arm_response_free(&r);

	/* a failed operation answers its Location with an error */
	c.served = 0;
	answers[1] = failed;
	c.n_answers = 2;
	assert_int_equal(arm_call(a, "POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/"
					     "virtualMachineScaleSets/w/delete",
				  ARM_API_COMPUTE, NULL, &r, &err),
			 -1);
	assert_contains(err, "POST /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/"
			     "w/delete: the operation Failed: QuotaExceeded: No more cores. (client request id ");
	assert_contains(err, ", correlation id corr-9)");
	assert_string_equal(r.error_code, "QuotaExceeded");
	free(err);
	arm_response_free(&r);
	arm_close(a);
	canned_stop(&c);
}

static void test_token_never_sent_to_another_host(void **state)
{
	char ok[512];
	snprintf(ok, sizeof(ok), "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
	const char *answers[] = {ok};
	canned c;
	canned_start(&c, answers, 1);
	arm_config cfg = {0};
	arm *a = open_canned(&c, &cfg);
	arm_response r;
	char *err = NULL;
	assert_int_equal(arm_request(a, "GET", "https://evil.example.com/subscriptions/s?api-version=1", ARM_API_NONE,
				     NULL, &r, &err),
			 -1);
	char want[256];
	snprintf(want, sizeof(want), "GET /subscriptions/s: refusing to send the ARM token to a URL outside "
				     "http://127.0.0.1:%d", c.port);
	assert_string_equal(err, want);
	free(err);
	arm_response_free(&r);
	/* another port on the same host is another origin too */
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", c.port + 1);
	assert_int_equal(arm_request(a, "GET", url, ARM_API_NONE, NULL, &r, &err), -1);
	free(err);
	arm_response_free(&r);
	/* the same origin, spelt differently, is accepted */
	snprintf(url, sizeof(url), "HTTP://127.0.0.1:%d/subscriptions/s?api-version=1", c.port);
	assert_int_equal(arm_request(a, "GET", url, ARM_API_NONE, NULL, &r, &err), 0);
	assert_int_equal(c.served, 1);
	arm_response_free(&r);
	arm_close(a);
	canned_stop(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_api_versions_one_table, setup),
		cmocka_unit_test_setup(test_endpoints_default_to_public_cloud, setup),
		cmocka_unit_test_setup(test_endpoints_environment_wins, setup),
		cmocka_unit_test_setup(test_plain_http_only_for_loopback, setup),
		cmocka_unit_test_setup(test_client_request_ids_are_fresh_uuids, setup),
		cmocka_unit_test_setup(test_error_details_and_headers, setup),
		cmocka_unit_test_setup(test_low_remaining_quota_slows_down, setup),
		cmocka_unit_test_setup(test_token_never_sent_to_another_host, setup),
		cmocka_unit_test_setup(test_lro_location_only, setup),
		cmocka_unit_test_setup(test_service_principal, setup),
		cmocka_unit_test_setup(test_service_principal_refused_names_no_secret, setup),
		cmocka_unit_test_setup(test_workload_identity_rereads_the_file, setup),
		cmocka_unit_test_setup(test_managed_identity_system_assigned, setup),
		cmocka_unit_test_setup(test_managed_identity_user_assigned, setup),
		cmocka_unit_test_setup(test_azure_cli, setup),
		cmocka_unit_test_setup(test_azure_cli_not_signed_in, setup),
		cmocka_unit_test_setup(test_no_credential_says_why_for_each, setup),
		cmocka_unit_test_setup(test_credential_order, setup),
		cmocka_unit_test_setup(test_token_cached_across_requests, setup),
		cmocka_unit_test_setup(test_token_refreshed_before_expiry, setup),
		cmocka_unit_test_setup(test_token_refreshed_once_on_401, setup),
		cmocka_unit_test_setup(test_429_retry_after_300_honoured, setup),
		cmocka_unit_test_setup(test_429_blocks_the_subscription_and_gives_up_when_told_too_long, setup),
		cmocka_unit_test_setup(test_5xx_retried_with_backoff, setup),
		cmocka_unit_test_setup(test_5xx_gives_up_after_bounded_attempts, setup),
		cmocka_unit_test_setup(test_dropped_connection_retried, setup),
		cmocka_unit_test_setup(test_timeout_is_per_attempt, setup),
		cmocka_unit_test_setup(test_request_budget_per_subscription, setup),
		cmocka_unit_test_setup(test_error_names_code_message_and_ids, setup),
		cmocka_unit_test_setup(test_lro_followed_to_success, setup),
		cmocka_unit_test_setup(test_lro_failure_surfaces_code_and_message, setup),
		cmocka_unit_test_setup(test_lro_scale_set_patch, setup),
		cmocka_unit_test_setup(test_lro_delete, setup),
		cmocka_unit_test_setup(test_one_handle_many_threads, setup),
		cmocka_unit_test_setup(test_list_follows_every_page, setup),
		cmocka_unit_test_setup(test_list_fails_whole_when_a_page_fails, setup),
		cmocka_unit_test_setup(test_env_endpoints_win_over_callers, setup),
		cmocka_unit_test_setup(test_no_secret_or_token_in_any_output, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
