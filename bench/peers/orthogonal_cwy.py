#!/usr/bin/python3
"""Times PyTorch forming and applying Q = H(v_1) ... H(v_L) on touchstone's inputs (issue 11's bench,
bench/RESULTS.md "Orthogonal, CPU: forming Q by CWY"), timed in-process like
bench/orthogonal_cwy.cpp times touchstone (input loading untimed). Debian's torch 1.13, float32, CPU.

  householder  torch.linalg.householder_product(A, tau) with A = V^T (N x L, column i = v_i) and
               tau_i = 2 / (1 + |A[i+1:, i]|^2): LAPACK's convention reads only A's strictly lower
               part (v_i's unit entry at i and zeros above it are implicit), so this forms the
               product of L reflections of the same size from the same array, not the same Q
               (same work: orgqr on an N x N array with L reflectors).
  cwy          the CWY form in torch ops on the same V: U = V / |v_i| (rows), S = I/2 +
               triu(U U^T, 1), W = solve_triangular(S, U), Q = I - U^T W: the same Q as touchstone.
  apply        CWY applied to 256 vectors without forming Q on the inputs of `touchstone generate
               orthogonal.cwy_apply --size bench` (V, h): y = h - (U^T S^-1 U h^T)^T.

  orthogonal_cwy.py KIND INPUT.npz [REPEATS] [THREADS]
Prints "<kind> torch <threads> threads: median X s over R (min Y) [sum, max|Q^T Q - I|]".
"""
import sys
import time

import numpy as np
import torch


def cwy_factors(v):
    u = v / torch.linalg.norm(v, dim=1, keepdim=True)
    s = torch.triu(u @ u.T, diagonal=1) + 0.5 * torch.eye(u.shape[0], dtype=u.dtype)
    return u, s


def main():
    kind, path = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    data = np.load(path)
    v = torch.from_numpy(np.ascontiguousarray(data["V"], dtype=np.float32))
    L, N = v.shape
    if kind == "householder":
        a = v.T.contiguous()
        tau = torch.stack([2.0 / (1.0 + torch.sum(a[i + 1:, i] ** 2)) for i in range(L)])
        run = lambda: torch.linalg.householder_product(a, tau)
    elif kind == "cwy":
        def run():
            u, s = cwy_factors(v)
            w = torch.linalg.solve_triangular(s, u, upper=True)
            return torch.eye(N, dtype=v.dtype) - u.T @ w
    elif kind == "apply":
        h = torch.from_numpy(np.ascontiguousarray(data["h"], dtype=np.float32))
        def run():
            u, s = cwy_factors(v)
            return h - (u.T @ torch.linalg.solve_triangular(s, u @ h.T, upper=True)).T
    else:
        sys.exit("KIND: householder, cwy or apply")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    times.sort()
    extra = ""
    if kind != "apply":
        extra = ", max|Q^T Q - I| %.3g" % (out.T @ out - torch.eye(out.shape[1])).abs().max().item()
    print("%s torch %d threads N=%d L=%d: median %.4f s over %d (min %.4f) [sum %.6e%s]"
          % (kind, threads, N, L, times[len(times) // 2], repeats, times[0], out.sum().item(), extra))


if __name__ == "__main__":
    main()
