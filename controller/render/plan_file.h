/* Reading a saved plan: the JSON that 'berth plan --out FILE' writes (docs/plan-json.md), as
 * 'berth apply FILE' needs it.
 *
 * A saved plan is recognised by its content, never by its name (like 'terraform apply tfplan'),
 * and everything apply relies on is checked before apply uses it: a hand-edited or truncated
 * plan is an error that says which field is wrong, never a crash and never a spec error.
 *
 * Pure: nothing is printed and nothing but the named file is touched. Errors are handed back as
 * a malloc'd string the caller frees, one problem per line, each line
 * "NAME: not a usable berth plan: WHAT" (or "NAME: cannot open: ..." for I/O errors). Values
 * quoted from the plan are JSON-escaped ASCII, so a hostile plan cannot put control characters
 * on a terminal. */
#ifndef BERTH_PLAN_FILE_H
#define BERTH_PLAN_FILE_H
#include <stddef.h>

#include <jansson.h>

/* Larger input is refused before it is parsed: a plan takes about a KiB per step, and the limit keeps
 * a wrong argument (a disk image, a log) from being read into memory. */
#define PLAN_FILE_MAX_BYTES ((size_t)64 * 1024 * 1024)

typedef struct plan_file plan_file;

/* Is this content a saved plan rather than a spec? The rule, which no valid spec can meet (a spec
 * has neither key, and a spec in YAML flow style, '{version: 1, name: x}', is not JSON):
 *
 *   the first byte after JSON whitespace (and an optional UTF-8 BOM) is '{', and
 *   - the content is JSON whose top-level object has a member "format_version" or
 *     "berth_version" (either is enough: a plan that lost one of them is reported as a plan with
 *     a missing field, not as a spec with unknown keys); or
 *   - the content is not JSON (a truncated or hand-broken plan), but its first key is literally
 *     "berth_version" or "format_version" followed by ':' -- what berth writes (keys sorted) and
 *     what a truncation keeps, so plan_file_read_buffer() can say what is wrong with it.
 * Returns 1 (a plan) or 0 (not a plan: a spec, or anything else). */
int plan_file_sniff_buffer(const char *buf, size_t len);

/* The same for a path. Only a regular file (after symlinks) can be a plan: a directory, a FIFO
 * or a device is 0, and is not opened for reading (reading a FIFO would consume it).
 * Returns 1, 0, or -1 when the path cannot be examined (missing, unreadable), with *err set
 * (err may be NULL); a caller may then hand the path to the spec loader, which reports the
 * problem its own way. Reads at most PLAN_FILE_MAX_BYTES (of an oversized file, a 1 MiB
 * prefix, enough to see the keys). */
int plan_file_sniff(const char *path, char **err);

/* Parses and validates a saved plan: format_version (supported), berth_version, owner,
 * spec.path (absolute), spec.digest ("sha256:" and 64 lowercase hex digits), observed.fingerprint, and
 * steps: each an object with a unique non-negative integer id, action (create, update, replace,
 * delete), non-empty kind and name, reason (string or null), depends_on (ids of steps listed
 * before it) and changes (field, old, new, sensitive; a sensitive change carries no values).
 * Unknown members are ignored: within a format version fields are only ever added.
 * name is used in messages (NULL: "plan"). On success returns 0 and *out (free with
 * plan_file_free); otherwise returns -1, *out is NULL and *err lists every problem found (up to
 * a bound). */
int plan_file_read_buffer(const char *buf, size_t len, const char *name, plan_file **out, char **err);

/* The same for a regular file; messages name it by path as given. */
int plan_file_read(const char *path, plan_file **out, char **err);

void plan_file_free(plan_file *pf);

/* Accessors. Everything returned is borrowed: it belongs to pf and lives until plan_file_free(). */
const char *plan_file_owner(const plan_file *pf);
const char *plan_file_berth_version(const plan_file *pf);
const char *plan_file_spec_path(const plan_file *pf);
const char *plan_file_spec_digest(const plan_file *pf);
const char *plan_file_fingerprint(const plan_file *pf);
/* The "steps" array as saved, to compare (json_equal) with the steps of the plan made now. */
const json_t *plan_file_steps(const plan_file *pf);
size_t plan_file_step_count(const plan_file *pf);
/* The "source" member (where the spec came from) when the plan has one, else NULL. Its shape is
 * the source module's business: it is handed over unchecked. */
const json_t *plan_file_source(const plan_file *pf);

#endif
