#!/usr/bin/env python3
"""Renders spec/*.md to one HTML book with pandoc (--standalone --mathml: no JavaScript, no
network, no CDN), chapters in reading order (ORDER; a chapter not listed there comes after, by
name), an index page and a traceability page. Before pandoc each chapter gets:

  <!-- embed: PATH#NAME -->  a C++ code block holding the lines between `// embed-begin NAME`
                              and `// embed-end NAME` in PATH, so the spec shows the reference
                              function itself;
  **[ID]**                    (a definition) an anchor: id="ID", linking to itself;
  [ID]                        (a mention, outside code and math) a link to the chapter and
                              anchor that define ID;
  a navigation line (previous, index, next) at the top and bottom.

Figures and data beside the chapters (spec/*.svg, spec/<dir>/...) are copied to the output with
the same relative paths, so `![...](x.svg)` shows the plot where the text refers to it.
spec.css gives a wide layout in which code blocks wrap instead of being clipped.
index.html lists the chapters; traceability.html is tools/spec_ids.py's matrix (ID -> chapter,
tests, proofs) with every ID linked to its definition.

Fails on a missing embed target, an ID defined twice, a pandoc error or a pandoc warning (a
formula texmath cannot convert) (spec/core.md [CORE-TRACE]).
Usage: tools/render_spec.py [--root DIR] --out DIR [--only CHAPTER] [--no-mathml]
(--no-mathml renders the math as raw TeX text: the rendering the screenshot test must tell apart.)
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

ORDER = ["core", "mamba", "mamba_complex", "mamba_block", "mamba_train", "s4", "s4_identities",
         "s4_conv", "s4d", "dss", "performer", "orthogonal", "bilevel"]
EMBED = re.compile(r"<!--\s*embed:\s*([^#\s]+)#(\w+)\s*-->")
ID = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+"
DEF = re.compile(r"\*\*\[(" + ID + r")\]\*\*")
MENTION = re.compile(r"(?<![\\\w])\[(" + ID + r")\](?![\w(\[{])")
# Regions left alone by the link pass: fenced code, inline code, display and inline math,
# HTML comments.
PROTECTED = re.compile(r"^```.*?^```[ \t]*$|``.+?``|`[^`]+`|\$\$.+?\$\$|\$[^$\n]+\$|<!--.*?-->",
                       re.M | re.S)

CSS = """\
html { font-size: 16px; }
body { max-width: 78em; margin: 0 auto; padding: 1em 2em 4em; line-height: 1.45;
       font-family: "DejaVu Serif", Georgia, serif; color: #1a1a1a; background: #fff; }
nav.chapters { font-family: sans-serif; font-size: 0.9em; margin: 0.5em 0 1.5em;
               padding: 0.4em 0; border-bottom: 1px solid #ddd; }
nav.chapters.bottom { border-top: 1px solid #ddd; border-bottom: 0; margin-top: 3em; }
nav.chapters a { margin-right: 1.5em; }
pre, code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.88em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; overflow-x: auto; max-width: 100%;
      background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.6em 0.8em; }
p code, li code, td code { overflow-wrap: anywhere; }
math { font-family: "DejaVu Math TeX Gyre", "Latin Modern Math", "STIX Two Math", math; }
math[display="block"] { overflow-x: auto; max-width: 100%; }
a.spec-def { font-weight: bold; color: #6a1b9a; text-decoration: none; }
a.spec-ref { color: #1565c0; text-decoration: none; }
a.spec-ref:hover, a.spec-def:hover { text-decoration: underline; }
:target { background: #fff3c4; }
img { max-width: 100%; height: auto; }
figure { margin: 1.5em 0; text-align: center; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; vertical-align: top; text-align: left; }
thead th { background: #f0f3f6; position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fafbfc; }
#TOC { font-family: sans-serif; font-size: 0.9em; }
"""


def embed(root, text, source):
    def replace(m):
        path, name = m.group(1), m.group(2)
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().splitlines()
        try:
            start = next(i for i, l in enumerate(lines) if l.strip() == f"// embed-begin {name}")
            end = next(i for i, l in enumerate(lines) if l.strip() == f"// embed-end {name}")
        except StopIteration:
            sys.exit(f"{source}: embed target {path}#{name} has no embed-begin/embed-end markers")
        body = "\n".join(lines[start + 1:end])
        return f"*From `{path}`:*\n\n```cpp\n{body}\n```\n"
    return EMBED.sub(replace, text)


def link_ids(text, chapter, where):
    """Definitions become anchors, mentions links; code, math and comments are left alone."""
    def prose(chunk):
        chunk = DEF.sub(lambda m: f"[**\\[{m.group(1)}\\]**](#{m.group(1)}){{#{m.group(1)} .spec-def}}",
                        chunk)

        def mention(m):
            i = m.group(1)
            line_start = m.start() == 0 or m.string[m.start() - 1] == "\n"
            if i not in where or (line_start and m.string.startswith(":", m.end())):
                return m.group(0)
            target = f"#{i}" if where[i] == chapter else f"{where[i]}.html#{i}"
            return f"[\\[{i}\\]]({target}){{.spec-ref}}"
        return MENTION.sub(mention, chunk)
    out, pos = [], 0
    for m in PROTECTED.finditer(text):
        out.append(prose(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(prose(text[pos:]))
    return "".join(out)


def title_of(text, fallback):
    m = re.search(r'^title:\s*"?(.*?)"?\s*$', text, re.M)
    return m.group(1).replace('\\"', '"') if m else fallback


def nav(chapters, k, bottom=False):
    cls = "chapters bottom" if bottom else "chapters"
    parts = []
    if k > 0:
        parts.append(f'<a href="{chapters[k - 1]}.html" rel="prev">&larr; {chapters[k - 1]}</a>')
    parts.append('<a href="index.html">index</a>')
    parts.append('<a href="traceability.html">traceability</a>')
    if k + 1 < len(chapters):
        parts.append(f'<a href="{chapters[k + 1]}.html" rel="next">{chapters[k + 1]} &rarr;</a>')
    return f'\n\n```{{=html}}\n<nav class="{cls}">{" ".join(parts)}</nav>\n```\n\n'


def pandoc_run(pandoc, args, source, strict=True):
    r = subprocess.run([pandoc] + args, capture_output=True, text=True)
    if r.returncode != 0 or (strict and r.stderr.strip()):
        sys.stderr.write(f"{source}: pandoc failed or warned:\n{r.stderr}")
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="render this chapter (and the index) only")
    ap.add_argument("--no-mathml", action="store_true",
                    help="leave math as raw TeX (the negative control of the screenshot test)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    pandoc = shutil.which("pandoc")
    if not pandoc:
        sys.exit("pandoc not found: run scripts/setup.sh")
    spec_dir = os.path.join(root, "spec")
    os.makedirs(args.out, exist_ok=True)
    names = [f[:-3] for f in os.listdir(spec_dir) if f.endswith(".md")]
    chapters = [c for c in ORDER if c in names] + sorted(set(names) - set(ORDER))
    texts = {}
    for c in chapters:
        with open(os.path.join(spec_dir, c + ".md"), encoding="utf-8") as f:
            texts[c] = f.read()
    where = {}
    for c in chapters:
        for m in DEF.finditer(texts[c]):
            if m.group(1) in where:
                sys.exit(f"spec/{c}.md: [{m.group(1)}] is defined again (first in spec/{where[m.group(1)]}.md)")
            where[m.group(1)] = c

    # Figures and data a chapter shows or links to go beside the HTML, same relative paths.
    for entry in os.listdir(spec_dir):
        src = os.path.join(spec_dir, entry)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(args.out, entry), dirs_exist_ok=True)
        elif not entry.endswith(".md"):
            shutil.copy(src, os.path.join(args.out, entry))
    with open(os.path.join(args.out, "spec.css"), "w", encoding="utf-8") as f:
        f.write(CSS)

    math = [] if args.no_mathml else ["--mathml"]
    common = ["--standalone", "-f", "markdown", "-t", "html5", "--css", "spec.css"] + math
    with tempfile.TemporaryDirectory() as tmp:
        matrix = os.path.join(tmp, "matrix.md")
        ids = subprocess.run([sys.executable, os.path.join(root, "tools", "spec_ids.py"), "--root",
                              root, "--markdown", matrix], capture_output=True, text=True)
        if ids.returncode != 0:
            sys.stderr.write(ids.stdout + ids.stderr)
            return 1
        rendered = 0
        for k, c in enumerate(chapters):
            if args.only and c != args.only:
                continue
            src = os.path.join(spec_dir, c + ".md")
            text = link_ids(embed(root, texts[c], src), c, where)
            # the navigation goes after the YAML header
            m = re.match(r"---\n.*?\n---\n", text, re.S)
            head, body = (text[:m.end()], text[m.end():]) if m else ("", text)
            text = head + nav(chapters, k) + body + nav(chapters, k, bottom=True)
            md = os.path.join(tmp, c + ".md")
            with open(md, "w", encoding="utf-8") as f:
                f.write(text)
            pandoc_run(pandoc, common + ["--toc", "--toc-depth=2", md, "-o",
                                         os.path.join(args.out, c + ".html")], src,
                       strict=not args.no_mathml)
            rendered += 1
        if args.only and not rendered:
            sys.exit(f"no chapter {args.only} in spec/")

        index = ["---", "title: touchstone specification", "---", "",
                 "The chapters in reading order: the core contract first, then each family.", ""]
        for k, c in enumerate(chapters):
            index.append(f"{k + 1}. [{c}]({c}.html): {title_of(texts[c], c)}")
        index += ["", f"[Traceability matrix](traceability.html): each of the {len(where)} spec IDs "
                  "with the tests that cover it and the Coq proofs that prove it.", ""]
        with open(os.path.join(tmp, "index.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(index))
        pandoc_run(pandoc, common + [os.path.join(tmp, "index.md"), "-o",
                                     os.path.join(args.out, "index.html")], "index")

        rows = []
        with open(matrix, encoding="utf-8") as f:
            for line in f.read().splitlines()[2:]:
                cells = [x.strip() for x in line.strip().strip("|").split("|")]
                if len(cells) != 4:
                    continue
                i, spec, tests, proofs = cells
                chap = where.get(i, os.path.splitext(os.path.basename(spec))[0])
                cell = lambda v: "—" if v == "—" else "<br>".join(
                    f"<code>{html.escape(p)}</code>" for p in v.split("<br>"))
                rows.append(f'<tr><td><a class="spec-ref" href="{chap}.html#{i}">{i}</a></td>'
                            f'<td><a href="{chap}.html">{chap}</a></td><td>{cell(tests)}</td>'
                            f"<td>{cell(proofs)}</td></tr>")
        trace = ["---", "title: touchstone specification — traceability", "---", "",
                 "```{=html}", '<nav class="chapters"><a href="index.html">index</a></nav>',
                 f"<p>{len(rows)} spec IDs. Each links to its definition; <em>tests</em> are the "
                 "files with a <code>covers: ID</code> tag, <em>proofs</em> the Coq files with "
                 "<code>(* proves: ID *)</code> (tools/spec_ids.py).</p>",
                 "<table><thead><tr><th>ID</th><th>chapter</th><th>tests</th><th>proofs</th></tr>"
                 "</thead><tbody>"] + rows + ["</tbody></table>", "```", ""]
        with open(os.path.join(tmp, "traceability.md"), "w", encoding="utf-8") as f:
            f.write("\n".join(trace))
        pandoc_run(pandoc, common + [os.path.join(tmp, "traceability.md"), "-o",
                                     os.path.join(args.out, "traceability.html")], "traceability")
    print(f"rendered {rendered} chapter(s), the index and the traceability matrix to "
          f"{args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
