#!/usr/bin/env python3
"""Peak memory and time of SLiM's layer backward against the slice size C and L
(spec/performer.md [PERF-SLIM-MEMORY]).

Runs build/bench/performer_slim_memory L C under /usr/bin/time -f %M (peak resident KiB) for every
(L, C) of the grid, REPEATS times each (interleaved), and prints a markdown table of the medians
(MiB and seconds of the backward pass) and writes an SVG plot of peak memory against L, one line
per C (log-log).

  python3 bench/performer_slim_memory.py [--repeats N] [--svg spec/performer_slim_memory.svg]
"""
import argparse
import math
import statistics
import subprocess
import sys

LS = [1024, 4096, 16384]
CS = [0, 1, 16, 256, 1024]  # 0: full backprop (every prefix state and row kept)


def run(binary, L, C):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", binary, str(L), str(C)], capture_output=True, text=True, check=True)
    kib = int(p.stderr.strip().splitlines()[-1])
    seconds = float(p.stdout.split(":")[1].split(" s")[0])
    return kib / 1024, seconds


def inputs_mib(L):
    """x, dy and dx: three (L, 64) float32 arrays."""
    return 3 * L * 64 * 4 / 2**20


def svg(rows, base):
    W, H, x0, x1, y0, y1 = 620, 360, 70, 500, 300, 40
    lmin, lmax = math.log10(LS[0]), math.log10(LS[-1])
    mems = [m for (_, _), (m, _) in rows.items()] + [base + inputs_mib(L) for L in LS]
    mmin, mmax = math.floor(math.log10(min(mems))), math.ceil(math.log10(max(mems)))
    X = lambda L: x0 + (math.log10(L) - lmin) / (lmax - lmin) * (x1 - x0)
    Y = lambda m: y0 - (math.log10(m) - mmin) / (mmax - mmin) * (y0 - y1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="20" y="18">SLiM layer backward: peak RSS against L (float32, d_model = d_head = m = 64, one thread)</text>']
    for e in range(mmin, mmax + 1):
        y = Y(10 ** e)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                   f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} MiB</text>')
    for L in LS:
        out.append(f'<text x="{X(L):.1f}" y="{y0 + 18}" text-anchor="middle">{L}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{y0 + 40}" text-anchor="middle">L (positions)</text>')
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
    pts = " ".join(f"{X(L):.1f},{Y(base + inputs_mib(L)):.1f}" for L in LS)
    out.append(f'<polyline points="{pts}" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="5,4"/>')
    labels = [(Y(base + inputs_mib(LS[-1])), "#888", "process + x, dy, dx")]
    for k, C in enumerate(CS):
        pts = " ".join(f"{X(L):.1f},{Y(rows[(L, C)][0]):.1f}" for L in LS)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[k]}" stroke-width="2"/>')
        for L in LS:
            out.append(f'<circle cx="{X(L):.1f}" cy="{Y(rows[(L, C)][0]):.1f}" r="3" fill="{colors[k]}"/>')
        labels.append((Y(rows[(LS[-1], C)][0]), colors[k], "full backprop" if C == 0 else f"SLiM C = {C}"))
    # Labels at the right, in the order of their lines, at least 14 px apart.
    labels.sort()
    last = -1e9
    for y, color, text in labels:
        y = max(y + 4, last + 14)
        last = y
        out.append(f'<text x="{x1 + 10}" y="{y:.1f}" fill="{color}">{text}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bench/performer_slim_memory")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--svg", default="")
    a = ap.parse_args()
    samples = {(L, C): [] for L in LS for C in CS}
    for _ in range(a.repeats):
        for L in LS:
            for C in CS:
                samples[(L, C)].append(run(a.binary, L, C))
                print(L, C, samples[(L, C)][-1], file=sys.stderr)
    base = statistics.median(run(a.binary, 1, 1)[0] for _ in range(a.repeats))
    rows = {key: (statistics.median(m for m, _ in v), statistics.median(s for _, s in v)) for key, v in samples.items()}
    print(f"process with L = 1: {base:.1f} MiB; x, dy, dx take 3 L 64 4 bytes\n")
    print("| L | x, dy, dx | " + " | ".join("full backprop" if C == 0 else f"C = {C}" for C in CS) + " |")
    print("|---|---|" + "---|" * len(CS))
    for L in LS:
        print(f"| {L} | {inputs_mib(L):.1f} MiB | " + " | ".join(f"{rows[(L, C)][0]:.1f} MiB, {rows[(L, C)][1]:.2f} s" for C in CS) + " |")
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(rows, base))
        print(f"\nplot: {a.svg}")


if __name__ == "__main__":
    main()
