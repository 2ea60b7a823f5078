"""Runs PyTorch's Householder product (torch.linalg.householder_product, LAPACK's orgqr on the CPU)
on touchstone problems and writes its outputs (tests/orthogonal/orthogonal_peer_test.sh). One
process runs every job, so torch is imported once.

Usage: orthogonal_peer.py JOB [JOB ...], each JOB is MODE,IN.npz,OUT.npz:
  lapack      torch.linalg.householder_product(A, tau) in the input's dtype (float32 or float64) -> Q
  reversed    the wrong order: the first n columns of H_k ... H_1 (explicit matrices, float32) -> Q
  full        the wrong shape convention made to fit: columns n-1.. of the full m x m product,
              i.e. the last n columns instead of the first n (float32) -> Q
  geqrf       (IN ignored) writes OUT as an input: A, tau = torch.geqrf of a Gaussian 9 x 6
              float32 matrix (seed 20261207)
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)


def load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def reflections(a, tau):
    m, k = a.shape[0], tau.shape[0]
    hs = []
    for i in range(k):
        v = torch.zeros(m, dtype=a.dtype)
        v[i] = 1
        v[i + 1:] = a[i + 1:, i]
        hs.append(torch.eye(m, dtype=a.dtype) - tau[i] * torch.outer(v, v))
    return hs


for job in sys.argv[1:]:
    mode, src, dst = job.split(",")
    if mode == "geqrf":
        g = np.random.default_rng(20261207)
        a, tau = torch.geqrf(torch.from_numpy(g.standard_normal((9, 6)).astype(np.float32)))
        np.savez(dst, A=a.numpy(), tau=tau.numpy())
        continue
    d = load(src)
    dtype = torch.float64 if d["A"].dtype == np.float64 else torch.float32
    a, tau = torch.from_numpy(d["A"]).to(dtype), torch.from_numpy(d["tau"]).to(dtype)
    n = a.shape[1]
    if mode == "lapack":
        q = torch.linalg.householder_product(a, tau)
    elif mode == "reversed":
        q = torch.eye(a.shape[0], dtype=dtype)
        for h in reversed(reflections(a, tau)):
            q = q @ h
        q = q[:, :n]
    elif mode == "full":
        q = torch.eye(a.shape[0], dtype=dtype)
        for h in reflections(a, tau):
            q = q @ h
        q = q[:, q.shape[1] - n:]
    else:
        sys.exit(f"unknown mode {mode}")
    np.savez(dst, Q=q.numpy())
