#!/usr/bin/env python3
"""Merges several runs of `bench_http` (Markdown reports) into one table of ranges.

Usage: python3 tools/bench_ranges.py run1.md run2.md run3.md

Rows are matched by their first cell; in every other cell each number is replaced by the
range min–max of that number across the runs (one value when they agree).
"""
import re
import sys

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def rows(path):
    out = {}
    order = []
    for line in open(path, encoding="utf-8"):
        if not line.startswith("| ") or line.startswith("| measurement") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        out[cells[0]] = cells[1:]
        order.append(cells[0])
    return order, out


def merge(cells):
    template = cells[0]
    numbers = [NUMBER.findall(c) for c in cells]
    if any(len(n) != len(numbers[0]) for n in numbers):
        return " / ".join(cells)
    parts = NUMBER.split(template)
    merged = [parts[0]]
    for i, _ in enumerate(numbers[0]):
        values = [float(n[i].replace(",", "")) for n in numbers]
        texts = [n[i] for n in numbers]
        lo, hi = texts[values.index(min(values))], texts[values.index(max(values))]
        merged.append(lo if lo == hi else f"{lo}–{hi}")
        merged.append(parts[i + 1])
    return "".join(merged)


def main():
    runs = [rows(p) for p in sys.argv[1:]]
    order = runs[0][0]
    print("| measurement | HTTP | floor (same SQL, direct) | HTTP / floor |")
    print("|---|---|---|---|")
    for key in order:
        if not all(key in r[1] for r in runs):
            continue
        columns = zip(*[r[1][key] for r in runs])
        print("| " + key + " | " + " | ".join(merge(list(c)) for c in columns) + " |")


if __name__ == "__main__":
    main()
