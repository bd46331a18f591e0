/* Loading a spec: one file or a directory of files, merged into one validated model. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spec_internal.h"
#include "xalloc.h"

struct spec {
	arena *mem;
	struct spec_model m;
	spec_setting *settings;
};

/* Inputs larger than this are refused before parsing: a desired state is not a data set. */
#define SPEC_MAX_FILE_BYTES (256u * 1024 * 1024)

static spec *spec_new(void)
{
	spec *s = xcalloc(1, sizeof(*s));
	if (!s)
		abort();
	s->mem = arena_new();
	s->m.swarm.managers = s->m.swarm.workers = -1;
	return s;
}

void spec_free(spec *s)
{
	if (!s)
		return;
	free(s->m.swarm.networks);
	free(s->m.swarm.secrets);
	free(s->m.swarm.configs);
	free(s->m.swarm.volumes);
	free(s->m.swarm.services);
	free(s->m.azure.scale_sets);
	free(s->m.azure.file_shares);
	free(s->m.azure.container_groups);
	free(s->m.azure.traffic_managers);
	free(s->settings);
	arena_free(s->mem);
	free(s);
}

const struct spec_model *spec_model(const spec *s)
{
	return &s->m;
}

static bool f_version(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	int64_t version;
	if (!dec_int(c, v, INT64_MIN, INT64_MAX, &version))
		return false;
	if (version != SPEC_FORMAT_VERSION) {
		spec_error_at(c, v, "unsupported format version %lld (this berth reads version %d)", (long long)version,
			      SPEC_FORMAT_VERSION);
		return false;
	}
	c->m->version = (int)version;
	return true;
}

static bool f_name(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	if (!dec_str(c, v, &c->m->name))
		return false;
	c->m->name_loc = spec_loc_of(c, v);
	return spec_check_name(c, v, NAME_OWNER, "name", c->m->name);
}

static bool f_swarm(spec_ctx *c, const ynode *v, void *o)
{
	(void)o;
	return spec_decode_swarm(c, v, &c->m->swarm);
}

typedef struct {
	spec_loc azure_loc;
	bool incomplete; /* a file could not be read or parsed: whole-spec checks would mislead */
} load_state;

static bool f_azure(spec_ctx *c, const ynode *v, void *o)
{
	load_state *st = o;
	if (!st->azure_loc.file) /* the "azure:" key, where a missing subscription is reported */
		st->azure_loc = spec_loc_of(c, c->depth > 0 && c->path[c->depth - 1].at ? c->path[c->depth - 1].at : v);
	return spec_decode_azure(c, v, &c->m->azure);
}

static const field top_fields[] = {
	F_FN("version", f_version, F_REQUIRED),
	F_FN("name", f_name, F_SETTING),
	F_FN("swarm", f_swarm, 0),
	F_FN("azure", f_azure, 0),
};

static const char *dir_of(arena *mem, const char *file)
{
	const char *slash = strrchr(file, '/');
	if (!slash)
		return ".";
	if (slash == file)
		return "/";
	return arena_strndup(mem, file, (size_t)(slash - file));
}

static void decode_document(spec_ctx *c, load_state *st, const char *buf, size_t len, const char *file)
{
	c->file = arena_strdup(c->mem, file);
	c->dir = dir_of(c->mem, c->file);
	arena *nodes = arena_new();
	bool ok;
	ynode *root = ytree_parse(buf, len, c->file, nodes, c->mem, c->diags, &ok);
	if (!ok || !root)
		st->incomplete = true;
	if (ok && !root) {
		spec_diags_add(c->diags, SPEC_DIAG_ERROR, c->file, 1, 1, "empty document: expected 'version: %d' and 'name'",
			       SPEC_FORMAT_VERSION);
	} else if (ok) {
		if (root->kind != YNODE_MAP) {
			spec_error_at(c, root, "expected a mapping with version, name, swarm and azure, got %s",
				      ynode_kind_name(root));
			st->incomplete = true;
		} else
			dec_object(c, root, top_fields, NFIELDS(top_fields), st);
	}
	arena_free(nodes);
}

static void check_whole(spec_ctx *c, load_state *st, const char *first_file)
{
	struct spec_model *m = c->m;
	if (st->incomplete)
		return;
	if (!m->name)
		spec_diags_add(c->diags, SPEC_DIAG_ERROR, first_file, 1, 1,
			       "missing required key 'name' (the owner id that berth labels everything with)");
	spec_azure *az = &m->azure;
	bool has_resources = az->n_scale_sets || az->n_file_shares || az->n_container_groups || az->n_traffic_managers;
	if (has_resources) {
		const char *missing[3];
		size_t n = 0;
		if (!az->subscription)
			missing[n++] = "subscription";
		if (!az->resource_group)
			missing[n++] = "resource_group";
		if (!az->location)
			missing[n++] = "location";
		for (size_t i = 0; i < n; i++) {
			spec_push_key(c, "azure");
			spec_error_loc(c, st->azure_loc, "missing required key '%s' (needed to manage azure resources)", missing[i]);
			spec_pop(c);
		}
	}
	spec_validate_model(c);
}

static spec *finish(spec *s, spec_ctx *c)
{
	s->settings = c->settings;
	spec_diags_sort(c->diags);
	if (spec_diags_errors(c->diags)) {
		spec_free(s);
		return NULL;
	}
	return s;
}

spec *spec_load_buffer(const char *buf, size_t len, const char *file, const spec_options *opts, spec_diags *diags)
{
	spec *s = spec_new();
	spec_ctx c = {.mem = s->mem, .diags = diags, .opts = opts, .m = &s->m, .hints_left = 100};
	load_state st = {0};
	decode_document(&c, &st, buf, len, file);
	check_whole(&c, &st, file);
	return finish(s, &c);
}

static char *read_file(const char *path, size_t *len, spec_diags *diags)
{
	char *buf = spec_read_file(path, SPEC_MAX_FILE_BYTES, len);
	if (!buf && errno == EFBIG)
		spec_diags_add(diags, SPEC_DIAG_ERROR, path, 0, 0, "file is too large (limit %u MiB)", SPEC_MAX_FILE_BYTES >> 20);
	else if (!buf)
		spec_diags_add(diags, SPEC_DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
	return buf;
}

static bool is_yaml_name(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int yaml_entry(const struct dirent *d)
{
	return is_yaml_name(d->d_name);
}

spec *spec_load(const char *path, const spec_options *opts, spec_diags *diags)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		spec_diags_add(diags, SPEC_DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	spec *s = spec_new();
	spec_ctx c = {.mem = s->mem, .diags = diags, .opts = opts, .m = &s->m, .hints_left = 100};
	load_state ls = {0};
	const char *first = path;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **list = NULL;
		int n = scandir(path, &list, yaml_entry, alphasort);
		if (n < 0) {
			spec_diags_add(diags, SPEC_DIAG_ERROR, path, 0, 0, "cannot list: %s", strerror(errno));
			spec_free(s);
			return NULL;
		}
		if (n == 0) {
			/* An empty spec never means "delete everything". */
			spec_diags_add(diags, SPEC_DIAG_ERROR, path, 0, 0, "no *.yaml files in this directory");
		}
		size_t plen = strlen(path);
		bool slash = plen && path[plen - 1] == '/';
		for (int i = 0; i < n; i++) {
			char *file = arena_printf(s->mem, "%s%s%s", path, slash ? "" : "/", list[i]->d_name);
			if (i == 0)
				first = file;
			size_t len;
			char *buf = read_file(file, &len, diags);
			if (buf)
				decode_document(&c, &ls, buf, len, file);
			else
				ls.incomplete = true;
			free(buf);
			free(list[i]);
		}
		free(list);
		if (n == 0) {
			spec_diags_sort(diags);
			spec_free(s);
			return NULL;
		}
	} else {
		size_t len;
		char *buf = read_file(path, &len, diags);
		if (!buf) {
			spec_free(s);
			return NULL;
		}
		decode_document(&c, &ls, buf, len, path);
		free(buf);
	}
	check_whole(&c, &ls, first);
	return finish(s, &c);
}

int spec_list_files(const char *path, char ***files, size_t *n)
{
	struct stat st;
	*files = NULL;
	*n = 0;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		*files = xmalloc(sizeof(char *));
		(*files)[0] = xstrdup(path);
		*n = 1;
		return 0;
	}
	struct dirent **list = NULL;
	int count = scandir(path, &list, yaml_entry, alphasort);
	if (count < 0)
		return -1;
	*files = xcalloc((size_t)count + 1, sizeof(char *));
	size_t plen = strlen(path);
	for (int i = 0; i < count; i++) {
		(*files)[i] = xasprintf("%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	*n = (size_t)count;
	return 0;
}
