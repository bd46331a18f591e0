/* Blob service calls for the leader lease: see blob.h. One libcurl handle per client (the calls
 * are one at a time, from the leader's thread), requests signed with Shared Key when a key is
 * given:
 *
 *   StringToSign = VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0)
 *                  \n Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *                  If-None-Match \n If-Unmodified-Since \n Range \n CanonicalizedHeaders
 *                  CanonicalizedResource
 *   CanonicalizedHeaders: every x-ms-* header, name lower-case, sorted, "name:value\n"
 *   CanonicalizedResource: "/" ACCOUNT URI-PATH, then "\nname:value" per query parameter
 *                  (names lower-case, sorted); a path-style URL (the emulator) names the account
 *                  twice, as documented.
 *   Authorization: SharedKey ACCOUNT:base64(HMAC-SHA256(base64-decoded key, StringToSign))
 * We send x-ms-date, so the Date line is empty. */
#include "transport/blob.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/util.h"
#include "spec/xalloc.h"
#include "transport/http.h"

struct blob_client {
	char *base;      /* scheme://host[:port][/ACCOUNT] (path style) */
	char *path;      /* /[ACCOUNT/]CONTAINER/BLOB as in the URL */
	char *container_path; /* /[ACCOUNT/]CONTAINER */
	char *account;
	char *sas;       /* the query, without '?'; NULL */
	unsigned char *key;
	size_t key_len;
	char *shown;
	azure_credential *cred;
	char *ca_file;
	long timeout_ms;
	berth_cancel *cancel;
	CURL *curl;
};

/* ---- base64, HMAC ---- */

static unsigned char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	if (n == 0 || n % 4)
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	*len = (size_t)got - pad;
	return out;
}

static char *hmac_b64(const unsigned char *key, size_t key_len, const char *text)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)text, strlen(text), mac, &mac_len);
	char *out = xmalloc(4 * ((mac_len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
	return out;
}

int blob_shared_key_sign(const char *key_b64, const char *string_to_sign, char **out)
{
	size_t n = 0;
	unsigned char *key = b64_decode(key_b64, &n);
	if (!key)
		return -1;
	*out = hmac_b64(key, n, string_to_sign);
	OPENSSL_cleanse(key, n);
	free(key);
	return 0;
}

/* ---- the URL ---- */

static bool is_loopback(const char *host, size_t n)
{
	return (n == 9 && !strncmp(host, "localhost", 9)) || (n >= 4 && !strncmp(host, "127.", 4)) ||
	       (n == 5 && !strncmp(host, "[::1]", 5));
}

static bool name_ok(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-._/", s[i]))
			return false;
	return true;
}

int blob_open(const blob_config *cfg, blob_client **out, berth_error *err)
{
	*out = NULL;
	const char *url = cfg->url;
	if (!url || !*url)
		return berth_error_set(err, BERTH_EINVALID, "no lease blob URL");
	bool https = !strncmp(url, "https://", 8), http = !strncmp(url, "http://", 7);
	if (!https && !http)
		return berth_error_set(err, BERTH_EINVALID, "the lease blob URL must be https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB");
	const char *host = url + (https ? 8 : 7);
	size_t hn = strcspn(host, "/?#");
	const char *hostport_end = host + hn;
	size_t host_only = strcspn(host, ":/?#");
	if (host[0] == '[')
		host_only = (size_t)(strchr(host, ']') ? strchr(host, ']') - host + 1 : (long)hn);
	bool loop = is_loopback(host, host_only);
	if (http && !loop)
		return berth_error_set(err, BERTH_EINVALID, "the lease blob URL: http:// only to a loopback host (an emulator); use https://");
	const char *q = strchr(hostport_end, '?');
	size_t plen = q ? (size_t)(q - hostport_end) : strlen(hostport_end);
	if (memchr(hostport_end, '#', plen))
		return berth_error_set(err, BERTH_EINVALID, "the lease blob URL must not have a fragment");
	char *path = xstrndup(hostport_end, plen);
	/* Path style for loopback hosts and IP addresses: /ACCOUNT/CONTAINER/BLOB. */
	bool path_style = loop || isdigit((unsigned char)host[0]);
	const char *p = path[0] == '/' ? path + 1 : path;
	char *account = NULL;
	const char *rest = p;
	if (path_style) {
		size_t an = strcspn(p, "/");
		account = xstrndup(p, an);
		rest = p[an] ? p + an + 1 : p + an;
	} else {
		size_t an = strcspn(host, ".:");
		account = xstrndup(host, an);
	}
	size_t cn = strcspn(rest, "/");
	const char *blob = rest[cn] ? rest + cn + 1 : rest + cn;
	if (!*account || !name_ok(rest, cn) || !name_ok(blob, strlen(blob)) || blob[strlen(blob) - 1] == '/') {
		free(path);
		free(account);
		return berth_error_set(err, BERTH_EINVALID,
				       "the lease blob URL must name %sa container and a blob (letters, digits, - . _ /)",
				       path_style ? "an account, " : "");
	}
	blob_client *b = xcalloc(1, sizeof(*b));
	b->account = account;
	b->path = path;
	b->base = xstrndup(url, (size_t)(hostport_end - url));
	b->container_path = xstrndup(path, (size_t)(rest + cn - path));
	b->shown = xasprintf("%s%s", b->base, b->path);
	if (q && q[1])
		b->sas = xstrdup(q + 1);
	if (cfg->account_key && *cfg->account_key && !b->sas) {
		b->key = b64_decode(cfg->account_key, &b->key_len);
		if (!b->key) {
			blob_close(b);
			return berth_error_set(err, BERTH_EINVALID, "the storage account key is not base64");
		}
	}
	b->cred = cfg->credential;
	b->ca_file = cfg->ca_file && *cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
	if (!b->sas && !b->key && !b->cred) {
		blob_close(b);
		return berth_error_set(err, BERTH_EAUTH, "no credential for the lease blob (a SAS, an account key or an Azure credential)");
	}
	b->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	b->cancel = cfg->cancel;
	if (http_global_init() != CURLE_OK || !(b->curl = curl_easy_init())) {
		blob_close(b);
		return berth_error_set(err, BERTH_EGENERIC, "cannot set up libcurl");
	}
	*out = b;
	return 0;
}

void blob_close(blob_client *b)
{
	if (!b)
		return;
	if (b->curl)
		curl_easy_cleanup(b->curl);
	if (b->key) {
		OPENSSL_cleanse(b->key, b->key_len);
		free(b->key);
	}
	if (b->sas) {
		OPENSSL_cleanse(b->sas, strlen(b->sas));
		free(b->sas);
	}
	free(b->base);
	free(b->path);
	free(b->container_path);
	free(b->account);
	free(b->shown);
	free(b->ca_file);
	free(b);
}

const char *blob_url_shown(const blob_client *b)
{
	return b->shown;
}

/* ---- one request ---- */

typedef struct hdr {
	const char *name, *value;
} hdr;

typedef struct answer {
	char *error_code;
	char *lease_state;
	char **meta;
	size_t n_meta;
} answer;

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	answer *a = userdata;
	size_t n = size * nmemb;
	const char *colon = memchr(ptr, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - ptr);
	const char *v = colon + 1, *end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	if (nl == 15 && !strncasecmp(ptr, "x-ms-error-code", nl)) {
		free(a->error_code);
		a->error_code = xstrndup(v, (size_t)(end - v));
	} else if (nl == 16 && !strncasecmp(ptr, "x-ms-lease-state", nl)) {
		free(a->lease_state);
		a->lease_state = xstrndup(v, (size_t)(end - v));
	} else if (nl > 10 && !strncasecmp(ptr, "x-ms-meta-", 10)) {
		a->meta = xrealloc(a->meta, (a->n_meta + 3) * sizeof(char *));
		char *name = xstrndup(ptr + 10, nl - 10);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		a->meta[a->n_meta++] = name;
		a->meta[a->n_meta++] = xstrndup(v, (size_t)(end - v));
		a->meta[a->n_meta] = NULL;
	}
	return n;
}

static void answer_free(answer *a)
{
	free(a->error_code);
	free(a->lease_state);
	for (size_t i = 0; i < a->n_meta; i++)
		free(a->meta[i]);
	free(a->meta);
}

static int cmp_hdr(const void *x, const void *y)
{
	return strcmp(((const hdr *)x)->name, ((const hdr *)y)->name);
}

static void rfc1123_now(char buf[64])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	snprintf(buf, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* verb on path (the blob's or the container's) with query "NAME=VALUE" (one parameter; NULL),
 * x-ms headers xh (names lower-case), If-None-Match and Content-Type when given. Returns the
 * HTTP status (0: no answer) with *a filled, or a negative code with *err. */
static long request(blob_client *b, const char *verb, const char *path, const char *query, hdr *xh, size_t nxh,
		    const char *if_none_match, const char *content_type, long timeout_ms, answer *a, const char *what,
		    berth_error *err)
{
	char date[64];
	rfc1123_now(date);
	hdr all[16];
	size_t n = 0;
	all[n++] = (hdr){"x-ms-date", date};
	all[n++] = (hdr){"x-ms-version", BLOB_API_VERSION};
	for (size_t i = 0; i < nxh && n < 16; i++)
		all[n++] = xh[i];
	qsort(all, n, sizeof(hdr), cmp_hdr);
	struct curl_slist *headers = NULL;
	for (size_t i = 0; i < n; i++) {
		char *line = xasprintf("%s: %s", all[i].name, all[i].value);
		headers = curl_slist_append(headers, line);
		free(line);
	}
	char *ct = xasprintf("Content-Type:%s%s", content_type ? " " : "", content_type ? content_type : "");
	headers = curl_slist_append(headers, ct);
	free(ct);
	headers = curl_slist_append(headers, "Expect:");
	if (if_none_match) {
		char *line = xasprintf("If-None-Match: %s", if_none_match);
		headers = curl_slist_append(headers, line);
		free(line);
	}
	char *token = NULL;
	if (!b->sas && b->key) {
		char *canon_headers = xstrdup("");
		for (size_t i = 0; i < n; i++) {
			char *next = xasprintf("%s%s:%s\n", canon_headers, all[i].name, all[i].value);
			free(canon_headers);
			canon_headers = next;
		}
		char *canon_query = xstrdup("");
		if (query) {
			const char *eq = strchr(query, '=');
			free(canon_query);
			canon_query = xasprintf("\n%.*s:%s", (int)(eq - query), query, eq + 1);
		}
		/* Every request here has an empty body, so Content-Length is the empty line. */
		char *sts = xasprintf("%s\n\n\n\n\n%s\n\n\n\n%s\n\n\n%s/%s%s%s", verb, content_type ? content_type : "",
				      if_none_match ? if_none_match : "", canon_headers, b->account, path, canon_query);
		char *sig = hmac_b64(b->key, b->key_len, sts);
		char *line = xasprintf("Authorization: SharedKey %s:%s", b->account, sig);
		headers = curl_slist_append(headers, line);
		OPENSSL_cleanse(line, strlen(line));
		free(line);
		free(sig);
		free(sts);
		free(canon_headers);
		free(canon_query);
	} else if (!b->sas) {
		char *msg = NULL;
		if (azure_credential_token(b->cred, false, &token, &msg) != 0) {
			curl_slist_free_all(headers);
			int rc = berth_error_set(err, BERTH_EAUTH, "%s %s: no storage token: %s", what, b->shown, msg ? msg : "");
			free(msg);
			return rc;
		}
	}
	char *url = xasprintf("%s%s%s%s%s%s", b->base, path, query || b->sas ? "?" : "", query ? query : "",
			      query && b->sas ? "&" : "", b->sas ? b->sas : "");
	http_buffer body = {0};
	char errbuf[CURL_ERROR_SIZE];
	http_setup s = {.url = url,
			.method = verb,
			.body = strcmp(verb, "PUT") ? NULL : "",
			.headers = headers,
			.timeout_ms = timeout_ms > 0 ? timeout_ms : b->timeout_ms,
			.connect_timeout_ms = timeout_ms > 0 ? timeout_ms : b->timeout_ms,
			.web_only = true,
			.ca_file = b->ca_file,
			.out = &body,
			.max_body = 64 * 1024,
			.header_fn = on_header,
			.header_data = a,
			.cancel = b->cancel,
			.errbuf = errbuf};
	http_easy_setup(b->curl, &s);
	if (token)
		curl_easy_setopt(b->curl, CURLOPT_XOAUTH2_BEARER, token), curl_easy_setopt(b->curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
	CURLcode rc = curl_easy_perform(b->curl);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
	http_easy_release(b->curl);
	curl_slist_free_all(headers);
	if (token)
		azure_token_free(token);
	OPENSSL_cleanse(url, strlen(url));
	free(url);
	http_buffer_wipe(&body);
	if (rc != CURLE_OK) {
		if (http_canceled(rc, b->cancel))
			return berth_error_set(err, BERTH_ECANCELED, "%s %s: cancelled", what, b->shown);
		return berth_error_set(err, BERTH_ETRANSIENT, "%s %s: %s", what, b->shown,
				       errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	return status;
}

/* A status that is not success as a code with a message. */
static int fail(const blob_client *b, const char *what, long status, const answer *a, berth_error *err)
{
	berth_error_code code = status == 409 || status == 412 ? BERTH_ECONFLICT
				: status == 404		      ? BERTH_ENOTFOUND
				: status == 401 || status == 403 ? BERTH_EAUTH
				: status >= 500 || status == 429 ? BERTH_ETRANSIENT
				: status == 400			 ? BERTH_EINVALID
								 : BERTH_EGENERIC;
	/* Which credential was refused says where to look (the token itself is never shown). */
	const char *hint = code != BERTH_EAUTH ? ""
			   : b->sas	       ? " (the SAS was refused)"
			   : b->key	       ? " (the storage account key was refused)"
					       : " (the Azure credential's token for " BLOB_STORAGE_AUDIENCE " was refused)";
	return berth_error_set(err, code, "%s %s: HTTP %ld%s%s%s", what, b->shown, status, a->error_code ? " " : "",
			       a->error_code ? a->error_code : "", hint);
}

int blob_ensure(blob_client *b, berth_error *err)
{
	answer a = {0};
	long st = request(b, "PUT", b->container_path, "restype=container", NULL, 0, NULL, NULL, 0, &a,
			  "creating the container of", err);
	int rc = st < 0 ? (int)st : 0;
	/* 403 with a SAS scoped to the blob: the container may well exist; Put Blob tells. */
	if (st > 0 && st != 201 && st != 409 && !(st == 403 && b->sas))
		rc = fail(b, "creating the container of", st, &a, err);
	answer_free(&a);
	if (rc != 0)
		return rc;
	a = (answer){0};
	hdr h[] = {{"x-ms-blob-type", "BlockBlob"}};
	st = request(b, "PUT", b->path, NULL, h, 1, "*", "application/octet-stream", 0, &a, "creating", err);
	rc = st < 0 ? (int)st : 0;
	/* 409 BlobAlreadyExists, or 412 (it exists, under a lease): both mean it is there. */
	if (st > 0 && st != 201 && st != 409 && st != 412)
		rc = fail(b, "creating", st, &a, err);
	answer_free(&a);
	return rc;
}

int blob_lease(blob_client *b, const blob_lease_request *rq, berth_error *err)
{
	static const char *const names[] = {"acquire", "renew", "change", "release", "break"};
	static const long ok[] = {201, 200, 200, 200, 202};
	hdr h[5];
	size_t n = 0;
	h[n++] = (hdr){"x-ms-lease-action", names[rq->action]};
	char dur[16], brk[16];
	if (rq->action == BLOB_ACQUIRE) {
		snprintf(dur, sizeof(dur), "%d", rq->duration_s);
		h[n++] = (hdr){"x-ms-lease-duration", dur};
	}
	if (rq->action == BLOB_BREAK && rq->break_period_s >= 0) {
		snprintf(brk, sizeof(brk), "%d", rq->break_period_s);
		h[n++] = (hdr){"x-ms-lease-break-period", brk};
	}
	if (rq->lease_id)
		h[n++] = (hdr){"x-ms-lease-id", rq->lease_id};
	if (rq->proposed_id)
		h[n++] = (hdr){"x-ms-proposed-lease-id", rq->proposed_id};
	char what[32];
	snprintf(what, sizeof(what), "lease %s on", names[rq->action]);
	answer a = {0};
	long st = request(b, "PUT", b->path, "comp=lease", h, n, NULL, NULL, rq->timeout_ms, &a, what, err);
	int rc = st < 0 ? (int)st : st == ok[rq->action] ? 0 : fail(b, what, st, &a, err);
	answer_free(&a);
	return rc;
}

int blob_set_metadata(blob_client *b, const char *lease_id, const char *const *pairs, berth_error *err)
{
	hdr h[12];
	char *names[10];
	size_t n = 0, k = 0;
	for (; pairs[0] && pairs[1] && k < 10; pairs += 2) {
		names[k] = xasprintf("x-ms-meta-%s", pairs[0]);
		h[n++] = (hdr){names[k++], pairs[1]};
	}
	if (lease_id)
		h[n++] = (hdr){"x-ms-lease-id", lease_id};
	answer a = {0};
	long st = request(b, "PUT", b->path, "comp=metadata", h, n, NULL, NULL, 0, &a, "setting the metadata of", err);
	int rc = st < 0 ? (int)st : st == 200 ? 0 : fail(b, "setting the metadata of", st, &a, err);
	answer_free(&a);
	for (size_t i = 0; i < k; i++)
		free(names[i]);
	return rc;
}

int blob_get_properties(blob_client *b, blob_properties *out, berth_error *err)
{
	memset(out, 0, sizeof(*out));
	answer a = {0};
	long st = request(b, "HEAD", b->path, NULL, NULL, 0, NULL, NULL, 0, &a, "reading", err);
	int rc = st < 0 ? (int)st : st == 200 ? 0 : fail(b, "reading", st, &a, err);
	if (rc == 0) {
		out->lease_state = a.lease_state;
		out->meta = a.meta;
		a.lease_state = NULL;
		a.meta = NULL;
		a.n_meta = 0;
	}
	answer_free(&a);
	return rc;
}

const char *blob_meta(const blob_properties *p, const char *name)
{
	for (char **m = p->meta; m && m[0]; m += 2)
		if (!strcmp(m[0], name))
			return m[1];
	return NULL;
}

void blob_properties_free(blob_properties *p)
{
	free(p->lease_state);
	for (char **m = p->meta; m && *m; m++)
		free(*m);
	free(p->meta);
	memset(p, 0, sizeof(*p));
}
