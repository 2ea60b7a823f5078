#!/usr/bin/env python3
"""Traceability checker (spec/core.md [CORE-TRACE]).

Collects the IDs the spec defines (every [UPPER-CASE-ID] in spec/*.md), the IDs tests cover
(`covers: ID ...` comments in tests/, fuzz/, tools/, python/tests/, python/examples/ and
examples/) and the IDs Coq theorems prove
(`(* proves: ID *)` in proofs/). Fails (exit 1) when a spec ID has no test, or when a test or
proof cites an ID the spec does not define. Prints the matrix; `--markdown FILE` writes it as a
Markdown table for the rendered spec.

covers: CORE-TRACE
Usage: tools/spec_ids.py [--root DIR] [--markdown FILE]
"""
import argparse
import os
import re
import sys

ID = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+"
SPEC_ID = re.compile(r"\[(" + ID + r")\]")
COVERS = re.compile(r"covers:((?:\s+" + ID + r")+)")
PROVES = re.compile(r"proves:\s*(" + ID + r")")
SOURCE_EXT = (".cpp", ".hpp", ".h", ".cu", ".cuh", ".py", ".sh", ".cmake")


def walk(root, sub, exts):
    base = os.path.join(root, sub)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if d not in ("corpus", "data", "__pycache__")]
        for f in sorted(filenames):
            if f.endswith(exts):
                yield os.path.join(dirpath, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--markdown")
    args = ap.parse_args()
    root = os.path.abspath(args.root)

    defined = {}  # id -> spec file
    for path in walk(root, "spec", (".md",)):
        with open(path, encoding="utf-8") as f:
            for m in SPEC_ID.finditer(f.read()):
                defined.setdefault(m.group(1), os.path.relpath(path, root))
    tests, proofs = {}, {}
    for sub in ("tests", "fuzz", "tools", "python/tests", "python/examples", "examples"):
        for path in walk(root, sub, SOURCE_EXT):
            with open(path, encoding="utf-8", errors="replace") as f:
                for m in COVERS.finditer(f.read()):
                    for i in m.group(1).split():
                        tests.setdefault(i, set()).add(os.path.relpath(path, root))
    for path in walk(root, "proofs", (".v",)):
        with open(path, encoding="utf-8") as f:
            for m in PROVES.finditer(f.read()):
                proofs.setdefault(m.group(1), set()).add(os.path.relpath(path, root))

    problems = []
    for i in sorted(defined):
        if i not in tests:
            problems.append(f"{i} ({defined[i]}) has no test (add `covers: {i}` to one)")
    for i in sorted(set(tests) | set(proofs)):
        if i not in defined:
            where = sorted(tests.get(i, set()) | proofs.get(i, set()))
            problems.append(f"{i} is cited by {', '.join(where)} but not defined in spec/")

    rows = [(i, defined[i], sorted(tests.get(i, [])), sorted(proofs.get(i, []))) for i in sorted(defined)]
    width = max(len(i) for i in defined) if defined else 10
    for i, spec, t, p in rows:
        print(f"{i:<{width}}  tests: {', '.join(t) or '-'}  proofs: {', '.join(p) or '-'}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("| ID | spec | tests | proofs |\n|---|---|---|---|\n")
            for i, spec, t, p in rows:
                f.write(f"| {i} | {spec} | {'<br>'.join(t) or '—'} | {'<br>'.join(p) or '—'} |\n")
    print(f"\n{len(defined)} spec IDs, {sum(1 for r in rows if r[2])} tested, "
          f"{sum(1 for r in rows if r[3])} proved")
    for p in problems:
        print("ERROR:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
