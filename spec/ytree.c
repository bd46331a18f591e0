#include "ytree.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Expanded size above which a document is rejected: aliases can make a small file
 * describe an enormous tree ("billion laughs"); decoding walks the expanded tree. */
#define YTREE_MAX_WEIGHT_FLOOR 1000000u
#define YTREE_MAX_DEPTH 256

typedef struct {
	const char *name;
	ynode *node;
} anchor;

typedef struct {
	ynode *node;
	size_t first_child; /* index into the child stack */
	char *anchor;       /* owned by libyaml event copy; freed at end */
} frame;

typedef struct {
	arena *nodes, *strings;
	spec_diags *diags;
	const char *file;
	bool ok;

	frame *frames;
	size_t nframes, capframes;
	ynode **kids;
	size_t nkids, capkids;
	anchor *anchors;
	size_t nanchors, capanchors;
	size_t total_nodes;
	size_t merged_pairs; /* pairs copied by merge keys, bounded like aliases */
	ynode *root;
} builder;

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	size_t nc = *cap ? *cap * 2 : 32;
	while (nc < need)
		nc *= 2;
	void *q = xrealloc(p, nc * elem);
	if (!q)
		abort();
	*cap = nc;
	return q;
}

static void berr(builder *b, int line, int col, const char *msg)
{
	spec_diags_add(b->diags, SPEC_DIAG_ERROR, b->file, line, col, "%s", msg);
	b->ok = false;
}

static uint32_t add_weight(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static void define_anchor(builder *b, const yaml_char_t *name, ynode *n)
{
	if (!name)
		return;
	b->anchors = grow(b->anchors, &b->capanchors, b->nanchors + 1, sizeof(anchor));
	b->anchors[b->nanchors].name = arena_strdup(b->strings, (const char *)name);
	b->anchors[b->nanchors].node = n;
	b->nanchors++;
}

static ynode *find_anchor(builder *b, const char *name)
{
	for (size_t i = b->nanchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, name))
			return b->anchors[i].node;
	return NULL;
}

static void attach(builder *b, ynode *n)
{
	if (b->nframes == 0) {
		b->root = n;
		return;
	}
	b->kids = grow(b->kids, &b->capkids, b->nkids + 1, sizeof(ynode *));
	b->kids[b->nkids++] = n;
}

static ynode *new_node(builder *b, ynode_kind kind, yaml_mark_t m)
{
	ynode *n = arena_alloc(b->nodes, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = (int)m.line + 1;
	n->col = (int)m.column + 1;
	n->weight = 1;
	b->total_nodes++;
	return n;
}

static bool is_merge_key(const ynode *k)
{
	return k->kind == YNODE_SCALAR && !k->quoted && k->n == 2 && k->u.str[0] == '<' && k->u.str[1] == '<';
}

typedef struct {
	ynode *key, *value;
	size_t order;
} merge_pair;

static int merge_cmp(const void *pa, const void *pb)
{
	const merge_pair *a = pa, *b = pb;
	bool sa = a->key->kind == YNODE_SCALAR, sb = b->key->kind == YNODE_SCALAR;
	if (sa && sb) {
		int c = strcmp(a->key->u.str, b->key->u.str);
		if (c)
			return c;
	} else if (sa != sb) {
		return sa ? -1 : 1;
	}
	return a->order < b->order ? -1 : a->order > b->order;
}

static int order_cmp(const void *pa, const void *pb)
{
	const merge_pair *a = pa, *b = pb;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Rewrites a mapping that uses "<<" so that merged keys appear as its own: own keys first, then
 * merged ones in order, the first occurrence of a key winning. Sorting keeps it O(n log n). */
static void expand_merges(builder *b, ynode *map)
{
	size_t nmerge = 0, extra = 0;
	for (size_t i = 0; i < map->n; i++) {
		ynode *k = map->u.pairs[2 * i], *v = map->u.pairs[2 * i + 1];
		if (!is_merge_key(k))
			continue;
		nmerge++;
		if (v->kind == YNODE_MAP) {
			extra += v->n;
		} else if (v->kind == YNODE_SEQ) {
			for (size_t j = 0; j < v->n; j++) {
				if (v->u.items[j]->kind != YNODE_MAP) {
					berr(b, v->u.items[j]->line, v->u.items[j]->col,
					     "merge key '<<' takes a mapping or a sequence of mappings");
					return;
				}
				extra += v->u.items[j]->n;
			}
		} else {
			berr(b, v->line, v->col, "merge key '<<' takes a mapping or a sequence of mappings");
			return;
		}
	}
	if (!nmerge)
		return;
	b->merged_pairs += extra;
	if (b->merged_pairs > YTREE_MAX_WEIGHT_FLOOR) {
		berr(b, map->line, map->col, "merge keys expand this document to too many nodes");
		return;
	}
	size_t total = map->n - nmerge + extra;
	merge_pair *all = xmalloc((total ? total : 1) * sizeof(*all));
	if (!all)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < map->n; i++) {
		if (is_merge_key(map->u.pairs[2 * i]))
			continue;
		all[n] = (merge_pair){map->u.pairs[2 * i], map->u.pairs[2 * i + 1], n};
		n++;
	}
	size_t own = n;
	for (size_t i = 0; i < map->n; i++) {
		if (!is_merge_key(map->u.pairs[2 * i]))
			continue;
		ynode *v = map->u.pairs[2 * i + 1];
		size_t nsrc = v->kind == YNODE_MAP ? 1 : v->n;
		for (size_t s = 0; s < nsrc; s++) {
			ynode *src = v->kind == YNODE_MAP ? v : v->u.items[s];
			for (size_t j = 0; j < src->n; j++, n++)
				all[n] = (merge_pair){src->u.pairs[2 * j], src->u.pairs[2 * j + 1], n};
		}
	}
	qsort(all, n, sizeof(*all), merge_cmp);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		/* Own duplicates stay (the duplicate-key check reports them); merged ones yield. */
		bool dup = i > 0 && all[i].key->kind == YNODE_SCALAR && all[kept - 1].key->kind == YNODE_SCALAR &&
			   !strcmp(all[i].key->u.str, all[kept - 1].key->u.str) && all[i].order >= own;
		if (!dup)
			all[kept++] = all[i];
	}
	qsort(all, kept, sizeof(*all), order_cmp);
	ynode **out = arena_calloc(b->nodes, 2 * (kept ? kept : 1), sizeof(ynode *));
	for (size_t i = 0; i < kept; i++) {
		out[2 * i] = all[i].key;
		out[2 * i + 1] = all[i].value;
	}
	free(all);
	map->u.pairs = out;
	map->n = kept;
}

static int key_cmp(const void *pa, const void *pb)
{
	const ynode *a = *(ynode *const *)pa, *b = *(ynode *const *)pb;
	int c = strcmp(a->u.str, b->u.str);
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->col < b->col ? -1 : a->col > b->col;
}

static void report_dup(builder *b, const ynode *first, const ynode *dup)
{
	spec_diags_add(b->diags, SPEC_DIAG_ERROR, b->file, dup->line, dup->col,
		       "duplicate key '%s' (first defined at %d:%d)", dup->u.str, first->line, first->col);
	b->ok = false;
}

static void check_duplicate_keys(builder *b, ynode *map)
{
	if (map->n < 2)
		return;
	if (map->n <= 16) {
		for (size_t i = 1; i < map->n; i++) {
			ynode *k = map->u.pairs[2 * i];
			if (k->kind != YNODE_SCALAR)
				continue;
			for (size_t j = 0; j < i; j++) {
				ynode *o = map->u.pairs[2 * j];
				if (o->kind == YNODE_SCALAR && o->n == k->n && !memcmp(o->u.str, k->u.str, k->n)) {
					report_dup(b, o, k);
					break;
				}
			}
		}
		return;
	}
	ynode **keys = xmalloc(map->n * sizeof(*keys));
	if (!keys)
		abort();
	size_t nk = 0;
	for (size_t i = 0; i < map->n; i++)
		if (map->u.pairs[2 * i]->kind == YNODE_SCALAR)
			keys[nk++] = map->u.pairs[2 * i];
	qsort(keys, nk, sizeof(*keys), key_cmp);
	for (size_t i = 1, first = 0; i < nk; i++) {
		if (!strcmp(keys[i]->u.str, keys[first]->u.str))
			report_dup(b, keys[first], keys[i]);
		else
			first = i;
	}
	free(keys);
}

static void finish_container(builder *b)
{
	frame *f = &b->frames[--b->nframes];
	ynode *n = f->node;
	size_t count = b->nkids - f->first_child;
	ynode **items = arena_calloc(b->nodes, count ? count : 1, sizeof(ynode *));
	if (count)
		memcpy(items, b->kids + f->first_child, count * sizeof(ynode *));
	b->nkids = f->first_child;
	if (n->kind == YNODE_MAP) {
		n->u.pairs = items;
		n->n = count / 2;
		expand_merges(b, n);
		check_duplicate_keys(b, n);
		for (size_t i = 0; i < 2 * n->n; i++)
			n->weight = add_weight(n->weight, n->u.pairs[i]->weight);
	} else {
		n->u.items = items;
		n->n = count;
		for (size_t i = 0; i < count; i++)
			n->weight = add_weight(n->weight, items[i]->weight);
	}
	if (f->anchor) {
		define_anchor(b, (yaml_char_t *)f->anchor, n);
		free(f->anchor);
	}
	attach(b, n);
}

static void syntax_error(builder *b, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a line. */
		spec_diags_add(b->diags, SPEC_DIAG_ERROR, b->file, 1, 1, "invalid input: %s at byte %zu",
			       problem, p->problem_offset);
	} else if (p->context) {
		spec_diags_add(b->diags, SPEC_DIAG_ERROR, b->file, line, col, "syntax error: %s %s at %d:%d",
			       problem, p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	} else {
		spec_diags_add(b->diags, SPEC_DIAG_ERROR, b->file, line, col, "syntax error: %s", problem);
	}
	b->ok = false;
}

static char *dup_anchor(const yaml_char_t *a)
{
	if (!a)
		return NULL;
	char *s = xstrdup((const char *)a);
	if (!s)
		abort();
	return s;
}

ynode *ytree_parse(const char *buf, size_t len, const char *file, arena *nodes, arena *strings,
		   spec_diags *diags, bool *ok)
{
	builder b = {.nodes = nodes, .strings = strings, .diags = diags, .file = file, .ok = true};
	yaml_parser_t p;
	yaml_event_t ev;
	int documents = 0;
	bool done = false;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(&b, &p);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++documents == 2)
				berr(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "only one YAML document per file is supported");
			break;
		case YAML_SCALAR_EVENT: {
			ynode *n = new_node(&b, YNODE_SCALAR, ev.start_mark);
			n->u.str = arena_strndup(strings, (const char *)ev.data.scalar.value, ev.data.scalar.length);
			n->n = ev.data.scalar.length;
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
				    (ev.data.scalar.tag && !strcmp((const char *)ev.data.scalar.tag, YAML_STR_TAG));
			define_anchor(&b, ev.data.scalar.anchor, n);
			attach(&b, n);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			if (b.nframes >= YTREE_MAX_DEPTH) {
				berr(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "nesting is too deep");
				done = true;
				break;
			}
			bool map = ev.type == YAML_MAPPING_START_EVENT;
			ynode *n = new_node(&b, map ? YNODE_MAP : YNODE_SEQ, ev.start_mark);
			b.frames = grow(b.frames, &b.capframes, b.nframes + 1, sizeof(frame));
			b.frames[b.nframes].node = n;
			b.frames[b.nframes].first_child = b.nkids;
			b.frames[b.nframes].anchor =
				dup_anchor(map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor);
			b.nframes++;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			finish_container(&b);
			break;
		case YAML_ALIAS_EVENT: {
			ynode *target = find_anchor(&b, (const char *)ev.data.alias.anchor);
			if (!target) {
				spec_diags_add(diags, SPEC_DIAG_ERROR, file, (int)ev.start_mark.line + 1,
					       (int)ev.start_mark.column + 1, "undefined alias '*%s'",
					       (const char *)ev.data.alias.anchor);
				b.ok = false;
				target = new_node(&b, YNODE_SCALAR, ev.start_mark);
				target->u.str = "";
			}
			attach(&b, target);
			break;
		}
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	for (size_t i = 0; i < b.nframes; i++)
		free(b.frames[i].anchor);
	if (b.ok && b.root) {
		uint32_t limit = YTREE_MAX_WEIGHT_FLOOR;
		if (b.total_nodes * 16 > limit)
			limit = b.total_nodes * 16 > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)(b.total_nodes * 16);
		if (b.root->weight > limit)
			berr(&b, b.root->line, b.root->col,
			     "aliases expand this document to too many nodes (alias bomb?)");
	}
	yaml_parser_delete(&p);
	free(b.frames);
	free(b.kids);
	free(b.anchors);
	*ok = b.ok;
	return b.ok ? b.root : NULL;
}

const char *ynode_kind_name(const ynode *n)
{
	if (!n || ynode_is_null(n))
		return "null";
	switch (n->kind) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a sequence";
	default:
		return "a scalar";
	}
}
