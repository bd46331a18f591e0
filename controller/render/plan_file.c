/* Reading a saved plan (see plan_file.h): recognise it by content, check every field apply
 * relies on, and hand the fields out. The writer is plan_json.c; the format is docs/plan-json.md. */
#include "render/plan_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/plan.h"
#include "render/render.h"
#include "core/util.h"

/* Of an oversized file the sniffer reads only this much: the keys it looks for come first. */
#define SNIFF_PREFIX_BYTES ((size_t)1024 * 1024)
/* A plan with thousands of broken steps would otherwise make an error longer than the plan. */
#define MAX_PROBLEMS 20
/* Values quoted in messages are cut here: enough to recognise a value, not a dump of it. */
#define QUOTE_MAX 60

struct plan_file {
	json_t *root;
	const char *owner, *berth_version, *spec_path, *spec_digest, *fingerprint;
	const json_t *steps, *source;
};

/* ---- recognising a plan ------------------------------------------------------------------- */

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Where the JSON text starts: after an optional UTF-8 BOM (some editors add one; RFC 8259 lets
 * a parser ignore it, and jansson does not). */
static size_t skip_bom(const char *buf, size_t len)
{
	return len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

static size_t skip_ws(const char *buf, size_t len, size_t i)
{
	while (i < len && json_ws(buf[i]))
		i++;
	return i;
}

/* The lexical rule for content that is not JSON: the first key, right after '{', is literally
 * one of the two keys only a plan has. */
static bool first_key_is_marker(const char *buf, size_t len, size_t brace)
{
	static const char *const markers[] = {"\"berth_version\"", "\"format_version\""};
	size_t i = skip_ws(buf, len, brace + 1);
	for (size_t m = 0; m < sizeof(markers) / sizeof(markers[0]); m++) {
		size_t n = strlen(markers[m]);
		if (len - i >= n && !memcmp(buf + i, markers[m], n)) {
			size_t j = skip_ws(buf, len, i + n);
			return j < len && buf[j] == ':';
		}
	}
	return false;
}

int plan_file_sniff_buffer(const char *buf, size_t len)
{
	if (!buf)
		return 0;
	size_t i = skip_ws(buf, len, skip_bom(buf, len));
	if (i >= len || buf[i] != '{')
		return 0;
	json_error_t e;
	/* Duplicate keys are allowed here: whether this is a plan does not depend on them, and the
	 * reader then says that they are not allowed. */
	json_t *j = json_loadb(buf + skip_bom(buf, len), len - skip_bom(buf, len), 0, &e);
	if (!j)
		return first_key_is_marker(buf, len, i);
	int is_plan = json_is_object(j) &&
		      (json_object_get(j, "format_version") || json_object_get(j, "berth_version"));
	json_decref(j);
	return is_plan;
}

/* ---- reading files ------------------------------------------------------------------------ */

/* Reads up to max bytes of fd into *buf (NUL-terminated for safety, not for the parser);
 * *more is set when the file has more than max. */
static int read_bounded(int fd, size_t max, char **buf, size_t *len, bool *more)
{
	size_t cap = 0, n = 0;
	char *b = NULL;
	*more = false;
	for (;;) {
		if (n == cap) {
			if (cap > max)
				break;
			cap = cap ? cap * 2 : 65536;
			if (cap > max + 1)
				cap = max + 1; /* one more byte than allowed says whether there is more */
			b = xrealloc(b, cap + 1);
			if (!b)
				abort();
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno; /* the caller reports it */
			free(b);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			*more = true;
			n = max;
			break;
		}
	}
	if (!b) {
		b = xmalloc(1);
		if (!b)
			abort();
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* Opens path for reading only if it is a regular file. Returns the fd, -1 with *err on an I/O
 * error, or -2 when it is something else (*st says what). */
static int open_regular(const char *path, struct stat *st, char **err)
{
	/* stat first, so that a FIFO is never opened (opening one blocks until a writer comes). */
	if (stat(path, st) != 0) {
		set_err(err, xasprintf("%s: cannot open: %s", path, strerror(errno)));
		return -1;
	}
	if (!S_ISREG(st->st_mode))
		return -2;
	/* O_NONBLOCK: should the path be swapped for a FIFO after the stat, open does not hang; the
	 * fstat below then sees it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		set_err(err, xasprintf("%s: cannot open: %s", path, strerror(errno)));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -2;
	}
	return fd;
}

int plan_file_sniff(const char *path, char **err)
{
	struct stat st;
	int fd = open_regular(path, &st, err);
	if (fd == -2)
		return 0;
	if (fd < 0)
		return -1;
	/* A spec of any size is rejected by its first bytes without reading the rest. */
	char head[4096];
	ssize_t r;
	do
		r = read(fd, head, sizeof(head));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		set_err(err, xasprintf("%s: cannot read: %s", path, strerror(errno)));
		close(fd);
		return -1;
	}
	size_t hl = (size_t)r;
	size_t i = skip_ws(head, hl, skip_bom(head, hl));
	if (i < hl && head[i] != '{') {
		close(fd);
		return 0;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		set_err(err, xasprintf("%s: cannot read: %s", path, strerror(errno)));
		close(fd);
		return -1;
	}
	size_t max = (size_t)st.st_size > PLAN_FILE_MAX_BYTES ? SNIFF_PREFIX_BYTES : PLAN_FILE_MAX_BYTES;
	char *buf;
	size_t len;
	bool more;
	if (read_bounded(fd, max, &buf, &len, &more) != 0) {
		set_err(err, xasprintf("%s: cannot read: %s", path, strerror(errno)));
		close(fd);
		return -1;
	}
	close(fd);
	int is_plan = plan_file_sniff_buffer(buf, len);
	free(buf);
	return is_plan;
}

/* exact: size is the input's size; otherwise the input is known only to be larger than the limit. */
static char *too_big(const char *name, unsigned long long size, bool exact)
{
	char *msg = xasprintf("%s: not a usable berth plan: it is over the %zu MiB limit for a plan", name,
			      PLAN_FILE_MAX_BYTES / (1024 * 1024));
	if (!exact)
		return msg;
	char *with = xasprintf("%s (%llu bytes)", msg, size);
	free(msg);
	return with;
}

int plan_file_read(const char *path, plan_file **out, char **err)
{
	*out = NULL;
	struct stat st;
	int fd = open_regular(path, &st, err);
	if (fd == -2) {
		set_err(err, xasprintf("%s: not a usable berth plan: it is %s, not a regular file", path,
				       S_ISDIR(st.st_mode) ? "a directory" : "a special file"));
		return -1;
	}
	if (fd < 0)
		return -1;
	/* The size is checked before reading; read_bounded enforces it again should the file grow. */
	if ((unsigned long long)st.st_size > PLAN_FILE_MAX_BYTES) {
		close(fd);
		set_err(err, too_big(path, (unsigned long long)st.st_size, true));
		return -1;
	}
	char *buf;
	size_t len;
	bool more;
	if (read_bounded(fd, PLAN_FILE_MAX_BYTES, &buf, &len, &more) != 0) {
		set_err(err, xasprintf("%s: cannot read: %s", path, strerror(errno)));
		close(fd);
		return -1;
	}
	close(fd);
	if (more) {
		free(buf);
		set_err(err, too_big(path, 0, false));
		return -1;
	}
	int rc = plan_file_read_buffer(buf, len, path, out, err);
	free(buf);
	return rc;
}

/* ---- checking the fields ------------------------------------------------------------------ */

typedef struct {
	const char *name;
	problems pr;
	int more; /* problems beyond MAX_PROBLEMS, counted, not described */
} checker;

static void bad(checker *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(checker *ck, const char *fmt, ...)
{
	if (ck->pr.count >= MAX_PROBLEMS) {
		ck->more++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	problem(&ck->pr, "%s: not a usable berth plan: %s", ck->name, msg);
	free(msg);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* A value as it may appear in a message: JSON-encoded in ASCII (no control or non-ASCII bytes
 * reach a terminal), cut to QUOTE_MAX characters. */
static char *quote(const json_t *v)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_COMPACT);
	if (!s)
		abort();
	/* JSON leaves DEL (0x7f) unescaped, but it is a control character too. */
	if (strchr(s, 0x7f)) {
		size_t n = 0;
		for (const char *c = s; *c; c++)
			n += *c == 0x7f ? 6 : 1;
		char *esc = xmalloc(n + 1), *o = esc;
		if (!esc)
			abort();
		for (const char *c = s; *c; c++) {
			if (*c == 0x7f) {
				memcpy(o, "\\u007f", 6);
				o += 6;
			} else {
				*o++ = *c;
			}
		}
		*o = '\0';
		free(s);
		s = esc;
	}
	if (strlen(s) > QUOTE_MAX) {
		char *cut = xasprintf("%.*s...", QUOTE_MAX, s);
		free(s);
		s = cut;
	}
	return s;
}

static char *join(const char *path, const char *key)
{
	return *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

/* The member key of object obj (at path, "" for the top level), or NULL with a problem. */
static const json_t *need(checker *ck, const json_t *obj, const char *path, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (!v) {
		char *at = join(path, key);
		bad(ck, "%s is missing", at);
		free(at);
	}
	return v;
}

static void wrong_type(checker *ck, const char *path, const char *key, const char *want, const json_t *got)
{
	char *at = join(path, key);
	bad(ck, "%s: expected %s, got %s", at, want, type_name(got));
	free(at);
}

/* A member of type t ("an object", "an array"), or NULL with a problem. */
static const json_t *need_typed(checker *ck, const json_t *obj, const char *path, const char *key, json_type t)
{
	const json_t *v = need(ck, obj, path, key);
	if (v && json_typeof(v) != t) {
		wrong_type(ck, path, key, t == JSON_OBJECT ? "an object" : "an array", v);
		return NULL;
	}
	return v;
}

/* A non-empty string member, or NULL with a problem. */
static const char *need_string(checker *ck, const json_t *obj, const char *path, const char *key)
{
	const json_t *v = need(ck, obj, path, key);
	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		wrong_type(ck, path, key, "a string", v);
		return NULL;
	}
	if (!json_string_length(v)) {
		char *at = join(path, key);
		bad(ck, "%s: must not be empty", at);
		free(at);
		return NULL;
	}
	return json_string_value(v);
}

/* A string that is either present or null: reason, old, new. */
static void need_string_or_null(checker *ck, const json_t *obj, const char *path, const char *key)
{
	const json_t *v = need(ck, obj, path, key);
	if (v && !json_is_string(v) && !json_is_null(v))
		wrong_type(ck, path, key, "a string or null", v);
}

static bool is_sha256_digest(const char *s)
{
	if (strncmp(s, "sha256:", 7))
		return false;
	s += 7;
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

static void check_spec(checker *ck, const json_t *root, plan_file *pf)
{
	const json_t *spec = need_typed(ck, root, "", "spec", JSON_OBJECT);
	if (!spec)
		return;
	pf->spec_path = need_string(ck, spec, "spec", "path");
	/* apply loads the spec from here whatever its working directory: a relative path would
	 * silently mean another spec. */
	if (pf->spec_path && pf->spec_path[0] != '/') {
		char *q = quote(json_object_get(spec, "path"));
		bad(ck, "spec.path: expected an absolute path, got %s", q);
		free(q);
		pf->spec_path = NULL;
	}
	pf->spec_digest = need_string(ck, spec, "spec", "digest");
	/* A malformed digest could never match; saying so beats a "stale plan" that is not. */
	if (pf->spec_digest && !is_sha256_digest(pf->spec_digest)) {
		char *q = quote(json_object_get(spec, "digest"));
		bad(ck, "spec.digest: expected \"sha256:\" and 64 lowercase hex digits, got %s", q);
		free(q);
		pf->spec_digest = NULL;
	}
}

/* A step's position in the array, by id, for depends_on. Ids are unique (checked). */
typedef struct {
	json_int_t id;
	size_t index;
	bool dup; /* another step has this id too: already reported, and which one is meant is unknown */
} id_index;

static int by_id(const void *a, const void *b)
{
	const id_index *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* "create, update, replace, delete", from plan.c's names so that the two cannot drift apart. */
static void action_list(char *list, size_t size)
{
	size_t n = 0;
	list[0] = '\0';
	for (int a = PLAN_CREATE; a <= PLAN_DELETE; a++)
		n += (size_t)snprintf(list + n, n < size ? size - n : 0, "%s%s", a == PLAN_CREATE ? "" : ", ",
				      plan_action_name((plan_action)a));
}

static bool known_action(const char *s)
{
	for (int a = PLAN_CREATE; a <= PLAN_DELETE; a++)
		if (!strcmp(s, plan_action_name((plan_action)a)))
			return true;
	return false;
}

static void check_changes(checker *ck, const json_t *step, const char *at)
{
	const json_t *changes = need_typed(ck, step, at, "changes", JSON_ARRAY);
	if (!changes)
		return;
	for (size_t c = 0; c < json_array_size(changes); c++) {
		const json_t *ch = json_array_get(changes, c);
		char *cat = xasprintf("%s.changes[%zu]", at, c);
		if (!json_is_object(ch)) {
			bad(ck, "%s: expected an object, got %s", cat, type_name(ch));
			free(cat);
			continue;
		}
		need_string(ck, ch, cat, "field");
		need_string_or_null(ck, ch, cat, "old");
		need_string_or_null(ck, ch, cat, "new");
		const json_t *sens = need(ck, ch, cat, "sensitive");
		if (sens && !json_is_boolean(sens))
			wrong_type(ck, cat, "sensitive", "a boolean", sens);
		/* The format promises that a secret's value is never in a plan: one that carries it was
		 * not written by berth, and must not be applied (nor shown). */
		if (json_is_true(sens) &&
		    (json_is_string(json_object_get(ch, "old")) || json_is_string(json_object_get(ch, "new"))))
			bad(ck, "%s: a sensitive change must not carry values (old and new are null)", cat);
		free(cat);
	}
}

/* Checks one step but its depends_on (which needs every id); returns its id, or -1. */
static json_int_t check_step(checker *ck, const json_t *step, const char *at)
{
	json_int_t id = -1;
	const json_t *idv = need(ck, step, at, "id");
	if (idv && !json_is_integer(idv)) {
		wrong_type(ck, at, "id", "an integer", idv);
	} else if (idv && json_integer_value(idv) < 0) {
		bad(ck, "%s.id: must not be negative (got %lld)", at, (long long)json_integer_value(idv));
	} else if (idv) {
		id = json_integer_value(idv);
	}
	const json_t *action = need(ck, step, at, "action");
	if (action && !json_is_string(action)) {
		wrong_type(ck, at, "action", "a string", action);
	} else if (action && !known_action(json_string_value(action))) {
		char *q = quote(action), list[64];
		action_list(list, sizeof(list));
		bad(ck, "%s.action: expected one of %s (got %s)", at, list, q);
		free(q);
	}
	need_string(ck, step, at, "kind");
	need_string(ck, step, at, "name");
	need_string_or_null(ck, step, at, "reason");
	check_changes(ck, step, at);
	return id;
}

/* depends_on names steps listed before this one: the documented order ("steps in an order that
 * respects every dependency") is what makes the list acyclic. */
static void check_deps(checker *ck, const json_t *step, const char *at, size_t index, json_int_t self,
		       const id_index *ids, size_t n_ids)
{
	const json_t *deps = need_typed(ck, step, at, "depends_on", JSON_ARRAY);
	if (!deps)
		return;
	for (size_t d = 0; d < json_array_size(deps); d++) {
		const json_t *dv = json_array_get(deps, d);
		if (!json_is_integer(dv)) {
			bad(ck, "%s.depends_on[%zu]: expected an integer, got %s", at, d, type_name(dv));
			continue;
		}
		json_int_t dep = json_integer_value(dv);
		id_index key = {.id = dep};
		const id_index *hit = n_ids ? bsearch(&key, ids, n_ids, sizeof(*ids), by_id) : NULL;
		if (self >= 0 && dep == self)
			bad(ck, "%s.depends_on[%zu]: a step cannot depend on itself", at, d);
		else if (!hit)
			bad(ck, "%s.depends_on[%zu]: no step has id %lld", at, d, (long long)dep);
		else if (!hit->dup && hit->index > index)
			bad(ck, "%s.depends_on[%zu]: step %lld is listed after this step (steps are listed in dependency "
				"order)",
			    at, d, (long long)dep);
	}
}

static void check_steps(checker *ck, const json_t *root, plan_file *pf)
{
	const json_t *steps = need_typed(ck, root, "", "steps", JSON_ARRAY);
	if (!steps)
		return;
	size_t n = json_array_size(steps), n_ids = 0;
	id_index *ids = xcalloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		abort();
	for (size_t i = 0; i < n; i++) {
		const json_t *step = json_array_get(steps, i);
		char *at = xasprintf("steps[%zu]", i);
		if (!json_is_object(step)) {
			bad(ck, "%s: expected an object, got %s", at, type_name(step));
		} else {
			json_int_t id = check_step(ck, step, at);
			if (id >= 0)
				ids[n_ids++] = (id_index){id, i, false};
		}
		free(at);
	}
	/* Sorted by id (ties by position, for a stable "also the id of" message). */
	qsort(ids, n_ids, sizeof(*ids), by_id);
	for (size_t k = 1; k < n_ids; k++)
		if (ids[k].id == ids[k - 1].id) {
			size_t first = ids[k - 1].index < ids[k].index ? ids[k - 1].index : ids[k].index;
			size_t second = ids[k - 1].index < ids[k].index ? ids[k].index : ids[k - 1].index;
			bad(ck, "steps[%zu].id: %lld is also the id of steps[%zu]", second, (long long)ids[k].id, first);
			ids[k].dup = ids[k - 1].dup = true;
		}
	for (size_t i = 0; i < n; i++) {
		const json_t *step = json_array_get(steps, i);
		if (!json_is_object(step))
			continue;
		const json_t *idv = json_object_get(step, "id");
		json_int_t self = json_is_integer(idv) ? json_integer_value(idv) : -1;
		char *at = xasprintf("steps[%zu]", i);
		check_deps(ck, step, at, i, self, ids, n_ids);
		free(at);
	}
	free(ids);
	pf->steps = steps;
}

int plan_file_read_buffer(const char *buf, size_t len, const char *name, plan_file **out, char **err)
{
	*out = NULL;
	if (!name)
		name = "plan";
	if (len > PLAN_FILE_MAX_BYTES) {
		set_err(err, too_big(name, (unsigned long long)len, true));
		return -1;
	}
	size_t bom = buf ? skip_bom(buf, len) : 0;
	json_error_t e;
	/* Duplicate keys are refused: a reviewer reading the file could see one spec.digest and
	 * berth use the other. */
	json_t *root = json_loadb(buf ? buf + bom : "", buf ? len - bom : 0, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		/* jansson quotes the input near the error: keep only printable ASCII of it. */
		for (char *c = e.text; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		set_err(err, xasprintf("%s: not a usable berth plan: invalid JSON at line %d, column %d: %s", name, e.line,
				       e.column, e.text));
		return -1;
	}
	checker ck = {.name = name};
	problems_init(&ck.pr);
	plan_file *pf = xcalloc(1, sizeof(*pf));
	if (!pf)
		abort();
	pf->root = root;
	if (!json_is_object(root)) {
		bad(&ck, "expected a JSON object at the top level, got %s", type_name(root));
		goto done;
	}
	const json_t *fv = need(&ck, root, "", "format_version");
	const json_t *bv = json_object_get(root, "berth_version");
	if (fv && !json_is_integer(fv)) {
		wrong_type(&ck, "", "format_version", "an integer", fv);
	} else if (fv && json_integer_value(fv) != PLAN_JSON_FORMAT_VERSION) {
		/* Nothing else can be checked: another version may mean other fields. */
		char *by = json_is_string(bv) ? quote(bv) : NULL;
		bad(&ck, "format_version: unsupported version %lld (this berth reads version %d)%s%s",
		    (long long)json_integer_value(fv), PLAN_JSON_FORMAT_VERSION, by ? "; the plan was made by berth " : "",
		    by ? by : "");
		free(by);
		goto done;
	}
	pf->berth_version = need_string(&ck, root, "", "berth_version");
	pf->owner = need_string(&ck, root, "", "owner");
	check_spec(&ck, root, pf);
	const json_t *observed = need_typed(&ck, root, "", "observed", JSON_OBJECT);
	if (observed)
		pf->fingerprint = need_string(&ck, observed, "observed", "fingerprint");
	check_steps(&ck, root, pf);
	pf->source = json_object_get(root, "source");
done:
	if (ck.more)
		problem(&ck.pr, "%s: not a usable berth plan: ... and %d more problems", name, ck.more);
	char *msg = problems_finish(&ck.pr);
	if (msg) {
		plan_file_free(pf);
		set_err(err, msg);
		return -1;
	}
	*out = pf;
	return 0;
}

void plan_file_free(plan_file *pf)
{
	if (!pf)
		return;
	json_decref(pf->root);
	free(pf);
}

const char *plan_file_owner(const plan_file *pf) { return pf->owner; }
const char *plan_file_berth_version(const plan_file *pf) { return pf->berth_version; }
const char *plan_file_spec_path(const plan_file *pf) { return pf->spec_path; }
const char *plan_file_spec_digest(const plan_file *pf) { return pf->spec_digest; }
const char *plan_file_fingerprint(const plan_file *pf) { return pf->fingerprint; }
const json_t *plan_file_steps(const plan_file *pf) { return pf->steps; }
size_t plan_file_step_count(const plan_file *pf) { return json_array_size(pf->steps); }
const json_t *plan_file_source(const plan_file *pf) { return pf->source; }
