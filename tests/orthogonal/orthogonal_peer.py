"""Runs PyTorch on touchstone problems and writes its outputs (tests/orthogonal/orthogonal_peer_test.sh):
torch.linalg.householder_product (LAPACK's orgqr on the CPU), and the CWY / T-CWY formulas written
in torch (normalize, S = I/2 + triu(U U^T, 1), solve_triangular) with autograd for their VJPs. One
process runs every job, so torch is imported once. Everything in the input's dtype.

Usage: orthogonal_peer.py JOB [JOB ...], each JOB is MODE,IN.npz,OUT.npz[,DTYPE] (DTYPE float32 or
float64; without it the input arrays' dtype):
  lapack      torch.linalg.householder_product(A, tau) -> Q
  cayley      torch.nn.utils.parametrizations.orthogonal(orthogonal_map="cayley") of the skew A -> Q;
              with dQ in the file, autograd's gradient of the parametrization's original -> dA
  matrix_exp  the same with orthogonal_map="matrix_exp" -> Q, or dA with dQ in the file
  qr          torch.linalg.qr(Y)'s Q times sign(diag R) (R's diagonal made positive) -> Q
  qr_raw      torch.linalg.qr(Y)'s Q as LAPACK gives it (R's diagonal of either sign) -> Q
  unskewed_backward   the wrong exp gradient: autograd with respect to the skew A, tril(., -1) -> dA
  reversed    the wrong order: the first n columns of H_k ... H_1 (explicit matrices, float32) -> Q
  full        the wrong shape convention made to fit: columns n-1.. of the full m x m product,
              i.e. the last n columns instead of the first n (float32) -> Q
  cwy, tcwy   Q = I - U^T S^-1 U (tcwy: its first M columns) by the formulas in torch   -> Q / Omega
  cwy_backward, tcwy_backward   autograd of the same with the file's dQ / dOmega             -> dV
  unnormalized_backward   the wrong VJP: autograd with respect to U = V / |V| (the normalization
              left out of the chain rule), reported as dV                             -> dV
  polar_svd   U V^T of torch.linalg.svd(A, full_matrices=False) -> Q (the polar factor)
  polar_svd_backward  autograd of that U V^T with respect to A for the cotangent dQ -> dA
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


def cwy_job(mode, d, dtype):
    v = torch.from_numpy(d["V"]).to(dtype).requires_grad_(True)
    norm = v.norm(dim=1, keepdim=True)
    u = v / (norm.detach() if mode == "unnormalized_backward" else norm)
    L, N = u.shape
    s = 0.5 * torch.eye(L, dtype=dtype) + torch.triu(u @ u.T, diagonal=1)
    q = torch.eye(N, dtype=dtype) - u.T @ torch.linalg.solve_triangular(s, u, upper=True)
    stiefel = mode.startswith("tcwy")
    if stiefel:
        q = q[:, :L]
    if mode in ("cwy", "tcwy"):
        return {"Omega" if stiefel else "Q": q.detach().numpy()}
    g = torch.from_numpy(d["dOmega" if stiefel else "dQ"]).to(dtype)
    (q * g).sum().backward()
    grad = v.grad
    return {"dV": grad.numpy()}


def parametrized(d, dtype, orthogonal_map):
    """torch's own orthogonal parametrization without the trivialization: the parametrized weight's
    original is set to the problem's A (torch forms the skew tril(A) - tril(A)^T from it, as
    orthogonal.cayley and orthogonal.matrix_exp do). With a cotangent dQ in the file, the gradient of
    sum(weight * dQ) with respect to the original (autograd) is returned as dA, else the weight as Q."""
    a = torch.from_numpy(d["A"]).to(dtype)
    n = a.shape[0]
    layer = torch.nn.Linear(n, n, bias=False).to(dtype)
    param = torch.nn.utils.parametrizations.orthogonal(layer, orthogonal_map=orthogonal_map, use_trivialization=False)
    original = param.parametrizations.weight.original
    with torch.no_grad():
        original.copy_(a)
    if "dQ" not in d:
        return {"Q": param.weight.detach().numpy()}
    (param.weight * torch.from_numpy(d["dQ"]).to(dtype)).sum().backward()
    return {"dA": original.grad.numpy()}


def unskewed_backward(d, dtype):
    """The wrong gradient: autograd of matrix_exp with respect to the skew A itself (a leaf),
    Gamma = L(A^T, dQ), read off as X's gradient by keeping tril(Gamma, -1): the - Gamma^T that the
    construction A = tril(X, -1) - tril(X, -1)^T contributes is missing."""
    x = torch.from_numpy(d["A"]).to(dtype)
    a = (torch.tril(x, -1) - torch.tril(x, -1).T).requires_grad_(True)
    (torch.matrix_exp(a) * torch.from_numpy(d["dQ"]).to(dtype)).sum().backward()
    return {"dA": torch.tril(a.grad, -1).numpy()}


for job in sys.argv[1:]:
    # MODE,IN,OUT[,DTYPE]: the arithmetic is DTYPE (the problems' values are representable in it;
    # `touchstone generate` writes them as float64 arrays whatever its --format).
    fields = job.split(",")
    mode, src, dst = fields[:3]
    given = {"float32": torch.float32, "float64": torch.float64}.get(fields[3]) if len(fields) > 3 else None
    if mode == "geqrf":
        g = np.random.default_rng(20261207)
        a, tau = torch.geqrf(torch.from_numpy(g.standard_normal((9, 6)).astype(np.float32)))
        np.savez(dst, A=a.numpy(), tau=tau.numpy())
        continue
    d = load(src)
    dtype = given or (torch.float64 if next(iter(d.values())).dtype == np.float64 else torch.float32)
    if mode in ("cwy", "tcwy", "cwy_backward", "tcwy_backward", "unnormalized_backward"):
        np.savez(dst, **cwy_job(mode, d, dtype))
        continue
    if mode in ("cayley", "matrix_exp"):
        np.savez(dst, **parametrized(d, dtype, mode))
        continue
    if mode in ("qr", "qr_raw"):
        q, r = torch.linalg.qr(torch.from_numpy(d["Y"]).to(dtype))
        if mode == "qr":  # the sign normalization: R's diagonal positive
            q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        np.savez(dst, Q=q.numpy())
        continue
    if mode == "polar_svd":  # the polar factor as U V^T of torch's thin SVD (LAPACK gesdd)
        u, _, vh = torch.linalg.svd(torch.from_numpy(d["A"]).to(dtype), full_matrices=False)
        np.savez(dst, Q=(u @ vh).numpy())
        continue
    if mode == "polar_svd_backward":  # autograd of U V^T (torch's thin SVD) with respect to A, cotangent dQ
        a = torch.from_numpy(d["A"]).to(dtype).requires_grad_(True)
        u, _, vh = torch.linalg.svd(a, full_matrices=False)
        (u @ vh).backward(torch.from_numpy(d["dQ"]).to(dtype))
        np.savez(dst, dA=a.grad.numpy())
        continue
    if mode == "unskewed_backward":
        np.savez(dst, **unskewed_backward(d, dtype))
        continue
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
