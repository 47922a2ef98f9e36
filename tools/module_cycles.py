#!/usr/bin/env python3
"""Lists import circles between the modules (files) of each crate under crates/.

A module is one source file. An edge A -> B is a path in A's code (`use`, or a path
written out) that names B or an item inside it: `crate::b::...`, `super::b::...`,
`self::b::...`. Edges between a module and its own ancestors are left out (a parent
declares its children; a child reaching its parent's items is nesting, not a circle), as
is each file's `#[cfg(test)] mod tests` block. Prints every strongly connected component
of two or more modules and exits 1 when there is one.

    python3 tools/module_cycles.py [crates-dir]
"""

import pathlib
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*\b)+)(?!::\{)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)
TESTS = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod tests\s*\{", re.S)


def module_path(src: pathlib.Path, file: pathlib.Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    m = TESTS.search(text)
    return text[: m.start()] if m else text


def resolve(base: tuple, head: str, rest: list, modules: set, here: tuple):
    if head == "crate":
        path = ()
    elif head == "self":
        path = here
    else:
        path = here[:-1]
    for seg in rest:
        if seg == "super":
            path = path[:-1]
        else:
            path = path + (seg,)
    # The longest prefix that is a module file.
    while path and path not in modules:
        path = path[:-1]
    return path


def edges_of(text: str, here: tuple, modules: set):
    found = set()
    for m in GROUP.finditer(text):
        prefix = [s for s in m.group(2).split("::") if s]
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            first = re.split(r"::|\{", item)[0].strip()
            if first and first != "self":
                found.add(resolve(here, m.group(1), prefix + [first], modules, here))
            else:
                found.add(resolve(here, m.group(1), prefix, modules, here))
    for m in PATH.finditer(text):
        segs = [s for s in m.group(2).split("::") if s]
        found.add(resolve(here, m.group(1), segs, modules, here))
    return {t for t in found if t != here and t[: len(here)] != here and here[: len(t)] != t}


def cycles(src: pathlib.Path):
    files = {module_path(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    graph = {m: edges_of(strip(f.read_text()), m, modules) for m, f in files.items()}
    # Tarjan's strongly connected components.
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
    for v in graph:
        if v not in index:
            visit(v)
    return out, graph


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "crates")
    bad = 0
    for src in sorted(root.glob("*/src")):
        found, graph = cycles(src)
        for comp in found:
            bad += 1
            names = ["::".join(c) or "<root>" for c in comp]
            print(f"{src.parent.name}: circle among {', '.join(names)}")
            for c in comp:
                into = sorted("::".join(t) for t in graph[c] if t in comp)
                print(f"    {'::'.join(c)} -> {', '.join(into)}")
    if bad:
        sys.exit(1)
    print("no import circles")


if __name__ == "__main__":
    main()
