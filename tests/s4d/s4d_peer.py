"""Peer kernels in PyTorch float32, written for touchstone's tests from the peers' formulas
(state-spaces/s4 SSMKernelDiag with log_vandermonde_naive; annotated-s4 dss_kernel), and their
inputs written by numpy.

Usage: s4d_peer.py KIND SEED INPUTS.npz OUTPUTS.npz
KIND: s4d-zoh | s4d-bilinear | dss-softmax
"""
import sys

import numpy as np
import torch

kind, seed, inputs, outputs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = np.random.default_rng(seed)
H, N, L = 4, 32, 512
n = np.arange(N)
log_dt = rng.uniform(np.log(1e-3), np.log(1e-1), size=H).astype(np.float32)

if kind.startswith("s4d"):
    # S4D-Lin as state-spaces/s4's minimal S4D: A = -1/2 + i pi n, C ~ complex normal * 0.5**0.5.
    A = np.broadcast_to(-0.5 + 1j * np.pi * n, (H, N)).astype(np.complex64)
    C = (rng.standard_normal((H, N)) + 1j * rng.standard_normal((H, N))).astype(np.complex64) * np.float32(0.5 ** 0.5)
    disc = kind.split("-")[1]
    np.savez(inputs, A=A, C=C, log_dt=log_dt, L=np.array(L))
    At, Ct = torch.from_numpy(A), torch.from_numpy(C)
    dt = torch.exp(torch.from_numpy(log_dt))  # (H,)
    dtA = At * dt.unsqueeze(-1)
    if disc == "zoh":
        v = Ct * (torch.exp(dtA) - 1.0) / At
        x = dtA
    else:
        v = Ct * (1.0 - dtA / 2).reciprocal() * dt.unsqueeze(-1)
        x = ((1.0 + dtA / 2) / (1.0 - dtA / 2)).log()
    # log_vandermonde_naive: 2 Re sum_n v_n exp(x_n l)
    V = torch.exp(x.unsqueeze(-1) * torch.arange(L, dtype=torch.float32))
    K = 2 * torch.einsum("hn,hnl->hl", v, V).real
else:
    # annotated-s4 dss_kernel, both signs of Re Lambda.
    Lam = (rng.uniform(-1, 1, size=(N,)) + 1j * rng.uniform(-10, 10, size=(N,))).astype(np.complex64)
    W = (rng.standard_normal((H, N)) + 1j * rng.standard_normal((H, N))).astype(np.complex64)
    np.savez(inputs, Lambda=Lam, W=W, log_dt=log_dt, L=np.array(L))
    Lt, Wt = torch.from_numpy(Lam), torch.from_numpy(W)
    dt = torch.exp(torch.from_numpy(log_dt))
    eps = torch.tensor(1e-7, dtype=torch.float32)

    def reciprocal(x):
        return x.conj() / (x * x.conj() + eps)

    def complex_softmax(x):  # over the last axis
        idx = torch.argmax(x.real, dim=-1, keepdim=True)
        e = torch.exp(x - torch.gather(x, -1, idx))
        return e * reciprocal(e.sum(-1, keepdim=True))

    K = torch.empty(H, L)
    for h in range(H):
        P = (dt[h] * Lt).unsqueeze(-1) * torch.arange(L, dtype=torch.float32)
        S = complex_softmax(P)
        K[h] = ((Wt[h] / Lt) @ S).real
np.savez(outputs, K=K.numpy().astype(np.float32))
