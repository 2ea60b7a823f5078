"""Correct float32 selective scans that differ in association order and precision, and wrong ones
that no single element reveals, on one problem: what the SUSPECT tier ([CORE-DIFF-SUSPECT]) is
measured on. None of them is a peer's code: each is written here from the scan's definition
(spec/mamba.md [MAMBA-SCAN-DEF]), vectorized over (batch, dim, N) with a loop over time.

Inputs follow mamba_ssm's test distribution as bench/peers/scan_at_scale.py draws them.
Correct variants (float32 unless said):
  ref       PyTorch's selective_scan_ref semantics (bench/peers/selective_scan_ref.py)
  seq_n     y_t = sum over n in index order (a left-to-right loop)
  rev_n     the same sum in reverse order
  tree_n    the sum over n as a pairwise tree
  chunked   the recurrence evaluated in chunks of 64 steps: each chunk's local scan from a zero state,
            then the carried state times the chunk's running product of decays (a two-level scan)
  chunked256  the same with chunks of 256 steps (the decays' running product rounds more often)
  f64acc    every operation in float64, rounded to float32 once at the end
  exp2      exp(x) as exp2(x * fl32(log2 e)), as CUDA kernels write it (exp2f)
Wrong variants:
  bias20    ref's answer times (1 + 2^-20), rounded to float32: 8 to 16 ulps on every element
  bias22    ref's answer times (1 + 2^-22)

    /usr/bin/python3 bench/peers/scan_variants.py DIR --dim 64 --seqlen 512 --batch 2
writes DIR/inputs.npz and DIR/<variant>.npz (out and last_state).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scan_at_scale import draw_inputs  # noqa: E402
from selective_scan_ref import selective_scan_ref  # noqa: E402

CORRECT = ["ref", "seq_n", "rev_n", "tree_n", "chunked", "chunked256", "f64acc", "exp2"]
WRONG = ["bias20", "bias22"]


def prepared(t, dtype, exp2=False):
    """delta after bias and softplus, the decays dA (b, d, L, n) and the Euler terms dBu."""
    u, delta, A, B = (t[k].to(dtype) for k in ("u", "delta", "A", "B"))
    delta = F.softplus(delta + t["delta_bias"].to(dtype)[:, None])
    x = torch.einsum("bdl,dn->bdln", delta, A)
    if exp2:
        log2e = torch.tensor(1.4426950408889634, dtype=torch.float32)
        dA = torch.exp2(x * log2e)
    else:
        dA = torch.exp(x)
    dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    return dA, dBu


def finish(y, t, dtype):
    out = y + t["u"].to(dtype) * t["D"].to(dtype)[:, None]
    return out * F.silu(t["z"].to(dtype))


def sum_over_n(x, c, how):
    """sum_n x[..., n] c[..., n] in the given order (x, c: (b, d, n))."""
    p = x * c
    n = p.shape[-1]
    if how == "seq":
        s = p[..., 0]
        for i in range(1, n):
            s = s + p[..., i]
        return s
    if how == "rev":
        s = p[..., n - 1]
        for i in range(n - 2, -1, -1):
            s = s + p[..., i]
        return s
    while p.shape[-1] > 1:  # pairwise tree
        if p.shape[-1] % 2:
            p = torch.cat([p, torch.zeros_like(p[..., :1])], dim=-1)
        p = p[..., 0::2] + p[..., 1::2]
    return p[..., 0]


def scan(t, variant):
    if variant == "ref":
        return selective_scan_ref(**t, delta_softplus=True)
    dtype = torch.float64 if variant == "f64acc" else torch.float32
    dA, dBu = prepared(t, dtype, exp2=(variant == "exp2"))
    C = t["C"].to(dtype)
    b, d, L, n = dA.shape
    how = {"rev_n": "rev", "tree_n": "tree"}.get(variant, "seq")
    ys = []
    if variant.startswith("chunked"):
        chunk = 256 if variant == "chunked256" else 64
        carry = torch.zeros((b, d, n), dtype=dtype)
        for s in range(0, L, chunk):
            local = torch.zeros((b, d, n), dtype=dtype)
            decay = torch.ones((b, d, n), dtype=dtype)
            for i in range(s, min(L, s + chunk)):
                local = dA[:, :, i] * local + dBu[:, :, i]
                decay = decay * dA[:, :, i]
                x = local + decay * carry
                ys.append(sum_over_n(x, C[:, :, i][:, None, :], "seq"))
            carry = x
        last = carry
    else:
        x = torch.zeros((b, d, n), dtype=dtype)
        for i in range(L):
            x = dA[:, :, i] * x + dBu[:, :, i]
            ys.append(sum_over_n(x, C[:, :, i][:, None, :], how))
        last = x
    out = finish(torch.stack(ys, dim=2), t, dtype)
    return out.float(), last.float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--dstate", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(CORRECT + WRONG))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t = draw_inputs(a.batch, a.dim, a.seqlen, a.dstate, a.seed)
    os.makedirs(a.dir, exist_ok=True)
    np.savez(os.path.join(a.dir, "inputs.npz"), delta_softplus=np.array(True),
             **{k: v.numpy() for k, v in t.items()})
    ref = None
    with torch.no_grad():
        for v in a.variants.split(","):
            if v in ("bias20", "bias22"):
                if ref is None:
                    ref = scan(t, "ref")
                f = 1 + 2.0 ** (-20 if v == "bias20" else -22)
                out = (ref[0].double() * f).float()
                last = (ref[1].double() * f).float()
            else:
                out, last = scan(t, v)
                if v == "ref":
                    ref = (out, last)
            np.savez(os.path.join(a.dir, v + ".npz"), out=out.numpy(), last_state=last.numpy())
            print(f"wrote {a.dir}/{v}.npz", flush=True)


if __name__ == "__main__":
    main()
