"""The selective scan at 256 bits in mpmath, for the oracle-throughput comparison of
bench/oracle_throughput.sh: the same problem touchstone's MPFR oracle evaluates, the same
formula (spec/mamba.md [MAMBA-SCAN-DEF]: delta + delta_bias through softplus, h_t = exp(delta A)
h_{t-1} + delta B u, y = C h + D u, times silu(z)), written here from the spec, one core.

    /usr/bin/python3 bench/peers/mpmath_scan.py inputs.npz [BITS]
prints the wall time and the state updates per second (one update: one (b, d, n, t)).
"""
import sys
import time

import mpmath
import numpy as np


def main():
    a = np.load(sys.argv[1])
    mpmath.mp.prec = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    mpf = mpmath.mpf
    u, delta, A, B, C, D, z, bias = (a[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias"))
    batch, dim, L = u.shape
    n = A.shape[1]
    t0 = time.perf_counter()
    out = np.empty((batch, dim, L))
    for b in range(batch):
        for d in range(dim):
            Ad = [mpf(float(A[d, k])) for k in range(n)]
            h = [mpf(0)] * n
            for t in range(L):
                x = mpf(float(delta[b, d, t])) + mpf(float(bias[d]))
                dt = mpmath.log1p(mpmath.exp(x))
                ut = mpf(float(u[b, d, t]))
                y = mpf(0)
                for k in range(n):
                    h[k] = mpmath.exp(dt * Ad[k]) * h[k] + dt * mpf(float(B[b, k, t])) * ut
                    y += mpf(float(C[b, k, t])) * h[k]
                zt = mpf(float(z[b, d, t]))
                out[b, d, t] = float((y + mpf(float(D[d])) * ut) * zt / (1 + mpmath.exp(-zt)))
    s = time.perf_counter() - t0
    updates = batch * dim * L * n
    print(f"mpmath {mpmath.mp.prec} bits: {s:.2f} s, {updates / s:.4g} state updates/s "
          f"(batch {batch} dim {dim} L {L} N {n}, one core)")
    np.save(sys.argv[1] + ".mpmath_out.npy", out)


if __name__ == "__main__":
    main()
