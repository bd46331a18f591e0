/* A YAML document as a compact tree with source positions, built from libyaml's events.
 * Aliases share nodes; merge keys ("<<") are expanded into their mappings. */
#ifndef BERTH_YTREE_H
#define BERTH_YTREE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "diag.h"

typedef enum { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ } ynode_kind;

typedef struct ynode ynode;
struct ynode {
	uint8_t kind;
	uint8_t quoted;    /* scalar was quoted or a block literal: never a number, bool or null */
	int line, col;     /* 1-based */
	uint32_t weight;   /* nodes reachable through aliases (saturating), to stop alias bombs */
	size_t n;          /* scalar length, or number of items / pairs */
	union {
		const char *str;     /* scalar text, NUL-terminated */
		ynode **items;       /* sequence items */
		ynode **pairs;       /* mapping: key0, value0, key1, value1, ... */
	} u;
};

/* Parses one YAML document. Strings are allocated in strings (they outlive the tree); nodes
 * in nodes. Returns the root (NULL for an empty file) and reports errors to diags under file. */
ynode *ytree_parse(const char *buf, size_t len, const char *file, arena *nodes, arena *strings,
		   spec_diags *diags, bool *ok);

static inline bool ynode_is_null(const ynode *n)
{
	if (!n)
		return true;
	if (n->kind != YNODE_SCALAR || n->quoted)
		return false;
	const char *s = n->u.str;
	return n->n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

const char *ynode_kind_name(const ynode *n);

#endif
