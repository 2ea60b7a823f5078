#!/usr/bin/python3
"""Writes a QR's Q as PyTorch forms it, for `touchstone diff orthogonal.householder_product_lapack`
at realistic sizes (bench/RESULTS.md, "householder_product_lapack at its bench size"). Debian's torch
1.13, CPU, one thread: A, tau = torch.geqrf(Y) of a Gaussian n x n matrix Y (seed 20261207, drawn in
float64 and rounded to the dtype), then Q = torch.linalg.householder_product(A, tau) (LAPACK's
orgqr: blocked, the WY form, from n = 128 with the default block sizes). Also a wrong answer: the
first n columns of the product in the other order, H_k ... H_1 (explicit matrices).

  lapack_qr_q.py DIR [N] [DTYPE]    (N = 256, DTYPE float32 or float64, default float32)
Writes DIR/inputs.npz (A, tau), DIR/torch.npz (Q) and DIR/reversed.npz (Q).
"""
import os
import sys

import numpy as np
import torch


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    dtype = {"float32": torch.float32, "float64": torch.float64}[sys.argv[3] if len(sys.argv) > 3 else "float32"]
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(20261207)
    y = torch.randn(n, n, generator=g, dtype=torch.float64).to(dtype)
    a, tau = torch.geqrf(y)
    np.savez(os.path.join(out, "inputs.npz"), A=a.numpy(), tau=tau.numpy())
    np.savez(os.path.join(out, "torch.npz"), Q=torch.linalg.householder_product(a, tau).numpy())
    q = torch.eye(n, dtype=dtype)
    for i in range(tau.shape[0]):
        v = torch.zeros(n, dtype=dtype)
        v[i] = 1
        v[i + 1:] = a[i + 1:, i]
        q = (torch.eye(n, dtype=dtype) - tau[i] * torch.outer(v, v)) @ q
    np.savez(os.path.join(out, "reversed.npz"), Q=q[:, :n].numpy())


if __name__ == "__main__":
    main()
