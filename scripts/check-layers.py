#!/usr/bin/env python3
"""The include rule of docs/ARCHITECTURE.md, checked on every C file of the tree.

Each top folder is a layer; a file may include its own layer and the layers below it, never one
above, and no module depends on itself through others (a module is a .c and its .h: foo.c
including bar.h and bar.c including foo.h is a cycle). Some layers also may not see some system libraries
(scim/ is pure; upstream/ knows no h2o or database; store/ no HTTP; store/store.h no database type).
Exit 1 with one line per violation.
"""
import os
import re
import subprocess
import sys

# layer -> the project layers it may include (its own included)
ALLOWED = {
    "common": {"common"},
    "scim": {"scim", "common"},
    "store": {"store", "common"},
    "upstream": {"upstream", "common"},
    "gateway": {"gateway", "scim", "store", "upstream", "common"},
    "cli": {"cli", "gateway", "scim", "store", "upstream", "common"},
}
# tests/<layer> sees what its layer sees, and the mock Odeus; tests/e2e drives the binary over HTTP.
TEST_ALLOWED = {k: v | {"mock"} for k, v in ALLOWED.items()}
TEST_ALLOWED.update(mock={"mock"}, e2e={"e2e", "mock", "common"}, fuzz={"scim", "upstream", "common"})
# system headers a layer must not include (regex on the <...> name)
FORBIDDEN_SYSTEM = {
    "common": r"^(h2o|curl/|sqlite3|libpq|postgresql/)",
    "scim": r"^(h2o|curl/|sqlite3|libpq|postgresql/|pthread)",
    "store": r"^(h2o|curl/)",
    "upstream": r"^(h2o|sqlite3|libpq|postgresql/)",
}
# the store interface must not name a database type, so that a second backend needs no caller change
INTERFACE_FORBIDDEN = {"store/store.h": r"\b(sqlite3\w*|PG\w+|pg_\w+)\b|#include <(sqlite3|libpq)"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def layer_of(path):
    parts = path.split("/")
    if parts[0] == "tests":
        return ("tests", parts[1]) if len(parts) > 2 else ("tests", None)
    return ("src", parts[0]) if len(parts) > 1 else ("src", None)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    files = subprocess.run(["git", "ls-files", "*.c", "*.h"], capture_output=True, text=True, check=True).stdout.split()
    problems = []
    graph = {}
    for f in files:
        kind, layer = layer_of(f)
        text = open(f, encoding="utf-8").read()
        rules = (ALLOWED if kind == "src" else TEST_ALLOWED).get(layer)
        for m in INCLUDE.finditer(text):
            quote, name = m.group(1), m.group(2)
            line = text.count("\n", 0, m.start()) + 1
            if quote == "<":
                bad = FORBIDDEN_SYSTEM.get(layer) if kind == "src" else None
                if bad and re.search(bad, name):
                    problems.append(f"{f}:{line}: {layer}/ may not include <{name}>")
                continue
            target = name if "/" in name else os.path.join(os.path.dirname(f), name)
            target = os.path.normpath(target)
            if not os.path.exists(target):
                alt = os.path.normpath(os.path.join("tests", name))
                if os.path.exists(alt):
                    target = alt
            if os.path.splitext(target)[0] != os.path.splitext(f)[0]:
                graph.setdefault(os.path.splitext(f)[0], []).append(os.path.splitext(target)[0])
            tkind, tlayer = layer_of(target)
            if rules is None:
                continue
            if kind == "src" and tkind == "tests":
                problems.append(f"{f}:{line}: includes test code \"{name}\"")
            elif tlayer not in rules and not (kind == "tests" and tkind == "tests" and tlayer == layer):
                problems.append(f"{f}:{line}: {layer}/ may not include \"{name}\" ({tlayer}/ is not below it)")
        for path, bad in INTERFACE_FORBIDDEN.items():
            if f == path:
                for i, l in enumerate(text.splitlines(), 1):
                    if re.search(bad, l):
                        problems.append(f"{f}:{i}: the store interface names a database type: {l.strip()}")
    # cycles: depth-first search over the modules' quoted includes
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt]
                problems.append("include cycle: " + " -> ".join(cyc))
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for f in sorted(graph):
        if state.get(f) is None:
            visit(f, [])
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} violation(s); the rule is in docs/ARCHITECTURE.md", file=sys.stderr)
        return 1
    print(f"check-layers: {len(files)} files, includes point down, no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
