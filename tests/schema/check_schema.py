#!/usr/bin/python3
"""The JSON Schema check: spec/schema.json against berth's examples and spec corpus.

(a) the schema is a valid draft-07 schema; (b) every examples/*/*.yaml and (c) every document
under tests/spec/valid/ validates; (d) every case under tests/spec/invalid/ is rejected (at
least one of its files), unless the case says `# schema: accepts (REASON)`: the error is beyond
JSON Schema (references, names across files, port conflicts, secret references, ...). Such a
case must then be accepted, so that the marker stays honest.

Documents are read the way berth reads them: libyaml's parser (PyYAML's C binding), YAML 1.2
core scalars (true/false, decimal integers, floats, null; no yes/no, no timestamps, no
sexagesimal), keys as their text, merge keys expanded, and anything berth refuses before it
looks at the content (a second document, duplicate keys, null or non-scalar keys, undefined or
recursive aliases, alias bombs, very deep nesting) counted as a load error: a rejection.

Prints one line per failure and ends with `schema: N passed, N failed`; exit status 1 on any
failure. Runs under Debian's /usr/bin/python3 (python3-jsonschema, python3-yaml).
"""
import json
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARKER = re.compile(r"^#\s*schema:\s*accepts\s*\((.+)\)\s*$", re.M)

MAX_DEPTH = 256
WEIGHT_FLOOR = 1000000

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """Tags every plain scalar "!plain" so that resolution happens below, as berth does it."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver("!plain", re.compile(r"", re.S), None)

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
STR_TAG = "tag:yaml.org,2002:str"


class LoadError(Exception):
    pass


def _plain(node):
    """A scalar that berth reads as plain: plain style and no !!str tag."""
    return node.style in (None, "") and node.tag != STR_TAG


def _scalar(node):
    v = node.value
    if not _plain(node):
        return v
    if v in _NULL:
        return None
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    if _INT.match(v):
        return int(v)
    if _FLOAT.match(v):
        return float(v)
    return v


class _Converter:
    def __init__(self):
        self.memo = {}
        self.active = set()
        self.weights = {}
        self.total = 0

    def weight(self, node):
        """Nodes in the expanded tree, like berth's alias-bomb guard."""
        key = id(node)
        if key in self.weights:
            return self.weights[key]
        w = 1
        if isinstance(node, yaml.SequenceNode):
            w += sum(self.weight(n) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            w += sum(self.weight(k) + self.weight(v) for k, v in node.value)
        self.weights[key] = w
        return w

    def count(self, node, seen):
        if id(node) in seen:
            return
        seen.add(id(node))
        self.total += 1
        if isinstance(node, yaml.SequenceNode):
            for n in node.value:
                self.count(n, seen)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self.count(k, seen)
                self.count(v, seen)

    def convert(self, node, depth=0):
        if depth > MAX_DEPTH:
            raise LoadError("nesting is too deep")
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            raise LoadError("recursive alias")
        if isinstance(node, yaml.ScalarNode):
            out = _scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            self.active.add(key)
            out = [self.convert(n, depth + 1) for n in node.value]
            self.active.discard(key)
        else:
            self.active.add(key)
            out = self.mapping(node, depth)
            self.active.discard(key)
        self.memo[key] = out
        return out

    def mapping(self, node, depth):
        own, merges = [], []
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise LoadError("line %d: a key is not a scalar" % (k.start_mark.line + 1))
            if _plain(k) and k.value in _NULL:
                raise LoadError("line %d: a key is null" % (k.start_mark.line + 1))
            if _plain(k) and k.value == "<<":
                merges.append(v)
            else:
                own.append((k, v))
        out = {}
        for k, v in own:
            if k.value in out:
                raise LoadError("line %d: duplicate key '%s'" % (k.start_mark.line + 1, k.value))
            out[k.value] = self.convert(v, depth + 1)
        for v in merges:
            sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    raise LoadError("merge key '<<' takes a mapping or a sequence of mappings")
                for mk, mv in self.convert(src, depth + 1).items():
                    out.setdefault(mk, mv)
        return out


def load(path):
    """The document in path, as berth sees it; LoadError if berth would refuse it unread."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        node = yaml.compose(data, Loader=_Loader)
    except yaml.YAMLError as e:
        raise LoadError(str(e).splitlines()[0]) from None
    if node is None:
        return None
    conv = _Converter()
    try:
        conv.count(node, set())
        if conv.weight(node) > max(WEIGHT_FLOOR, 16 * conv.total):
            raise LoadError("aliases expand this document to too many nodes")
        return conv.convert(node)
    except RecursionError:
        raise LoadError("nesting is too deep") from None


def _patterns(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str):
                yield v
            elif k == "patternProperties" and isinstance(v, dict):
                yield from v.keys()
                for sub in v.values():
                    yield from _patterns(sub)
            else:
                yield from _patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from _patterns(v)


def yaml_files(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if not n.startswith(".") and (n.endswith(".yaml") or n.endswith(".yml"))
                  and os.path.isfile(os.path.join(d, n)))


def rel(p):
    return os.path.relpath(p, ROOT)


def main():
    passed = failed = 0

    def ok():
        nonlocal passed
        passed += 1

    def fail(msg):
        nonlocal failed
        failed += 1
        print(msg)

    schema_path = os.path.join(ROOT, "spec", "schema.json")
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
        # Patterns must compile, and stay within what ECMA-262 (editors) and Python share.
        jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA,
                                   format_checker=jsonschema.draft7_format_checker).validate(schema)
        for pat in _patterns(schema):
            for bad in ("(?P", "(?<", "\\A", "\\Z", "(?i", "(?s", "(?m", "(?x"):
                if bad in pat:
                    raise ValueError("pattern uses %s, which editors do not support: %s" % (bad, pat))
        ok()
    except (OSError, ValueError, jsonschema.SchemaError, jsonschema.ValidationError) as e:
        fail("%s: not a valid draft-07 schema: %s" % (rel(schema_path), str(e).splitlines()[0]))
        print("schema: %d passed, %d failed" % (passed, failed))
        return 1
    validator = jsonschema.Draft7Validator(schema)

    def errors(doc):
        """The most relevant error first (or none)."""
        errs = list(validator.iter_errors(doc))
        if errs:
            errs.insert(0, jsonschema.exceptions.best_match(errs))
        return errs

    def where(e):
        return "/".join(str(p) for p in e.absolute_path) or "(top)"

    def check_valid(path):
        try:
            doc = load(path)
        except LoadError as e:
            return fail("%s: cannot be loaded: %s" % (rel(path), e))
        errs = errors(doc)
        if errs:
            return fail("%s: rejected by the schema at %s: %s" % (rel(path), where(errs[0]), errs[0].message[:300]))
        ok()

    # (b) examples, (c) valid corpus
    ex_dir = os.path.join(ROOT, "examples")
    for d in sorted(os.listdir(ex_dir)) if os.path.isdir(ex_dir) else []:
        if os.path.isdir(os.path.join(ex_dir, d)):
            for p in yaml_files(os.path.join(ex_dir, d)):
                check_valid(p)
    valid_dir = os.path.join(ROOT, "tests", "spec", "valid")
    for n in sorted(os.listdir(valid_dir)) if os.path.isdir(valid_dir) else []:
        p = os.path.join(valid_dir, n)
        if n.startswith("."):
            continue
        if os.path.isdir(p):
            for q in yaml_files(p):
                check_valid(q)
        elif n.endswith(".yaml") or n.endswith(".yml"):
            check_valid(p)

    # (d) invalid corpus
    inv_dir = os.path.join(ROOT, "tests", "spec", "invalid")
    for n in sorted(os.listdir(inv_dir)) if os.path.isdir(inv_dir) else []:
        p = os.path.join(inv_dir, n)
        if n.startswith("."):
            continue
        if os.path.isdir(p):
            files = yaml_files(p)
        elif n.endswith(".yaml"):
            files = [p]
        else:
            continue
        marked = None
        rejected = []  # (file, why)
        if not files:
            rejected.append((p, "no YAML file to check"))
        for q in files:
            with open(q, "rb") as f:
                m = MARKER.search(f.read().decode("utf-8", "replace"))
            if m and marked is None:
                marked = m.group(1)
            try:
                doc = load(q)
            except LoadError as e:
                rejected.append((q, "cannot be loaded: %s" % e))
                continue
            errs = errors(doc)
            if errs:
                rejected.append((q, "at %s: %s" % (where(errs[0]), errs[0].message[:200])))
        if marked is not None:
            if rejected:
                fail("%s: marked '# schema: accepts (%s)' but the schema rejects %s %s"
                     % (rel(p), marked, rel(rejected[0][0]), rejected[0][1]))
            else:
                ok()
        elif rejected:
            ok()
        else:
            fail("%s: invalid for berth but accepted by the schema" % rel(p))

    print("schema: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50 * MAX_DEPTH))
    sys.exit(main())
