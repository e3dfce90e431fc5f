#!/usr/bin/env python3
"""The C core's floors, checked: which file's functions call (or take the
address of) which other file's functions, with internal.h's inline helpers
expanded into their callers. Fails if two files reach one another, or if a
file calls a file of a higher floor than its own (the floors are listed in
internal.h and in FLOORS below).

    python3 Tests/C/floors.py [CSources/ttlkv]

A rough parse (comments, strings and preprocessor lines dropped; a function
is `name(...) {` at file scope), enough for the core's style.
"""
import os
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"[A-Za-z_]\w*")

# internal.h's floors, lowest first.
FLOORS = {
    "alloc.c": 1, "clock.c": 1, "recycle.c": 1, "slab.c": 1,
    "epoch.c": 2,
    "table.c": 3,
    "schedule.c": 4,
    "rebuild.c": 5, "maintain.c": 5,
    "budget.c": 6,
    "evict.c": 7,
    "store.c": 8,
    "write.c": 9, "update.c": 9, "put_all.c": 9, "batch.c": 9, "read.c": 9,
    "scan.c": 9, "sweep.c": 9, "random.c": 9, "snapshot.c": 9,
    "transaction.c": 10,
}


def strip(src):
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    src = re.sub(r"//[^\n]*", " ", src)
    src = re.sub(r'"(\\.|[^"\\])*"', '""', src)
    src = re.sub(r"'(\\.|[^'\\])*'", "''", src)
    src = re.sub(r"^\s*#[^\n]*(\\\n[^\n]*)*", " ", src, flags=re.M)
    return src


def functions(path):
    """(name, body) of every function defined at top level."""
    src = strip(open(path).read())
    out = []
    depth = 0
    i = 0
    n = len(src)
    last_ident = None
    paren_start = None
    while i < n:
        c = src[i]
        if c == "{":
            if depth == 0:
                # a definition if the text before is `name(...)` (then
                # optional whitespace)
                head = src[:i].rstrip()
                m = re.search(r"([A-Za-z_]\w*)\s*\(([^()]|\([^()]*\))*\)\s*$", head)
                start = i
                d = 0
                j = i
                while j < n:
                    if src[j] == "{":
                        d += 1
                    elif src[j] == "}":
                        d -= 1
                        if d == 0:
                            break
                    j += 1
                if m and m.group(1) not in ("if", "while", "for", "switch"):
                    out.append((m.group(1), src[start:j + 1]))
                i = j + 1
                continue
        i += 1
    return out


def main(root):
    files = sorted(f for f in os.listdir(root) if f.endswith(".c")) + ["internal.h"]
    defs = {}        # name -> file
    bodies = {}      # name -> body
    for f in files:
        for name, body in functions(os.path.join(root, f)):
            key = name if f != "internal.h" else name
            if name in defs and defs[name] != f:
                # static helpers of the same name in two files: qualify
                key = f + ":" + name
            defs.setdefault(name, f)
            bodies.setdefault((f, name), body)
    owner = {}
    for (f, name) in bodies:
        owner.setdefault(name, set()).add(f)

    def callees(f, body):
        out = set()
        for m in IDENT.finditer(body):
            name = m.group(0)
            before = body[:m.start()].rstrip()
            if before.endswith("->") or before.endswith("."):
                continue   # a member, not a function
            if name not in owner:
                continue
            # a static helper of this file wins over another file's
            out.add((f, name) if f in owner[name] else (sorted(owner[name])[0], name))
        return out

    graph = {k: callees(k[0], b) - {k} for k, b in bodies.items()}
    inline = {k for k in graph if k[0] == "internal.h"}

    def expand(k, seen):
        res = set()
        for c in graph[k]:
            if c in inline and c not in seen:
                seen.add(c)
                res |= expand(c, seen)
            res.add(c)
        return res

    file_edges = defaultdict(set)    # file -> file (inlines expanded)
    why = defaultdict(set)
    for k in graph:
        if k[0] == "internal.h":
            continue
        for c in expand(k, set()):
            if c[0] not in (k[0], "internal.h"):
                file_edges[k[0]].add(c[0])
                why[(k[0], c[0])].add(f"{k[1]}->{c[1]}")
    print("== internal.h inline helpers calling out of the header")
    for k in sorted(inline):
        outs = sorted(f"{c[1]} ({c[0]})" for c in graph[k] if c[0] != "internal.h")
        if outs:
            print(f"  {k[1]}: " + ", ".join(outs))
    print("== file -> files it calls (inline helpers expanded)")
    for f in sorted(file_edges):
        print(f"  {f} -> " + ", ".join(sorted(file_edges[f])))
    # strongly connected components
    index = {}
    low = {}
    stack = []
    on = set()
    sccs = []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in file_edges.get(v, ()):
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
            sccs.append(comp)

    nodes = set(file_edges) | {g for s in file_edges.values() for g in s}
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    cycles = [sorted(c) for c in sccs if len(c) > 1]
    print("== cycles (files that reach one another)")
    if not cycles:
        print("  none")
    for c in cycles:
        print("  " + " <-> ".join(c))
        for a in c:
            for b in c:
                if b in file_edges.get(a, ()):
                    print(f"     {a} -> {b}: " + ", ".join(sorted(why[(a, b)])))
    print("== calls to a higher floor")
    upward = []
    for a in sorted(file_edges):
        for b in sorted(file_edges[a]):
            if a not in FLOORS or b not in FLOORS:
                upward.append(f"{a} -> {b}: a file FLOORS does not list")
            elif FLOORS[b] > FLOORS[a]:
                upward.append(f"{a} (floor {FLOORS[a]}) -> {b} (floor {FLOORS[b]}): "
                              + ", ".join(sorted(why[(a, b)])))
    for line in upward:
        print("  " + line)
    if not upward:
        print("  none")
    if not cycles:
        # floors: longest path from the bottom
        floor = {}

        def level(v):
            if v not in floor:
                floor[v] = 1 + max((level(w) for w in file_edges.get(v, ())), default=-1)
            return floor[v]
        for v in nodes:
            level(v)
        print("== longest call chain below each file (0 = calls no other file)")
        for lv in sorted(set(floor.values())):
            print(f"  {lv}: " + " ".join(sorted(v for v in floor if floor[v] == lv)))
    return 1 if cycles or upward else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "CSources/ttlkv"))
