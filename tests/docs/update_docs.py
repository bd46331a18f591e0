#!/usr/bin/env python3
"""Rewrites every marked output block (see check_docs.sh for the convention) with what the real
binary prints now. usage: update_docs.py BERTH FILE.md..."""
import os
import re
import subprocess
import sys

MARK = re.compile(r"^<!-- output: berth (.*) -->$")


def run(berth, args):
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.run([berth] + args.split(" "), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=env, timeout=20)
    return p.stdout + p.stderr


def main():
    berth, files = sys.argv[1], sys.argv[2:]
    for path in files:
        lines = open(path, encoding="utf-8").read().split("\n")
        out, i = [], 0
        while i < len(lines):
            out.append(lines[i])
            m = MARK.match(lines[i])
            if m and i + 2 < len(lines) and lines[i + 1].startswith("```"):
                out.append(lines[i + 1])
                out.append("$ berth " + m.group(1))
                j = i + 2
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                out.extend(run(berth, m.group(1)).rstrip("\n").split("\n"))
                i = j
                continue
            i += 1
        open(path, "w", encoding="utf-8").write("\n".join(out))


if __name__ == "__main__":
    main()
