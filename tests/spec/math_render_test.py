#!/usr/bin/env python3
"""The rendered spec's math is laid out by a browser (spec/core.md [CORE-SPEC-RENDER]).

Renders one chapter with tools/render_spec.py (pandoc --mathml) and loads it in headless Chromium
(Debian's `chromium`). A probe script added to a copy of the page reports, from the laid-out DOM
(`--dump-dom`): how many <math> elements there are, how many are displayed as MathML (computed
`display` is `math` / `block math`) with a non-empty box, and how many <msup> have their
superscript raised above the base. The page passes when the chapter has at least MIN_MATH
formulas, every one is laid out as MathML, 90% of the superscripts are raised, and no `$` of
unconverted TeX is left in the text.

The same check must FAIL on the same chapter rendered without --mathml (math left as TeX
source text, as ASCII math in code spans was before) and on the MathML page with a style that
displays every MathML element as plain inline text (a browser that does not lay out MathML): a
check that passes there could not see math stop rendering. Screenshots of both renderings (PNG, `chromium --screenshot`) are written to
--out and must differ.

`--page FILE` runs the check on one HTML file only (exit 1 when it fails), to try it by hand.

covers: CORE-SPEC-RENDER
Usage: tests/spec/math_render_test.py --root DIR --out DIR [--chapter NAME] | --page FILE
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MIN_MATH = 100

PROBE = """
<script>
window.addEventListener('load', () => {
  const maths = Array.from(document.querySelectorAll('math'));
  let laidOut = 0;
  for (const m of maths) {
    const d = getComputedStyle(m).display;
    const r = m.getBoundingClientRect();
    if (/math/.test(d) && r.width > 0 && r.height > 0) laidOut++;
  }
  let sups = 0, raised = 0;
  for (const s of document.querySelectorAll('msup')) {
    if (s.children.length < 2) continue;
    sups++;
    const base = s.children[0].getBoundingClientRect(), sup = s.children[1].getBoundingClientRect();
    if (sup.height > 0 && sup.bottom < base.bottom - 1) raised++;
  }
  const text = document.body.innerText;
  const dollars = (text.match(/\\$/g) || []).length;
  const out = document.createElement('pre');
  out.id = 'math-probe';
  out.textContent = JSON.stringify({maths: maths.length, laidOut, sups, raised, dollars});
  document.body.appendChild(out);
});
</script>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: run scripts/setup.sh (Debian package `chromium`)")


def browser(args, tmp):
    # --no-sandbox: the sandbox needs user namespaces, which containers (CI) often lack.
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp}/profile", "--window-size=1400,1800"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit(f"chromium failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def probe(page):
    """The laid-out math of `page`, measured in headless Chromium."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(os.path.dirname(os.path.abspath(page)),
                            ".probe-" + os.path.basename(page))
        with open(page, encoding="utf-8") as f:
            text = f.read()
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("</body>", PROBE + "</body>"))
        try:
            dom = browser(["--dump-dom", "file://" + copy], tmp)
        finally:
            os.remove(copy)
    m = re.search(r'<pre id="math-probe">(.*?)</pre>', dom, re.S)
    if not m:
        sys.exit(f"{page}: the probe did not run (no #math-probe in the dumped DOM)")
    return json.loads(m.group(1).replace("&quot;", '"'))


def judge(page):
    p = probe(page)
    problems = []
    if p["maths"] < MIN_MATH:
        problems.append(f"{p['maths']} <math> elements, fewer than {MIN_MATH}")
    if p["laidOut"] < p["maths"]:
        problems.append(f"{p['maths'] - p['laidOut']} of {p['maths']} <math> not laid out as MathML")
    if p["sups"] == 0 or p["raised"] < 0.9 * p["sups"]:
        problems.append(f"{p['raised']} of {p['sups']} superscripts raised above their base")
    if p["dollars"]:
        problems.append(f"{p['dollars']} '$' of unconverted TeX in the page's text")
    print(f"{page}: {json.dumps(p)} -> {'FAIL: ' + '; '.join(problems) if problems else 'PASS'}")
    return not problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--out")
    ap.add_argument("--chapter", default="orthogonal")
    ap.add_argument("--page")
    args = ap.parse_args()
    if args.page:
        return 0 if judge(args.page) else 1
    if not args.out:
        ap.error("--out is required without --page")
    root = os.path.abspath(args.root)
    render = os.path.join(root, "tools", "render_spec.py")
    good, bad = os.path.join(args.out, "mathml"), os.path.join(args.out, "no-mathml")
    for where, extra in ((good, []), (bad, ["--no-mathml"])):
        shutil.rmtree(where, ignore_errors=True)
        subprocess.run([sys.executable, render, "--root", root, "--out", where, "--only",
                        args.chapter] + extra, check=True, stdout=subprocess.DEVNULL)
    ok = True
    if not judge(os.path.join(good, args.chapter + ".html")):
        ok = False
        print("FAIL: the spec's math does not render")
    if judge(os.path.join(bad, args.chapter + ".html")):
        ok = False
        print("FAIL: the check passes on a page whose math is TeX source text: it cannot fail")
    # Second control: the MathML is there but not laid out as math (as in a browser without
    # MathML): every element of it displayed as plain inline text.
    unstyled = os.path.join(bad, "unstyled-" + args.chapter + ".html")
    with open(os.path.join(good, args.chapter + ".html"), encoding="utf-8") as f:
        page = f.read()
    with open(unstyled, "w", encoding="utf-8") as f:
        f.write(page.replace("</head>", "<style>math, math * { display: inline !important; }"
                                        "</style></head>"))
    if judge(unstyled):
        ok = False
        print("FAIL: the check passes on MathML that is not laid out: it cannot fail")
    shots = []
    with tempfile.TemporaryDirectory() as tmp:
        for where in (good, bad):
            png = os.path.join(args.out, os.path.basename(where) + ".png")
            browser([f"--screenshot={png}", "file://" + os.path.join(where, args.chapter + ".html")],
                    tmp)
            with open(png, "rb") as f:
                shots.append(f.read())
    if not all(s.startswith(b"\x89PNG") for s in shots):
        ok = False
        print("FAIL: a screenshot is not a PNG")
    elif shots[0] == shots[1]:
        ok = False
        print("FAIL: the screenshots with and without MathML are identical")
    else:
        print(f"screenshots differ: {args.out}/mathml.png ({len(shots[0])} bytes), "
              f"{args.out}/no-mathml.png ({len(shots[1])} bytes)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
