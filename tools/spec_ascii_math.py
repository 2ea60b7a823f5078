#!/usr/bin/env python3
"""Flags math written as ASCII in the spec's prose (spec/core.md [CORE-SPEC-MATH]).

The spec's math is TeX ($...$, $$...$$) so that pandoc --mathml renders it. This check looks at
what is left of each spec/*.md once fenced code blocks, inline code spans, TeX, HTML comments,
link targets, image alt text and the YAML front matter are blanked out, and reports every line
where one of these patterns remains:

  caret        an exponent written with ^ after a name, digit or bracket: x^2, 2^-20, e^{z}, )^r
  subscript    a one-letter name with _ and one character or a brace: x_t, W_n, h_{t-1}, Σ_{n<N}
               (identifiers such as d_model or log_dt do not match: more than one letter follows)
  function     a call of a math function written in ASCII: sqrt(, exp(, log(, log1p(, expm1(,
               O(, Re(, Im(, diag(, det(, sin(, cos(, tanh(
  relation     <=, >= or != between operands (in TeX: \\le, \\ge, \\ne)

and, inside TeX, two leftovers of a mechanical conversion that render wrongly:

  tex-script   a Unicode superscript or subscript (⁶⁴, ⁻³, ₆₄): write ^{64}, ^{-3}, _{64}
  tex-caret-minus  ^- with no brace: 2^-(b/2) raises only the minus sign; write 2^{-b/2}

Indented code blocks are not exempt: in this spec they held formulas, which belong in $$...$$.
A line that must keep one of these outside code (a quoted error message, say) ends with the
escape comment `<!-- ascii-math: ok -->` (a reason may follow "ok").

Exit 0 when nothing is flagged, 1 with one line per finding (file:line: pattern: text).
--self-test runs the check on a sample containing ASCII math (it must be flagged, one finding per
pattern) and on its TeX conversion (it must pass), so the check is shown to be able to fail.

covers: CORE-SPEC-MATH
Usage: tools/spec_ascii_math.py [--root DIR] [FILE...] | --self-test
"""
import argparse
import glob
import os
import re
import sys

PROTECTED = re.compile(
    r"\A---\n.*?^---[ \t]*$"           # YAML front matter
    r"|^```.*?^```[ \t]*$"             # fenced code
    r"|``.+?``|`[^`]+`"                 # inline code (may span lines)
    r"|\$\$.+?\$\$|\$[^$\n]+\$"        # display and inline TeX
    r"|<!--.*?-->"                     # comments (and the escape)
    r"|\]\([^)\s]*\)"                  # link and image targets
    r"|!\[[^\]\n]*\]",                  # image alt text (plain text: TeX does not render there)
    re.M | re.S)
ESCAPE = "<!-- ascii-math: ok -->"
ESCAPED = re.compile(r"<!--\s*ascii-math: ok\b[^>]*-->\s*$")  # the escape, a reason allowed
LETTER = r"A-Za-z\u03b1-\u03c9\u0391-\u03a9"
PATTERNS = {
    "caret": re.compile(r"[\w)\]}]\^[-\w({]"),
    "subscript": re.compile(r"(?<![\w\\])[" + LETTER + r"]_(?:\{|[" + LETTER + r"0-9](?![\w]))"),
    "function": re.compile(r"(?<![\w.])(?:sqrt|exp|log|log1p|expm1|O|Re|Im|diag|det|sin|cos|tanh)\("),
    "relation": re.compile(r"(?<=[\w)]) ?(?:<=|>=|!=) ?(?=[\w(|])"),
}
TEX = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"^```.*?^```[ \t]*$|``.+?``|`[^`]+`", re.M | re.S)
TEX_PATTERNS = {
    "tex-script": re.compile("[\u2070-\u209f\u00b2\u00b3\u00b9]"),
    "tex-caret-minus": re.compile(r"\^-"),
}


def findings(text):
    """(line number, pattern, line) for every flagged line of one chapter's text."""
    blank = PROTECTED.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    lines = text.split("\n")
    out = []
    for number, line in enumerate(blank.split("\n"), 1):
        if ESCAPED.search(lines[number - 1]):
            continue
        for name, pattern in PATTERNS.items():
            if pattern.search(line):
                out.append((number, name, lines[number - 1].strip()))
    uncoded = CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in TEX.finditer(uncoded):
        number = uncoded.count("\n", 0, m.start()) + 1
        if ESCAPED.search(lines[number - 1]):
            continue
        for name, pattern in TEX_PATTERNS.items():
            if pattern.search(m.group(0)):
                out.append((number, name, m.group(0)[:150]))
    return sorted(out)


SAMPLE_ASCII = """\
---
title: "x^2 in the title is not prose"
---
The map is exp(w·x - |x|^2/2) and its error is O(r).
Each step multiplies by (I - alpha A)^r.
The scale is d^-1/4, and K = Re Σ_{n<N} W_n.
We need 1 <= L and |Q^T Q - I| small, sqrt(d) of it.
Within $2^-(b/2)$ of the value, and $\\tau = 12u₆₄$.
"""
SAMPLE_TEX = """\
---
title: "x^2 in the title is not prose"
---
The map is $\\exp(w \\cdot x - \\|x\\|^2/2)$ and its error is $O(r)$.
Each step multiplies by $(I - \\alpha A)^r$.
The scale is $d^{-1/4}$, and $K = \\operatorname{Re} \\sum_{n<N} W_n$.
We need $1 \\le L$ and $\\|Q^\\top Q - I\\|$ small, $\\sqrt{d}$ of it; `x_t = exp(a^2)` is code,
and d_model, log_dt and mamba.selective_scan are names.
Within $2^{-b/2}$ of the value, and $\\tau = 12u_{64}$; 10⁴ steps in prose are fine.
    1 <= L in a quoted message <!-- ascii-math: ok -->
An error message says "need 1 <= L" <!-- ascii-math: ok (quoted output) -->
![|M'(θ_k)| against k](plot.svg)
"""


def self_test():
    bad = findings(SAMPLE_ASCII)
    good = findings(SAMPLE_TEX)
    kinds = sorted({k for _, k, _ in bad})
    ok = (kinds == sorted(list(PATTERNS) + list(TEX_PATTERNS))
          and {n for n, _, _ in bad} == {4, 5, 6, 7, 8} and not good)
    print(f"ASCII sample: {len(bad)} findings on lines {sorted({n for n, _, _ in bad})}, "
          f"patterns {kinds}; TeX sample: {len(good)} findings")
    for f in good:
        print("  unexpected:", f)
    print("self-test", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    files = args.files or sorted(glob.glob(os.path.join(root, "spec", "*.md")))
    total = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            for number, name, line in findings(f.read()):
                total += 1
                print(f"{os.path.relpath(path, root)}:{number}: {name}: {line[:150]}")
    print(f"{len(files)} chapters, {total} lines with ASCII math outside code and TeX"
          + ("" if not total else f" (convert to TeX, or end the line with {ESCAPE})"))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
