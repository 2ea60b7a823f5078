"""The selective scan as mamba_ssm's `selective_scan_ref` computes it, in PyTorch.

Written from the semantics in shared/briefs/mamba.md §1 (not copied from the peer): inputs are
upcast to float32, delta gets delta_bias and an optional softplus (PyTorch's threshold 20), the
exponentials and Euler inputs are materialized in the peer's (batch, dim, seqlen, dstate) layout,
and a Python loop over time updates the state. This is the "PyTorch reference" that touchstone's benchmarks
compare against and that the CLI tests use as an independent implementation for `diff`.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import torch
import torch.nn.functional as F


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                       delta_softplus=False, h0=None):
    dtype_in = u.dtype
    u = u.float()
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].float()
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, seqlen = u.shape
    dstate = A.shape[1]

    def per_channel(X):
        # Constant (dim, N) stays (dim, N); variable (batch, [G,] N, L) -> (batch, dim, N, L) with
        # channel d reading group d // (dim / G).
        X = X.float()
        if X.dim() == 2:
            return X
        if X.dim() == 3:
            X = X[:, None]
        return X.repeat_interleave(dim // X.shape[1], dim=1)

    Bx, Cx = per_channel(B), per_channel(C)
    # Materialized discretization in the peer's (batch, dim, L, N) layout, so that the slice of
    # one time step is contiguous: exp(dt A) and dt B u over every (b, d, t, n).
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A.float()))
    if Bx.dim() == 2:
        dBu = torch.einsum("bdl,dn,bdl->bdln", delta, Bx, u)
    else:
        dBu = torch.einsum("bdl,bdnl,bdl->bdln", delta, Bx, u)
    x = h0.float().clone() if h0 is not None else u.new_zeros((batch, dim, dstate))
    ys = []
    for t in range(seqlen):
        x = dA[:, :, t] * x + dBu[:, :, t]
        if Cx.dim() == 2:
            ys.append(torch.einsum("bdn,dn->bd", x, Cx))
        else:
            ys.append(torch.einsum("bdn,bdn->bd", x, Cx[:, :, :, t]))
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    return out.to(dtype_in), x
