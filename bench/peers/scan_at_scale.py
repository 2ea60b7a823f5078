"""Writes a production-size selective-scan problem and a correct float32 answer to it, for timing
`touchstone diff` at scale (bench/diff_at_scale.sh, [CORE-DIFF-TIERS]).

Inputs follow mamba_ssm's own test distribution (tests/ops/test_selective_scan.py, as described in
shared/briefs/mamba.md): u, delta, z, B, C standard normal (B and C variable: (batch, N, L)),
delta = 0.5 * rand, delta_bias = 0.5 * rand, A = -0.5 * rand, D = randn, delta_softplus on; every
input float32. The answer is PyTorch's float32 selective_scan_ref semantics
(bench/peers/selective_scan_ref.py), i.e. what a correct float32 kernel returns.

    /usr/bin/python3 bench/peers/scan_at_scale.py DIR --batch 1 --dim 5120 --seqlen 2048 --dstate 16
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from selective_scan_ref import selective_scan_ref  # noqa: E402


def draw_inputs(b, d, L, n, seed):
    """mamba_ssm's test distribution (see the module's docstring), float32 torch tensors."""
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(b, d, L, generator=g),
        "delta": 0.5 * torch.rand(b, d, L, generator=g),
        "A": -0.5 * torch.rand(d, n, generator=g),
        "B": torch.randn(b, n, L, generator=g),
        "C": torch.randn(b, n, L, generator=g),
        "D": torch.randn(d, generator=g),
        "z": torch.randn(b, d, L, generator=g),
        "delta_bias": 0.5 * torch.rand(d, generator=g),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dim", type=int, default=5120)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--dstate", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    b, d, L, n = a.batch, a.dim, a.seqlen, a.dstate
    t = draw_inputs(b, d, L, n, a.seed)
    with torch.no_grad():
        out, last = selective_scan_ref(**t, delta_softplus=True)
    os.makedirs(a.dir, exist_ok=True)
    np.savez(os.path.join(a.dir, "inputs.npz"), delta_softplus=np.array(True),
             **{k: v.numpy() for k, v in t.items()})
    np.savez(os.path.join(a.dir, "theirs.npz"), out=out.numpy(), last_state=last.numpy())
    print(f"wrote {a.dir}/inputs.npz and theirs.npz: batch {b} dim {d} seqlen {L} dstate {n}")


if __name__ == "__main__":
    main()
