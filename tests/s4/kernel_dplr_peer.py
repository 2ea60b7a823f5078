"""A numpy float64 evaluation of the DPLR kernel the way annotated-s4's kernel_DPLR and
state-spaces/s4 do it (nodes from exp, g = (2/step)(1 - w)/(1 + w), c = 2/(1 + w), Cauchy sums by
broadcasting, rank-1 Woodbury, inverse FFT), written here from the algorithm's description, for
`touchstone diff s4.kernel_dplr` (tests/s4/kernel_dplr_peer_test.sh).
Usage: kernel_dplr_peer.py IN.npz OUT.npz L CONJ [float32|float64]"""
import sys

import numpy as np


def as_complex(a):
    a = np.asarray(a)
    return a if np.iscomplexobj(a) else a[..., 0] + 1j * a[..., 1]


def main():
    src, dst, L, conj = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ct = np.complex64 if len(sys.argv) > 5 and sys.argv[5] == "float32" else np.complex128
    rt = np.float32 if ct == np.complex64 else np.float64
    f = np.load(src)
    Lam, P, B, C = (np.atleast_2d(as_complex(f[k])).astype(ct) for k in ("Lambda", "P", "B", "C"))
    Q = np.atleast_2d(as_complex(f["Q"])).astype(ct) if "Q" in f else P
    step = np.atleast_1d(f["step"]).astype(rt)
    H = max(x.shape[0] for x in (Lam, P, Q, B, C, step[:, None]))
    if conj == "halves":
        Lam, P, Q, B, C = (np.concatenate([x, x.conj()], -1) for x in (Lam, P, Q, B, C))
    w = np.exp(-2j * np.pi * np.arange(L) / L).astype(ct)
    out = np.zeros((H, L), dtype=rt)
    for h in range(H):
        lam, p, q, b, c = (x[h % x.shape[0]] for x in (Lam, P, Q, B, C))
        dt = step[h % step.shape[0]]
        g = (rt(2) / dt) * (1 - w) / (1 + w)
        cf = rt(2) / (1 + w)
        R = rt(1) / (g[:, None] - lam[None, :])
        k00 = (R * (c.conj() * b)).sum(-1)
        k01 = (R * (c.conj() * p)).sum(-1)
        k10 = (R * (q.conj() * b)).sum(-1)
        k11 = (R * (q.conj() * p)).sum(-1)
        gen = cf * (k00 - k01 * k10 / (1 + k11))
        out[h] = np.fft.ifft(gen, L).real
    np.savez(dst, K=out)


main()
