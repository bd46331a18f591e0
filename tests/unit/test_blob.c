/* transport/blob: the Shared Key signature (a vector computed with Python's hmac over the
 * string-to-sign of a Lease Blob acquire against the emulator) and the lease blob URL's checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/blob.h"

#define EMULATOR_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static void test_shared_key_signature(void **state)
{
	(void)state;
	const char *sts = "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Thu, 03 Dec 2026 12:00:00 GMT\nx-ms-lease-action:acquire\n"
			  "x-ms-lease-duration:15\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/c/b\ncomp:lease";
	char *sig = NULL;
	assert_int_equal(blob_shared_key_sign(EMULATOR_KEY, sts, &sig), 0);
	assert_string_equal(sig, "FTaoiYZxJb0w6TMEfNLdRDXIvW3hDpMlwlT6ZwKsHps=");
	free(sig);
	assert_int_equal(blob_shared_key_sign("not base64!", sts, &sig), -1);
}

static void open_fails(const char *url, const char *key, berth_error_code code, const char *text)
{
	blob_config c = {.url = url, .account_key = key};
	blob_client *b = NULL;
	berth_error err = {0};
	assert_int_equal(blob_open(&c, &b, &err), code);
	assert_null(b);
	assert_non_null(strstr(err.message, text));
	berth_error_clear(&err);
}

static void test_urls(void **state)
{
	(void)state;
	open_fails("ftp://x/c/b", EMULATOR_KEY, BERTH_EINVALID, "must be https://");
	open_fails("http://example.com/c/b", EMULATOR_KEY, BERTH_EINVALID, "only to a loopback host");
	open_fails("https://acct.blob.core.windows.net/c", EMULATOR_KEY, BERTH_EINVALID, "a container and a blob");
	open_fails("http://127.0.0.1:10000/devstoreaccount1/c", EMULATOR_KEY, BERTH_EINVALID, "an account, a container");
	open_fails("https://acct.blob.core.windows.net/c/b%20x", EMULATOR_KEY, BERTH_EINVALID, "letters, digits");
	open_fails("https://acct.blob.core.windows.net/c/b", "%%%", BERTH_EINVALID, "not base64");
	open_fails("https://acct.blob.core.windows.net/c/b", NULL, BERTH_EAUTH, "no credential");
	/* a SAS is a credential, and never shown */
	blob_config c = {.url = "https://acct.blob.core.windows.net/c/dir/b?sv=2021-12-02&sig=S3cr3t"};
	blob_client *b = NULL;
	berth_error err = {0};
	assert_int_equal(blob_open(&c, &b, &err), 0);
	assert_string_equal(blob_url_shown(b), "https://acct.blob.core.windows.net/c/dir/b");
	blob_close(b);
	c = (blob_config){.url = "http://127.0.0.1:10000/devstoreaccount1/c/b", .account_key = EMULATOR_KEY};
	assert_int_equal(blob_open(&c, &b, &err), 0);
	assert_string_equal(blob_url_shown(b), "http://127.0.0.1:10000/devstoreaccount1/c/b");
	blob_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_key_signature),
		cmocka_unit_test(test_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
