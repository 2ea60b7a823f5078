"""Runs geotorch (PyPI, pure Python over torch) on touchstone problems and writes its outputs
(tests/orthogonal/geotorch_peer_test.sh). geotorch.SO(triv=...) maps a parameter P to
base @ triv(tril(P, -1) - tril(P, -1)^T), triv "expm" (torch.linalg.matrix_exp) or "cayley"
((I - A/2)^-1 (I + A/2) by torch.linalg.solve). One process runs every job. Everything in the dtype
given (the problems' values are representable in it).

Usage: geotorch_peer.py JOB [JOB ...], each JOB is MODE,IN.npz,OUT.npz,DTYPE:
  so_expm, so_cayley   base = I, P = the file's A -> Q; with dQ in the file, autograd's gradient of
                       sum(Q * dQ) with respect to P -> dA
  rgd_expm, rgd_cayley base = the file's X, P = 0; one torch.optim.SGD step with lr = eta / 2 on
                       sum(W * G) (so dL/dW = G), then the new W -> X_next. At P = 0 the gradient
                       with respect to P is 2 tril(Omega, -1), so the step is X triv(-eta Omega).
  rgd_expm_lr_eta, rgd_cayley_lr_eta   the same with lr = eta (the convention difference ignored:
                       a step of 2 eta) -> X_next
"""
import sys

import numpy as np
import torch

import geotorch

torch.set_num_threads(1)


def load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def so_module(n, triv, dtype):
    m = geotorch.SO((n, n), triv=triv).to(dtype)
    return m


for job in sys.argv[1:]:
    mode, src, dst, dt = job.split(",")
    dtype = {"float32": torch.float32, "float64": torch.float64}[dt]
    d = load(src)
    triv = "cayley" if "cayley" in mode else "expm"
    if mode.startswith("so_"):
        a = torch.from_numpy(d["A"]).to(dtype)
        n = a.shape[0]
        so = so_module(n, triv, dtype)
        with torch.no_grad():
            so.base.copy_(torch.eye(n, dtype=dtype))
        p = a.clone().requires_grad_(True)
        q = so(p)
        if "dQ" not in d:
            np.savez(dst, Q=q.detach().numpy())
            continue
        (q * torch.from_numpy(d["dQ"]).to(dtype)).sum().backward()
        np.savez(dst, dA=p.grad.numpy())
        continue
    if mode.startswith("rgd_"):
        x = torch.from_numpy(d["X"]).to(dtype)
        g = torch.from_numpy(d["G"]).to(dtype)
        eta = float(d["eta"])
        n = x.shape[0]
        so = so_module(n, triv, dtype)
        with torch.no_grad():
            so.base.copy_(x)
        p = torch.nn.Parameter(torch.zeros(n, n, dtype=dtype))
        lr = eta if mode.endswith("_lr_eta") else eta / 2
        opt = torch.optim.SGD([p], lr=lr)
        opt.zero_grad()
        (so(p) * g).sum().backward()
        opt.step()
        with torch.no_grad():
            np.savez(dst, X_next=so(p).numpy())
        continue
    sys.exit(f"unknown mode {mode}")
