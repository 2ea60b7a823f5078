"""An independent float64 selective scan (mamba_ssm's selective_scan_fn semantics, spec/mamba.md
[MAMBA-SCAN-DEF]) in numpy, written for these tests: what touchstone.eval's oracle is compared
with, so that the test can fail if the package hands core the wrong arrays."""

import numpy as np


def per_channel(X, b, d, n, L):
    """B or C as (b, d, n, L) from (d, n), (b, n, L) or (b, groups, n, L)."""
    if X.ndim == 2:
        return np.broadcast_to(X[None, :, :, None], (b, d, n, L))
    if X.ndim == 3:
        return np.broadcast_to(X[:, None], (b, d, n, L))
    return np.repeat(X, d // X.shape[1], axis=1)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, h0=None,
                   delta_softplus=False):
    u, delta, A = (np.asarray(x, dtype=np.float64) for x in (u, delta, A))
    b, d, L = u.shape
    n = A.shape[1]
    dt = delta + (0 if delta_bias is None else np.asarray(delta_bias, np.float64)[:, None])
    if delta_softplus:
        dt = np.where(dt > 20, dt, np.log1p(np.exp(np.minimum(dt, 20))))
    Bx = per_channel(np.asarray(B, np.float64), b, d, n, L)
    Cx = per_channel(np.asarray(C, np.float64), b, d, n, L)
    h = np.zeros((b, d, n)) if h0 is None else np.asarray(h0, np.float64).copy()
    y = np.empty((b, d, L))
    for t in range(L):
        h = np.exp(dt[:, :, t, None] * A) * h + dt[:, :, t, None] * Bx[..., t] * u[:, :, t, None]
        y[:, :, t] = (h * Cx[..., t]).sum(-1)
    out = y if D is None else y + u * np.asarray(D, np.float64)[:, None]
    if z is not None:
        z = np.asarray(z, np.float64)
        out = out * z / (1 + np.exp(-z))
    return out, h
