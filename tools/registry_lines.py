#!/usr/bin/env python3
"""What each family's registry glue costs per algorithm (spec/core.md [CORE-ENTRY-LINES]).

Issue 9 set the target: at most about 80 lines of registry/ per algorithm, from about 190 when
each algorithm subclassed Algorithm by hand. This counts, for each family, the lines of its files
in registry/ (a file belongs to the family its name starts with; dss.* and s4d.* are the S4
family's, as their spec chapters are) and the algorithms it registers (`touchstone list --json`,
by the first word of each name: mamba, s4 / s4d / dss, performer, orthogonal, bilevel), and prints
both measures per algorithm:

  lines   every line (wc -l)
  code    lines that are neither blank nor only a // comment: what an algorithm costs to write,
          leaving out the comments that cite the spec and say why, which the style asks for

Exit 1 when a family's code lines per algorithm exceed --limit (80), or a family has files but
no algorithm, or an algorithm no file; 0 otherwise. --self-test runs the count on a made-up
registry (a family over the limit must fail, one under it pass, comments must not count).

covers: CORE-ENTRY-LINES
Usage: tools/registry_lines.py --touchstone BUILD/touchstone [--root DIR] [--limit N]
       tools/registry_lines.py --self-test
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# The first word of an algorithm's name, and the start of a registry file's name, to its family.
FAMILY_OF_PREFIX = {"mamba": "mamba", "s4": "s4", "s4d": "s4", "dss": "s4", "performer": "performer",
                    "orthogonal": "orthogonal", "bilevel": "bilevel"}
SHARED_FILES = ("builtin.",)  # the registration of every family: nobody's glue
COMMENT = re.compile(r"^\s*//")


def family_of_file(name):
    if name.startswith(SHARED_FILES):
        return None
    m = re.match(r"([a-z]+\d*[a-z]*)", name)
    for prefix in sorted(FAMILY_OF_PREFIX, key=len, reverse=True):
        if name.startswith(prefix) and (len(name) == len(prefix) or not name[len(prefix)].isalpha()):
            return FAMILY_OF_PREFIX[prefix]
    return m.group(1) if m else name


def count_lines(path):
    total = code = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            total += 1
            if line.strip() and not COMMENT.match(line):
                code += 1
    return total, code


def measure(registry_dir, algorithm_names):
    families = {}
    for name in sorted(os.listdir(registry_dir)):
        if not name.endswith((".cpp", ".hpp")):
            continue
        fam = family_of_file(name)
        if fam is None:
            continue
        t, c = count_lines(os.path.join(registry_dir, name))
        row = families.setdefault(fam, {"files": [], "lines": 0, "code": 0, "algorithms": 0})
        row["files"].append(name)
        row["lines"] += t
        row["code"] += c
    for a in algorithm_names:
        fam = FAMILY_OF_PREFIX.get(a.split(".")[0], a.split(".")[0])
        families.setdefault(fam, {"files": [], "lines": 0, "code": 0, "algorithms": 0})["algorithms"] += 1
    return families


def report(families, limit, out=sys.stdout):
    ok = True
    print(f"{'family':12} {'algorithms':>10} {'lines':>7} {'code':>7} {'lines/alg':>10} {'code/alg':>9}", file=out)
    for fam, r in sorted(families.items()):
        n = r["algorithms"]
        if n == 0 or not r["files"]:
            print(f"{fam:12} {n:>10} {r['lines']:>7} {r['code']:>7}  "
                  f"{'no algorithm' if n == 0 else 'no registry file'}", file=out)
            ok = False
            continue
        per_line, per_code = r["lines"] / n, r["code"] / n
        verdict = "" if per_code <= limit else f"  over the limit of {limit}"
        ok = ok and per_code <= limit
        print(f"{fam:12} {n:>10} {r['lines']:>7} {r['code']:>7} {per_line:>10.1f} {per_code:>9.1f}{verdict}",
              file=out)
    return ok


def self_test():
    with tempfile.TemporaryDirectory() as d:
        def write(name, code_lines, comment_lines):
            with open(os.path.join(d, name), "w") as f:
                f.write("// a comment\n" * comment_lines + "\n" * 3 + "int x;\n" * code_lines)
        write("builtin.cpp", 500, 0)       # shared: not counted
        write("mamba.cpp", 150, 400)       # 2 algorithms: 75 code lines each, comments free
        write("s4.cpp", 100, 0)
        write("s4d.cpp", 90, 0)            # s4 family: 190 code lines for 2 algorithms: over 80
        fams = measure(d, ["mamba.a", "mamba.b", "s4.a", "dss.b"])
        sink = open(os.devnull, "w")
        checks = [
            (fams["mamba"]["code"] == 150 and fams["mamba"]["lines"] == 553, "comments and blanks are not code"),
            (fams["s4"]["algorithms"] == 2 and fams["s4"]["code"] == 190, "dss and s4d belong to s4"),
            ("builtin" not in fams, "builtin.* is shared"),
            (not report(fams, 80, sink), "a family over the limit fails"),
            (report({k: v for k, v in fams.items() if k == "mamba"}, 80, sink), "a family under it passes"),
            (not report(measure(d, ["mamba.a", "mamba.b", "s4.a", "dss.b", "performer.x"]), 1000, sink),
             "an algorithm without a registry file fails"),
        ]
    failed = [what for good, what in checks if not good]
    for what in failed:
        print("self-test failed:", what)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--touchstone", help="the touchstone binary (its `list --json` names the algorithms)")
    ap.add_argument("--limit", type=float, default=80)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.touchstone:
        ap.error("--touchstone is required")
    listing = json.loads(subprocess.run([args.touchstone, "list", "--json"], check=True, capture_output=True,
                                        text=True).stdout)
    names = [a["name"] for a in listing["algorithms"]]
    fams = measure(os.path.join(args.root, "registry"), names)
    return 0 if report(fams, args.limit) else 1


if __name__ == "__main__":
    sys.exit(main())
