#!/usr/bin/env python3
"""The layering rule of controller/ (README "Layout"), checked two ways:

  - the includes: every #include "..." of spec/ and controller/, resolved as the compiler does
    (the including file's directory, then -I. and -Icontroller);
  - the symbol graph: which object file defines each symbol another one uses (nm), when a build
    directory is given.

A module is a file without its extension (core/plan.c and core/plan.h are one module). It fails on

  - an upward edge: a module that uses one of a higher layer (cli > render > engine > providers >
    transport > core > spec);
  - a provider that uses another provider (providers/<name>[.c|/]), except providers/common;
  - a cycle between modules, through includes or symbols.

Prints one line per violation and ends with "layers: N passed, N failed".
usage: check_layers.py ROOT [BUILD_DIR]
"""
import os
import re
import subprocess
import sys

RANKS = [
    ("spec/", 0),
    ("controller/core/", 1),
    ("controller/transport/", 2),
    ("controller/providers/", 3),
    ("controller/rollout/", 3),
    ("controller/autoscale/", 3),
    ("controller/engine/", 4),
    ("controller/source/", 4),
    ("controller/render/", 5),
    ("controller/server/", 6),
    ("controller/run/", 7),
    ("controller/cli/", 9),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def rank(mod):
    for prefix, r in RANKS:
        if mod.startswith(prefix):
            return r
    return None


def provider(mod):
    """The provider a module belongs to (providers/swarm/x -> swarm, providers/vmss -> vmss)."""
    if not mod.startswith("controller/providers/"):
        return None
    rest = mod[len("controller/providers/"):]
    name = rest.split("/")[0]
    return None if name == "common" else name


def sources(root):
    for top in ("spec", "controller"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def resolve(root, src, inc):
    for base in (os.path.dirname(src), ".", "controller"):
        cand = os.path.normpath(os.path.join(base, inc))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def module(path):
    return os.path.splitext(path)[0]


def check_edge(a, b, how, problems):
    if a == b:
        return
    ra, rb = rank(a), rank(b)
    if ra is None:
        problems.append(f"{a}: not in any layer (move it under one of {', '.join(p for p, _ in RANKS)})")
        return
    if rb is not None and rb > ra:
        problems.append(f"upward edge: {a} -> {b} ({how}): layer {ra} uses layer {rb}")
    pa, pb = provider(a), provider(b)
    if pa and pb and pa != pb:
        problems.append(f"provider edge: {a} -> {b} ({how}): providers never use each other; "
                        "declare a reference on the step instead")


def cycles(graph):
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def symbol_edges(root, build):
    defs, uses = {}, {}
    objs = []
    for d, _, files in os.walk(build):
        for f in files:
            if f.endswith(".o"):
                obj = os.path.join(d, f)
                src = os.path.relpath(obj, build)[:-2]
                # an object whose source is gone is a leftover of an old build, not the code
                if src.startswith(("spec/", "controller/")) and os.path.isfile(os.path.join(root, src + ".c")):
                    objs.append((obj, src))
    for obj, src in objs:
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                uses.setdefault(src, set()).add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRV":
                defs[parts[2]] = src
    for src, syms in uses.items():
        for s in syms:
            if s in defs:
                yield src, defs[s], s


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    build = sys.argv[2] if len(sys.argv) > 2 else None
    problems, checked = [], 0
    graph = {}
    for src in sources(root):
        text = open(os.path.join(root, src), encoding="utf-8", errors="replace").read()
        a = module(src)
        graph.setdefault(a, set())
        for inc in INCLUDE.findall(text):
            target = resolve(root, src, inc)
            if target is None:
                continue
            b = module(target)
            checked += 1
            check_edge(a, b, f"#include \"{inc}\" in {src}", problems)
            if a != b:
                graph[a].add(b)
    if build and os.path.isdir(build):
        seen = set()
        for a, b, sym in symbol_edges(root, build):
            a, b = module(a), module(b)
            if (a, b) in seen or a == b:
                continue
            seen.add((a, b))
            checked += 1
            check_edge(a, b, f"uses {sym}", problems)
            graph.setdefault(a, set()).add(b)
    for comp in cycles(graph):
        problems.append("cycle among: " + ", ".join(comp))
    for p in sorted(set(problems)):
        print("layers: " + p)
    print(f"layers: {checked - len(set(problems)) if checked >= len(set(problems)) else 0} passed, "
          f"{len(set(problems))} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
