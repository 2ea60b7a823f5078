"""How far one output element of a correct float32 selective scan must move before a check flags
it: touchstone's rigorous verdict (FAIL), the same with the SUSPECT tier counted (`--strict`, exit
4; [CORE-DIFF-SUSPECT]), and mamba_ssm's allclose (rtol 6e-4, atol 2e-3 against the reference
output, the tolerances its tests/ops/test_selective_scan.py uses for float32, as
shared/briefs/mamba.md records them). In float32 ulps of the element.

Element classes: the largest |out|, the median |out|, a small one (10th percentile of |out|), and
an early step (t = 1 of the channel holding the median element).

    /usr/bin/python3 bench/peers/move_until_flagged.py DIR [TOUCHSTONE]
DIR holds inputs.npz and ref.npz from bench/peers/scan_variants.py (its default problem is
mamba's test distribution, batch 2, dim 64, N 16, L 512).
"""
import os
import subprocess
import sys

import numpy as np


def flagged(ts, d, out, last, strict):
    path = os.path.join(d, "moved.npz")
    np.savez(path, out=out, last_state=last)
    cmd = [ts, "diff", "mamba.selective_scan", "--inputs", os.path.join(d, "inputs.npz"), "--outputs", path]
    if strict:
        cmd.append("--strict")
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if rc not in (0, 1, 4):
        raise SystemExit(f"touchstone diff exited {rc}")
    return rc != 0


def ulp32(x):
    return float(np.spacing(np.float32(abs(x))))


def threshold(ts, d, ref, last, idx, strict):
    """The smallest move (in ulps of ref[idx], to 2%) that touchstone flags, by bisection."""
    u = ulp32(ref[idx])

    def moved(k):
        out = ref.copy()
        out[idx] = np.float32(float(ref[idx]) + k * u)
        return out

    lo, hi = 0.0, 1.0
    while not flagged(ts, d, moved(hi), last, strict):
        lo, hi = hi, hi * 4
        if hi > 1e9:
            return float("inf")
    while hi - lo > 0.02 * hi:
        mid = (lo + hi) / 2
        if flagged(ts, d, moved(mid), last, strict):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    d = sys.argv[1]
    ts = sys.argv[2] if len(sys.argv) > 2 else "build/touchstone"
    r = np.load(os.path.join(d, "ref.npz"))
    ref, last = r["out"], r["last_state"]
    mag = np.abs(ref)
    flat = mag.ravel()
    order = np.argsort(flat)
    classes = {
        "largest": np.unravel_index(order[-1], ref.shape),
        "median": np.unravel_index(order[len(order) // 2], ref.shape),
        "small (10th percentile)": np.unravel_index(order[len(order) // 10], ref.shape),
    }
    b, c, _ = classes["median"]
    classes["early step (t = 1)"] = (b, c, 1)
    print(f"{'element':26s} {'|out|':>10s} {'rigorous':>10s} {'+SUSPECT':>10s} {'allclose':>10s}  (float32 ulps)")
    for name, idx in classes.items():
        x = float(ref[idx])
        rig = threshold(ts, d, ref, last, idx, strict=False)
        sus = threshold(ts, d, ref, last, idx, strict=True)
        allclose = (2e-3 + 6e-4 * abs(x)) / ulp32(x)
        print(f"{name:26s} {abs(x):10.3g} {rig:10.0f} {sus:10.0f} {allclose:10.0f}", flush=True)


if __name__ == "__main__":
    main()
