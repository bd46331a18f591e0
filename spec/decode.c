/* Typed decoding of YAML nodes into the model, with precise errors. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec_internal.h"
#include "xalloc.h"

/* ---- diagnostics and paths ---- */

const char *spec_path(spec_ctx *c)
{
	char buf[1024];
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < c->depth && len < sizeof(buf) - 1; i++) {
		const path_seg *s = &c->path[i];
		int w;
		if (s->key)
			w = snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? "." : "", s->key);
		else
			w = snprintf(buf + len, sizeof(buf) - len, "[%zu]", s->index);
		if (w < 0)
			break;
		len += (size_t)w;
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
	}
	return arena_strndup(c->mem, buf, len);
}

void spec_push_key(spec_ctx *c, const char *key)
{
	if (c->depth < SPEC_PATH_MAX)
		c->path[c->depth] = (path_seg){.key = key};
	c->depth++;
}

void spec_push_key_at(spec_ctx *c, const char *key, const ynode *at)
{
	if (c->depth < SPEC_PATH_MAX)
		c->path[c->depth] = (path_seg){.key = key, .at = at};
	c->depth++;
}

void spec_push_index(spec_ctx *c, size_t i)
{
	if (c->depth < SPEC_PATH_MAX)
		c->path[c->depth] = (path_seg){.key = NULL, .index = i};
	c->depth++;
}

void spec_pop(spec_ctx *c)
{
	c->depth--;
}

spec_loc spec_loc_of(spec_ctx *c, const ynode *n)
{
	spec_loc l = {.file = c->file, .line = n ? n->line : 0, .col = n ? n->col : 0};
	return l;
}

static void vreport(spec_ctx *c, spec_diag_level lvl, const char *file, int line, int col, const char *fmt,
		    va_list ap)
{
	if (spec_diags_full(c->diags)) {
		spec_diags_drop(c->diags, lvl);
		return;
	}
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *path = c->depth ? spec_path(c) : "";
	if (*path)
		spec_diags_add(c->diags, lvl, file, line, col, "%s: %s", path, msg);
	else
		spec_diags_add(c->diags, lvl, file, line, col, "%s", msg);
}

void spec_error_at(spec_ctx *c, const ynode *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, SPEC_DIAG_ERROR, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	va_end(ap);
}

void spec_warn_at(spec_ctx *c, const ynode *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, SPEC_DIAG_WARNING, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	va_end(ap);
}

void spec_error_loc(spec_ctx *c, spec_loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, SPEC_DIAG_ERROR, loc.file, loc.line, loc.col, fmt, ap);
	va_end(ap);
}

void spec_warn_loc(spec_ctx *c, spec_loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, SPEC_DIAG_WARNING, loc.file, loc.line, loc.col, fmt, ap);
	va_end(ap);
}

/* ---- did you mean ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t prev[65], cur[65];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = prev[j - 1] + cost;
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

const char *spec_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
	size_t len = strlen(word);
	size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	const char *best = NULL;
	size_t best_d = limit + 1;
	for (size_t i = 0; i < n; i++) {
		size_t cl = strlen(candidates[i]);
		if ((cl > len ? cl - len : len - cl) > limit)
			continue; /* cannot be within the distance: skip the O(n*m) comparison */
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}

/* ---- scalars ---- */

static bool want_scalar(spec_ctx *c, const ynode *n, const char *expected)
{
	if (n && n->kind == YNODE_SCALAR && !ynode_is_null(n))
		return true;
	spec_error_at(c, n, "expected %s, got %s", expected, ynode_kind_name(n));
	return false;
}

/* One rule for every list (a sequence, a string-or-list, a command, a KEY=VALUE list): "key:"
 * written with no value, or null, means no entries, as if the key were left out. Users delete the
 * last entry and leave the key; that is not worth an error anywhere, so it is one nowhere. */
bool list_is_empty(const ynode *n, spec_strv *out)
{
	if (n && !ynode_is_null(n))
		return false;
	out->v = NULL;
	out->n = 0;
	return true;
}

bool dec_str(spec_ctx *c, const ynode *n, const char **out)
{
	if (!want_scalar(c, n, "a string"))
		return false;
	if (n->n == 0) {
		spec_error_at(c, n, "must not be empty");
		return false;
	}
	*out = n->u.str;
	return true;
}

bool dec_str_or_strv(spec_ctx *c, const ynode *n, spec_strv *out)
{
	if (list_is_empty(n, out))
		return true;
	if (n && n->kind == YNODE_SEQ)
		return dec_strv(c, n, out);
	const char *s;
	if (!dec_str(c, n, &s))
		return false;
	out->v = arena_calloc(c->mem, 1, sizeof(char *));
	out->v[0] = s;
	out->n = 1;
	return true;
}

static bool parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		return false;
	*out = v;
	return true;
}

static void range_error(spec_ctx *c, const ynode *n, int64_t min, int64_t max, const char *got)
{
	if (max == INT64_MAX)
		spec_error_at(c, n, "must be at least %lld (got %s)", (long long)min, got);
	else
		spec_error_at(c, n, "must be between %lld and %lld (got %s)", (long long)min, (long long)max, got);
}

bool dec_int(spec_ctx *c, const ynode *n, int64_t min, int64_t max, int64_t *out)
{
	if (!want_scalar(c, n, "an integer"))
		return false;
	int64_t v;
	if (!n->quoted && !parse_int(n->u.str, &v) && strspn(n->u.str + (n->u.str[0] == '-'), "0123456789") == strlen(n->u.str + (n->u.str[0] == '-')) && n->n > 1) {
		range_error(c, n, min, max, n->u.str); /* digits only, but beyond 64 bits */
		return false;
	}
	if (n->quoted || !parse_int(n->u.str, &v)) {
		spec_error_at(c, n, "expected an integer, got %s'%s'", n->quoted ? "the string " : "", n->u.str);
		return false;
	}
	if (v < min || v > max) {
		range_error(c, n, min, max, n->u.str);
		return false;
	}
	*out = v;
	return true;
}

bool dec_bool(spec_ctx *c, const ynode *n, bool *out)
{
	if (!want_scalar(c, n, "true or false"))
		return false;
	const char *s = n->u.str;
	if (!n->quoted && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
		*out = true;
		return true;
	}
	if (!n->quoted && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*out = false;
		return true;
	}
	spec_error_at(c, n, "expected true or false, got %s'%s'", n->quoted ? "the string " : "", s);
	return false;
}

bool dec_num(spec_ctx *c, const ynode *n, double min, double max, double *out)
{
	if (!want_scalar(c, n, "a number"))
		return false;
	char *end;
	errno = 0;
	double v = strtod(n->u.str, &end);
	if (end == n->u.str || *end || errno || !isfinite(v) || isspace((unsigned char)n->u.str[0])) {
		spec_error_at(c, n, "expected a number, got '%s'", n->u.str);
		return false;
	}
	if (v < min || v > max) {
		spec_error_at(c, n, "must be between %g and %g (got %s)", min, max, n->u.str);
		return false;
	}
	*out = v;
	return true;
}

bool spec_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
	if (!strcmp(s, "0")) {
		*ns = 0;
		return true;
	}
	const char *p = s;
	double total = 0;
	if (!*p)
		return false;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return false;
		double v = strtod(p, &end);
		if (end == p)
			return false;
		p = end;
		size_t best = 0, best_len = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].unit);
			if (!strncmp(p, units[i].unit, l) && l > best_len) {
				best = i;
				best_len = l;
			}
		}
		if (!best_len)
			return false;
		total += v * units[best].ns;
		p += best_len;
	}
	if (total > 9.2e18)
		return false;
	*ns = (int64_t)llround(total);
	return true;
}

void spec_format_duration(char *out, size_t n, int64_t ns)
{
	if (ns == 0) {
		snprintf(out, n, "0s");
		return;
	}
	if (ns % 1000000000LL) {
		if (ns % 1000000LL == 0 && ns < 1000000000LL)
			snprintf(out, n, "%lldms", (long long)(ns / 1000000LL));
		else
			snprintf(out, n, "%.9gs", (double)ns / 1e9);
		return;
	}
	long long s = ns / 1000000000LL;
	long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
	size_t len = 0;
	out[0] = '\0';
	if (h)
		len += (size_t)snprintf(out + len, n - len, "%lldh", h);
	if (m && len < n)
		len += (size_t)snprintf(out + len, n - len, "%lldm", m);
	if ((sec || len == 0) && len < n)
		snprintf(out + len, n - len, "%llds", sec);
}

bool dec_duration(spec_ctx *c, const ynode *n, int64_t *out_ns)
{
	if (!want_scalar(c, n, "a duration"))
		return false;
	if (!spec_parse_duration(n->u.str, out_ns)) {
		spec_error_at(c, n, "expected a duration like 10s, 1m30s or 500ms, got '%s'", n->u.str);
		return false;
	}
	return true;
}

bool spec_parse_bytes(const char *s, int64_t *bytes)
{
	char *end;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno)
		return false;
	double mul;
	char u[4] = {0};
	size_t ul = strlen(end);
	if (ul > 2)
		return false;
	for (size_t i = 0; i < ul; i++)
		u[i] = (char)tolower((unsigned char)end[i]);
	if (!ul || !strcmp(u, "b"))
		mul = 1;
	else if (!strcmp(u, "k") || !strcmp(u, "kb"))
		mul = 1024.0;
	else if (!strcmp(u, "m") || !strcmp(u, "mb"))
		mul = 1024.0 * 1024;
	else if (!strcmp(u, "g") || !strcmp(u, "gb"))
		mul = 1024.0 * 1024 * 1024;
	else if (!strcmp(u, "t") || !strcmp(u, "tb"))
		mul = 1024.0 * 1024 * 1024 * 1024;
	else
		return false;
	double total = v * mul;
	if (total > 9.2e18 || total != floor(total))
		return false;
	*bytes = (int64_t)total;
	return true;
}

bool dec_bytes(spec_ctx *c, const ynode *n, int64_t *out)
{
	if (!want_scalar(c, n, "a size"))
		return false;
	if (!spec_parse_bytes(n->u.str, out)) {
		spec_error_at(c, n, "expected a size like 512m or 1g, got '%s'", n->u.str);
		return false;
	}
	return true;
}

bool dec_enum(spec_ctx *c, const ynode *n, const char *const *values, bool any_case, int *out)
{
	if (!want_scalar(c, n, "a string"))
		return false;
	size_t nv = 0;
	for (; values[nv]; nv++)
		if (any_case ? !strcasecmp(values[nv], n->u.str) : !strcmp(values[nv], n->u.str)) {
			*out = (int)nv;
			return true;
		}
	char list[256];
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; i < nv && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", values[i]);
	const char *hint = spec_did_you_mean(n->u.str, values, nv);
	const char *cases = any_case ? ", in upper or lower case" : "";
	if (hint)
		spec_error_at(c, n, "must be one of %s%s (got '%s'); did you mean '%s'?", list, cases, n->u.str, hint);
	else
		spec_error_at(c, n, "must be one of %s%s (got '%s')", list, cases, n->u.str);
	return false;
}

bool dec_expect_map(spec_ctx *c, const ynode *n)
{
	if (n && n->kind == YNODE_MAP)
		return true;
	spec_error_at(c, n, "expected a mapping, got %s", ynode_kind_name(n));
	return false;
}

bool dec_expect_seq(spec_ctx *c, const ynode *n)
{
	if (n && n->kind == YNODE_SEQ)
		return true;
	spec_error_at(c, n, "expected a sequence, got %s", ynode_kind_name(n));
	return false;
}

bool dec_strv(spec_ctx *c, const ynode *n, spec_strv *out)
{
	if (list_is_empty(n, out))
		return true;
	if (!dec_expect_seq(c, n))
		return false;
	out->v = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(char *));
	out->n = 0;
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		spec_push_index(c, i);
		const char *s;
		if (dec_str(c, n->u.items[i], &s))
			out->v[out->n++] = s;
		else
			ok = false;
		spec_pop(c);
	}
	return ok;
}

/* Splits a command line the way a POSIX shell splits words (quotes and backslashes; no expansion). */
static bool shell_split(spec_ctx *c, const char *s, spec_strv *out, const char **problem)
{
	size_t cap = 4, len = strlen(s);
	out->v = arena_calloc(c->mem, cap, sizeof(char *));
	out->n = 0;
	char *word = arena_alloc(c->mem, len + 1);
	size_t wl = 0;
	bool in_word = false;
	for (const char *p = s; *p; p++) {
		if (*p == '\'' ) {
			const char *q = strchr(p + 1, '\'');
			if (!q) {
				*problem = "unterminated single quote";
				return false;
			}
			memcpy(word + wl, p + 1, (size_t)(q - p - 1));
			wl += (size_t)(q - p - 1);
			p = q;
			in_word = true;
		} else if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
					p++;
				word[wl++] = *p++;
			}
			if (!*p) {
				*problem = "unterminated double quote";
				return false;
			}
			in_word = true;
		} else if (*p == '\\') {
			if (p[1]) {
				word[wl++] = *++p;
				in_word = true;
			}
		} else if (isspace((unsigned char)*p)) {
			if (in_word) {
				if (out->n == cap) {
					const char **nv = arena_calloc(c->mem, cap * 2, sizeof(char *));
					memcpy(nv, out->v, cap * sizeof(char *));
					out->v = nv;
					cap *= 2;
				}
				out->v[out->n++] = arena_strndup(c->mem, word, wl);
				wl = 0;
				in_word = false;
			}
		} else {
			word[wl++] = *p;
			in_word = true;
		}
	}
	if (in_word) {
		if (out->n == cap) {
			const char **nv = arena_calloc(c->mem, cap * 2, sizeof(char *));
			memcpy(nv, out->v, cap * sizeof(char *));
			out->v = nv;
		}
		out->v[out->n++] = arena_strndup(c->mem, word, wl);
	}
	return true;
}

bool dec_command(spec_ctx *c, const ynode *n, spec_strv *out)
{
	if (list_is_empty(n, out))
		return true; /* unset: the image's command */
	if (n && n->kind == YNODE_SEQ)
		return dec_strv(c, n, out);
	if (!want_scalar(c, n, "a string or a list of strings"))
		return false;
	const char *problem = NULL;
	if (!shell_split(c, n->u.str, out, &problem)) {
		spec_error_at(c, n, "cannot split command: %s", problem);
		return false;
	}
	return true;
}

/* The deploying environment's value of an environment variable written without one (Compose's
 * "KEY:" and "- KEY"), read when the spec is loaded. NULL when it is unset. */
static const char *inherited_value(spec_ctx *c, const char *key)
{
	/* getenv("A=B") would find the variable A: such a key names no variable. */
	if (strchr(key, '='))
		return NULL;
	const char *v = getenv(key);
	/* A copy: the model must not change if the process environment does later. */
	return v ? arena_strdup(c->mem, v) : NULL;
}

bool dec_kv(spec_ctx *c, const ynode *n, kv_no_value no_value, spec_kv **out, size_t *nout)
{
	if (ynode_is_null(n)) {
		*out = NULL;
		*nout = 0;
		return true; /* "labels:" with no entries: none, as for every list */
	}
	if (!n || (n->kind != YNODE_MAP && n->kind != YNODE_SEQ)) {
		spec_error_at(c, n, "expected a mapping or a list of KEY=VALUE strings, got %s", ynode_kind_name(n));
		return false;
	}
	spec_kv *kv = arena_calloc(c->mem, n->n ? n->n : 1, sizeof(*kv));
	size_t count = 0;
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *key;
		const char *k, *v;
		if (n->kind == YNODE_MAP) {
			key = n->u.pairs[2 * i];
			const ynode *val = n->u.pairs[2 * i + 1];
			if (key->kind != YNODE_SCALAR || ynode_is_null(key)) {
				spec_error_at(c, key, "keys must be strings");
				ok = false;
				continue;
			}
			k = key->u.str;
			if (val->kind != YNODE_SCALAR) {
				spec_push_key(c, k);
				spec_error_at(c, val, "expected a string, number or boolean, got %s", ynode_kind_name(val));
				spec_pop(c);
				ok = false;
				continue;
			}
			v = ynode_is_null(val) ? NULL : val->u.str;
			/* Within one mapping the YAML reader already refuses a repeated key. */
		} else {
			key = n->u.items[i];
			spec_push_index(c, i);
			if (key->kind != YNODE_SCALAR || ynode_is_null(key)) {
				spec_error_at(c, key, "expected a KEY=VALUE string, got %s", ynode_kind_name(key));
				ok = false;
				spec_pop(c);
				continue;
			}
			const char *eq = strchr(key->u.str, '=');
			k = eq ? arena_strndup(c->mem, key->u.str, (size_t)(eq - key->u.str)) : key->u.str;
			v = eq ? eq + 1 : NULL;
			if (!*k) {
				spec_error_at(c, key, "'%s' has an empty key", key->u.str);
				ok = false;
				spec_pop(c);
				continue;
			}
			/* A key left out because its variable is unset still counts: "- A" then "- A=1"
			 * is the same mistake whatever the environment holds. */
			for (size_t j = 0; j < count; j++)
				if (!strcmp(kv[j].key, k)) {
					spec_error_at(c, key, "'%s' is set twice (first at %d:%d)", k, kv[j].loc.line, kv[j].loc.col);
					ok = false;
					break;
				}
			spec_pop(c);
		}
		kv[count].key = k;
		kv[count].loc = spec_loc_of(c, key);
		if (v)
			kv[count].value = v;
		else if (no_value == KV_FROM_ENV) {
			kv[count].value = inherited_value(c, k); /* NULL: left out below */
			kv[count].from_env = true;
		} else
			kv[count].value = "";
		count++;
	}
	/* Drop the keys whose variable is unset: Compose leaves them out of the container too. */
	size_t kept = 0;
	for (size_t j = 0; j < count; j++)
		if (kv[j].value)
			kv[kept++] = kv[j];
	*out = kv;
	*nout = kept;
	return ok;
}

bool spec_valid_env_name(const char *s, size_t len)
{
	if (!len || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

/* The key's slot in a mapping's pairs (the value follows it), or NULL. */
static ynode *const *ymap_pair(const ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const ynode *k = map->u.pairs[2 * i];
		if (k->kind == YNODE_SCALAR && !strcmp(k->u.str, key))
			return &map->u.pairs[2 * i];
	}
	return NULL;
}

const ynode *ymap_key(const ynode *map, const char *key)
{
	ynode *const *p = ymap_pair(map, key);
	return p ? p[0] : map;
}

const ynode *ymap_value(const ynode *map, const char *key)
{
	ynode *const *p = ymap_pair(map, key);
	return p ? p[1] : NULL;
}


bool spec_looks_like_ref(const char *s)
{
	return !strncmp(s, "${env:", 6) || !strncmp(s, "${file:", 7);
}

bool dec_secret_ref(spec_ctx *c, const ynode *n, spec_secret_ref *out)
{
	if (!want_scalar(c, n, "a ${env:NAME} or ${file:PATH} reference"))
		return false;
	const char *s = n->u.str;
	size_t len = n->n;
	const char *body = NULL;
	spec_ref_kind kind = 0;
	if (!strncmp(s, "${env:", 6)) {
		kind = SPEC_REF_ENV;
		body = s + 6;
	} else if (!strncmp(s, "${file:", 7)) {
		kind = SPEC_REF_FILE;
		body = s + 7;
	}
	if (!kind || s[len - 1] != '}') {
		/* Never echo the value: it may be the secret itself. */
		spec_error_at(c, n, "secret values must not be written inline; use ${env:NAME} or ${file:PATH}");
		return false;
	}
	size_t blen = (size_t)(s + len - 1 - body);
	if (blen == 0) {
		spec_error_at(c, n, "empty %s reference", kind == SPEC_REF_ENV ? "${env:...}" : "${file:...}");
		return false;
	}
	if (kind == SPEC_REF_ENV) {
		if (!spec_valid_env_name(body, blen)) {
			spec_error_at(c, n, "'%.*s' is not a valid environment variable name", (int)blen, body);
			return false;
		}
		out->name = arena_strndup(c->mem, body, blen);
	} else {
		if (memchr(body, '}', blen)) {
			spec_error_at(c, n, "a reference must be the whole value");
			return false;
		}
		char *path = arena_strndup(c->mem, body, blen);
		out->name = path[0] == '/' || !c->dir || !strcmp(c->dir, ".") ? path : arena_printf(c->mem, "%s/%s", c->dir, path);
	}
	out->kind = kind;
	out->loc = spec_loc_of(c, n);
	return true;
}

/* ---- mappings ---- */

/* Compose keys that `docker stack deploy` ignores: accepted with a warning, so that a working
 * stack file can be pasted in unchanged. */
static const char *const compose_ignored[] = {
	"build", "cgroup_parent", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
	"cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "depends_on", "device_cgroup_rules",
	"devices", "domainname", "env_file", "expose", "external_links", "links", "mac_address", "mem_limit",
	"mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "oom_kill_disable",
	"oom_score_adj", "pid", "platform", "privileged", "profiles", "pull_policy", "restart", "scale",
	"security_opt", "shm_size", "stdin_open", "storage_opt", "tmpfs", "ulimits", "userns_mode", "volumes_from",
	NULL,
};

static bool is_compose_ignored(const char *key)
{
	for (size_t i = 0; compose_ignored[i]; i++)
		if (!strcmp(compose_ignored[i], key))
			return true;
	return false;
}

static spec_setting *find_setting(spec_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_settings; i++)
		if (!strcmp(c->settings[i].path, path))
			return &c->settings[i];
	return NULL;
}

/* A single-valued setting defined in two files of a directory is an error naming both. */
static bool claim_setting(spec_ctx *c, const ynode *key)
{
	const char *path = spec_path(c);
	spec_setting *prev = find_setting(c, path);
	if (prev) {
		spec_error_at(c, key, "already set at %s:%d:%d", prev->loc.file, prev->loc.line, prev->loc.col);
		return false;
	}
	if (c->n_settings == c->cap_settings) {
		c->cap_settings = c->cap_settings ? c->cap_settings * 2 : 16;
		c->settings = xrealloc(c->settings, c->cap_settings * sizeof(*c->settings));
		if (!c->settings)
			abort();
	}
	c->settings[c->n_settings].path = path;
	c->settings[c->n_settings].loc = spec_loc_of(c, key);
	c->n_settings++;
	return true;
}

static bool dec_field(spec_ctx *c, const field *f, const ynode *v, void *obj)
{
	char *at = (char *)obj + f->off;
	int64_t min = f->min, max = f->max;
	if (min == 0 && max == 0) {
		min = INT64_MIN;
		max = INT64_MAX;
	}
	switch (f->kind) {
	case FK_STR:
		return dec_str(c, v, (const char **)at);
	case FK_INT:
		return dec_int(c, v, min, max, (int64_t *)at);
	case FK_BOOL:
		return dec_bool(c, v, (bool *)at);
	case FK_TRISTATE: {
		bool b;
		if (!dec_bool(c, v, &b))
			return false;
		*(int *)at = b;
		return true;
	}
	case FK_NUM:
		return dec_num(c, v, (double)min, (double)max, (double *)at);
	case FK_DURATION:
		return dec_duration(c, v, (int64_t *)at);
	case FK_BYTES:
		return dec_bytes(c, v, (int64_t *)at);
	case FK_ENUM:
		return dec_enum(c, v, f->values, f->flags & F_ANYCASE, (int *)at);
	case FK_ENUMSTR: {
		int idx;
		if (!dec_enum(c, v, f->values, f->flags & F_ANYCASE, &idx))
			return false;
		/* The listed spelling, whatever was written: plans and Azure see one form. */
		*(const char **)at = f->values[idx];
		return true;
	}
	case FK_STRV:
		return dec_strv(c, v, (spec_strv *)at);
	case FK_STR_OR_STRV:
		return dec_str_or_strv(c, v, (spec_strv *)at);
	case FK_COMMAND:
		return dec_command(c, v, (spec_strv *)at);
	case FK_KV:
		return dec_kv(c, v, KV_EMPTY, (spec_kv **)at, (size_t *)((char *)obj + f->noff));
	case FK_CUSTOM:
		return f->fn(c, v, obj);
	}
	return false;
}

static bool decode_mapping(spec_ctx *c, const ynode *n, const field *fields, size_t nfields, void *obj,
			   bool compose)
{
	if (!dec_expect_map(c, n))
		return false;
	uint64_t seen = 0;
	const char *suggested[8];
	size_t nsuggested = 0;
	const ynode *owner = n;
	if (c->depth > 0 && c->depth <= SPEC_PATH_MAX && c->path[c->depth - 1].at)
		owner = c->path[c->depth - 1].at;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		if (k->kind != YNODE_SCALAR || ynode_is_null(k)) {
			spec_error_at(c, k, "keys must be strings, got %s", ynode_kind_name(k));
			continue;
		}
		const char *key = k->u.str;
		size_t j = 0;
		while (j < nfields && strcmp(fields[j].key, key))
			j++;
		if (j == nfields) {
			if (!strncmp(key, "x-", 2))
				continue; /* Compose extension field */
			if (compose && is_compose_ignored(key)) {
				spec_push_key(c, key);
				spec_warn_at(c, k, "ignored: swarm mode does not support it (docker stack deploy ignores it too)");
				spec_pop(c);
				continue;
			}
			const char *names[64];
			size_t nn = 0;
			for (size_t t = 0; t < nfields && nn < 64; t++)
				names[nn++] = fields[t].key;
			const char *hint = spec_diags_full(c->diags) ? NULL : spec_did_you_mean(key, names, nn);
			if (hint && nsuggested < 8)
				suggested[nsuggested++] = hint;
			if (hint)
				spec_error_at(c, k, "unknown key '%s'; did you mean '%s'?", key, hint);
			else
				spec_error_at(c, k, "unknown key '%s'", key);
			continue;
		}
		const field *f = &fields[j];
		seen |= 1ull << j;
		spec_push_key_at(c, key, k);
		/* "key:" with no value is the decoder's to judge: empty for every list, an error for a
		 * scalar (see list_is_empty). */
		if (!(f->flags & F_SETTING) || claim_setting(c, k))
			dec_field(c, f, v, obj);
		spec_pop(c);
	}
	for (size_t j = 0; j < nfields; j++) {
		if (!(fields[j].flags & F_REQUIRED) || (seen & (1ull << j)))
			continue;
		bool hinted = false; /* "unknown key 'imag'; did you mean 'image'?" says it already */
		for (size_t h = 0; h < nsuggested; h++)
			hinted |= !strcmp(suggested[h], fields[j].key);
		if (!hinted)
			spec_error_at(c, owner, "missing required key '%s'", fields[j].key);
	}
	return true;
}

bool dec_object(spec_ctx *c, const ynode *n, const field *fields, size_t nfields, void *obj)
{
	return decode_mapping(c, n, fields, nfields, obj, false);
}

bool dec_compose_object(spec_ctx *c, const ynode *n, const field *fields, size_t nfields, void *obj)
{
	return decode_mapping(c, n, fields, nfields, obj, true);
}

bool dec_named_map(spec_ctx *c, const ynode *n, size_t item_size, void **arr, size_t *count, entry_fn fn)
{
	if (ynode_is_null(n))
		return true;
	if (!dec_expect_map(c, n))
		return false;
	size_t base = *count;
	char *items = xrealloc(*arr, (base + n->n + 1) * item_size);
	if (!items)
		abort();
	*arr = items;
	bool ok = true;
	for (size_t i = 0; i < n->n; i++) {
		const ynode *k = n->u.pairs[2 * i], *v = n->u.pairs[2 * i + 1];
		if (k->kind != YNODE_SCALAR || ynode_is_null(k)) {
			spec_error_at(c, k, "names must be strings, got %s", ynode_kind_name(k));
			ok = false;
			continue;
		}
		if (!strncmp(k->u.str, "x-", 2))
			continue;
		void *item = items + (*count) * item_size;
		memset(item, 0, item_size);
		spec_push_key_at(c, k->u.str, k);
		/* Entries with errors are kept, so that references to them are still checked. */
		ok &= fn(c, k, v, item);
		(*count)++;
		spec_pop(c);
	}
	return ok;
}

bool dec_named_map_arena(spec_ctx *c, const ynode *n, size_t item_size, void **arr, size_t *count, entry_fn fn)
{
	void *heap = NULL;
	size_t k = 0;
	bool ok = dec_named_map(c, n, item_size, &heap, &k, fn);
	*arr = arena_calloc(c->mem, k ? k : 1, item_size);
	if (k)
		memcpy(*arr, heap, k * item_size);
	*count = k;
	free(heap);
	return ok;
}
