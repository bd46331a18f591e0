/* Shared by the spec parser's files; not part of the public API. */
#ifndef BERTH_SPEC_INTERNAL_H
#define BERTH_SPEC_INTERNAL_H
#include <stdarg.h>

#include "arena.h"
#include "spec.h"
#include "ytree.h"

#define SPEC_PATH_MAX 32

typedef struct {
	const char *key; /* NULL: a sequence index */
	size_t index;
	const ynode *at; /* the key node, where "missing key" errors point */
} path_seg;

typedef struct spec_setting {
	const char *path;
	spec_loc loc;
} spec_setting;

typedef struct spec_ctx {
	arena *mem; /* the model's arena */
	spec_diags *diags;
	const spec_options *opts;
	struct spec_model *m;
	const char *file; /* current file, as given (in mem) */
	const char *dir;  /* its directory, for relative paths */
	path_seg path[SPEC_PATH_MAX];
	int depth;
	size_t hints_left;      /* "did you mean" searches over big name lists still allowed */
	spec_setting *settings; /* single-valued settings seen so far, across files */
	size_t n_settings, cap_settings;
} spec_ctx;

/* ---- diagnostics ---- */
void spec_error_at(spec_ctx *c, const ynode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void spec_warn_at(spec_ctx *c, const ynode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void spec_error_loc(spec_ctx *c, spec_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void spec_warn_loc(spec_ctx *c, spec_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
spec_loc spec_loc_of(spec_ctx *c, const ynode *n);
/* "swarm.services.web.ports[0]": the current path, in mem. */
const char *spec_path(spec_ctx *c);
void spec_push_key(spec_ctx *c, const char *key);
void spec_push_index(spec_ctx *c, size_t i);
void spec_push_key_at(spec_ctx *c, const char *key, const ynode *at);
void spec_pop(spec_ctx *c);

/* The closest candidate to word within a small edit distance, or NULL. */
const char *spec_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* ---- decoding scalars: each reports its own error and returns false on failure ---- */
bool dec_str(spec_ctx *c, const ynode *n, const char **out);
bool dec_int(spec_ctx *c, const ynode *n, int64_t min, int64_t max, int64_t *out);
bool dec_bool(spec_ctx *c, const ynode *n, bool *out);
bool dec_num(spec_ctx *c, const ynode *n, double min, double max, double *out);
bool dec_duration(spec_ctx *c, const ynode *n, int64_t *out_ns);
bool dec_bytes(spec_ctx *c, const ynode *n, int64_t *out);
/* One of values (a NULL-terminated list); with any_case, in any letter case (values that Azure
 * compares without regard to case), and *out is still the index of the listed spelling. */
bool dec_enum(spec_ctx *c, const ynode *n, const char *const *values, bool any_case, int *out);
/* True, with *out empty, when n is no value ("key:") or null: every list reads that as empty. */
bool list_is_empty(const ynode *n, spec_strv *out);
bool dec_strv(spec_ctx *c, const ynode *n, spec_strv *out);
/* One string, or a list of strings (Compose allows both for dns and dns_search). */
bool dec_str_or_strv(spec_ctx *c, const ynode *n, spec_strv *out);
/* A command: a list of strings, or one string split like a POSIX shell would. */
bool dec_command(spec_ctx *c, const ynode *n, spec_strv *out);
/* What a key written without a value ("KEY:" in a mapping, "KEY" in a list) means. */
typedef enum {
	KV_EMPTY,    /* the empty string (labels, options) */
	KV_FROM_ENV, /* environment: the deploying environment's value; left out when it is unset */
} kv_no_value;
/* A map of scalars, or a list of "key=value"; "key:" with no value at all means no entries. */
bool dec_kv(spec_ctx *c, const ynode *n, kv_no_value no_value, spec_kv **out, size_t *nout);
/* "${env:NAME}" or "${file:PATH}". */
bool dec_secret_ref(spec_ctx *c, const ynode *n, spec_secret_ref *out);
bool spec_looks_like_ref(const char *s);
bool spec_valid_env_name(const char *s, size_t len);
/* The key node named key in a mapping (for error positions), or the mapping itself. */
const ynode *ymap_key(const ynode *map, const char *key);
/* The value under key in a mapping; NULL when map is not one or has no such key. */
const ynode *ymap_value(const ynode *map, const char *key);

/* ---- decoding mappings through field tables ---- */
typedef bool (*field_fn)(spec_ctx *c, const ynode *value, void *obj);

enum field_kind {
	FK_STR = 1, FK_INT, FK_BOOL, FK_TRISTATE, FK_NUM, FK_DURATION, FK_BYTES, FK_ENUM, FK_ENUMSTR, FK_STRV, FK_STR_OR_STRV,
	FK_COMMAND, FK_KV, FK_CUSTOM,
};

#define F_REQUIRED 1u
#define F_SETTING 2u /* may be set in only one file of a directory */
#define F_ANYCASE 4u /* FK_ENUM, FK_ENUMSTR: an Azure value, matched in any case, kept as listed */

typedef struct field {
	const char *key;
	enum field_kind kind;
	size_t off;   /* offset of the value in obj */
	size_t noff;  /* FK_KV: offset of the count */
	int64_t min, max;          /* FK_INT, FK_NUM range */
	const char *const *values; /* FK_ENUM (writes the index as int), FK_ENUMSTR (writes the string) */
	field_fn fn;               /* FK_CUSTOM */
	unsigned flags;
} field;

/* Decodes a mapping into obj. what names the object in messages ("service 'web'"). Returns
 * false if n is not a mapping. Unknown keys, missing required keys and bad values are reported. */
bool dec_object(spec_ctx *c, const ynode *n, const field *fields, size_t nfields, void *obj);
/* The same for a Compose service: keys that swarm mode ignores are warnings, not errors. */
bool dec_compose_object(spec_ctx *c, const ynode *n, const field *fields, size_t nfields, void *obj);
/* Requires a mapping (reporting otherwise); returns whether n is one. */
bool dec_expect_map(spec_ctx *c, const ynode *n);
bool dec_expect_seq(spec_ctx *c, const ynode *n);

/* Name rules; each reports its own error. */
typedef enum {
	NAME_OWNER, NAME_DNS_LABEL, NAME_AZURE_GROUP, NAME_AZURE_CONTAINER, NAME_SHARE, NAME_STORAGE_ACCOUNT,
	NAME_SCALE_SET, NAME_TM_PROFILE, NAME_TM_ENDPOINT, NAME_SWARM_SERVICE, NAME_SWARM_OBJECT,
	NAME_SWARM_SECRET, NAME_RESOURCE_GROUP, NAME_LOCATION, NAME_CG_VOLUME,
} name_rule;
bool spec_check_name(spec_ctx *c, const ynode *at, name_rule rule, const char *what, const char *name);

/* A resource map (name -> object): calls fn for each entry with the name pushed on the path. */
typedef bool (*entry_fn)(spec_ctx *c, const ynode *key, const ynode *value, void *item);
bool dec_named_map(spec_ctx *c, const ynode *n, size_t item_size, void **arr, size_t *count, entry_fn fn);

/* The same, for maps nested in an object: the array ends up in the model's arena. */
bool dec_named_map_arena(spec_ctx *c, const ynode *n, size_t item_size, void **arr, size_t *count, entry_fn fn);

/* A field function decoding a resource map into SECTION_T's MEMBER array. */
#define NAMED_MAP_FIELD(fn_name, SECTION_T, member, count, decoder, ITEM_T)                         \
	static bool fn_name(spec_ctx *c, const ynode *v, void *o)                                   \
	{                                                                                           \
		SECTION_T *sec = o;                                                                 \
		return dec_named_map(c, v, sizeof(ITEM_T), (void **)&sec->member, &sec->count, decoder); \
	}

/* Sections. */
bool spec_decode_swarm(spec_ctx *c, const ynode *n, spec_swarm *sw);
bool spec_decode_service(spec_ctx *c, const ynode *key, const ynode *n, void *svc);
bool spec_decode_azure(spec_ctx *c, const ynode *n, spec_azure *az);
/* Checks that need the whole (merged) model: references, conflicts, secret references. */
void spec_validate_model(spec_ctx *c);

#endif

/* Field table shorthands. */
#include <stddef.h>
#define F_STR(k, T, m, fl) {.key = k, .kind = FK_STR, .off = offsetof(T, m), .flags = fl}
#define F_INT(k, T, m, lo, hi) {.key = k, .kind = FK_INT, .off = offsetof(T, m), .min = lo, .max = hi}
#define F_BOOL(k, T, m) {.key = k, .kind = FK_BOOL, .off = offsetof(T, m)}
#define F_TRI(k, T, m) {.key = k, .kind = FK_TRISTATE, .off = offsetof(T, m)}
#define F_DUR(k, T, m) {.key = k, .kind = FK_DURATION, .off = offsetof(T, m)}
#define F_BYTES(k, T, m) {.key = k, .kind = FK_BYTES, .off = offsetof(T, m)}
#define F_ENUMSTR(k, T, m, vals) {.key = k, .kind = FK_ENUMSTR, .off = offsetof(T, m), .values = vals}
#define F_ENUM(k, T, m, vals) {.key = k, .kind = FK_ENUM, .off = offsetof(T, m), .values = vals}
/* Enumerations of Azure's API, which compares them without case: "http" is "HTTP". */
#define F_AZ_ENUMSTR(k, T, m, vals) {.key = k, .kind = FK_ENUMSTR, .off = offsetof(T, m), .values = vals, .flags = F_ANYCASE}
#define F_AZ_ENUM(k, T, m, vals) {.key = k, .kind = FK_ENUM, .off = offsetof(T, m), .values = vals, .flags = F_ANYCASE}
#define F_STRV(k, T, m) {.key = k, .kind = FK_STRV, .off = offsetof(T, m)}
#define F_STRS(k, T, m) {.key = k, .kind = FK_STR_OR_STRV, .off = offsetof(T, m)}
#define F_CMD(k, T, m) {.key = k, .kind = FK_COMMAND, .off = offsetof(T, m)}
#define F_KV(k, T, m, nm) {.key = k, .kind = FK_KV, .off = offsetof(T, m), .noff = offsetof(T, nm)}
#define F_FN(k, f, fl) {.key = k, .kind = FK_CUSTOM, .fn = f, .flags = fl}
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
