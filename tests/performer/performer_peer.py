"""Runs the Performer peers on a touchstone problem and writes their outputs (tests/performer/
performer_peer_test.sh): performer-pytorch 1.1.4 from PyPI (softmax_kernel, linear_attention,
causal_linear_attention_noncuda) and PyTorch's own softmax attention, all in float32 on the CPU.

Usage: performer_peer.py MODE IN.npz OUT.npz
  features  softmax_kernel(x, projection_matrix, is_query, eps)        -> features
  generalized  generalized_kernel(x, projection_matrix, kernel_fn, kernel_eps) with the file's
            kernel (relu: nn.ReLU(); elu1: F.elu(t) + 1; abs, sqr, exp, identity) -> features
  linear    linear_attention(q, k, v)                                   -> out
  causal    causal_linear_attention_noncuda(q, k, v) (chunk_size=128, eps=1e-6) -> out
  softmax   softmax(q k^T / sqrt(d)) v in torch (causal mask from the file)     -> out
  softmax_backward, linear_backward, causal_backward   torch autograd of the three above with
            dout from the file                                          -> dq, dk, dv
  features_backward   autograd of softmax_kernel with dfeatures        -> dx
  generalized_backward   autograd of generalized_kernel with dfeatures  -> dx
  gaussian_orthogonal  gaussian_orthogonal_random_matrix(nb_rows, nb_columns, scaling) with
            torch.randn fed the file's unstructured_block (one block per call, in order) and then
            multiplier_gaussians (scaling 0)                          -> projection_matrix
  gaussian_orthogonal_signfix  the same with torch.linalg.qr's Q times sign(diag R) (the spec's
            convention; the peer leaves LAPACK's signs)              -> projection_matrix
  make_causal  (OUT ignored) writes IN: positive features from softmax_kernel of random q, k
            and a Gaussian projection, L = 300, for causal with performer-pytorch's guard
"""
import sys

import numpy as np
import torch
from performer_pytorch import performer_pytorch as lr

mode, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(1)


def load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def f32(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


if mode == "make_causal":
    g = np.random.default_rng(20261207)
    b, h, L, d, m, e = 1, 2, 300, 16, 32, 8
    w = f32(g.standard_normal((m, d)))
    q = lr.softmax_kernel(f32(g.standard_normal((b, h, L, d))), projection_matrix=w, is_query=True)
    k = lr.softmax_kernel(f32(g.standard_normal((b, h, L, d))), projection_matrix=w, is_query=False)
    v = g.standard_normal((b, h, L, e)).astype(np.float32)
    np.savez(src, q=q.numpy(), k=k.numpy(), v=v, causal=np.array(1.0), guard=np.array(2.0),
             guard_eps=np.array(1e-6))
    sys.exit(0)

def torch_softmax_attention(q, k, v, causal):
    s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if causal:
        L = s.shape[-1]
        s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


a = load(src)
GENERALIZED_FNS = [torch.nn.ReLU(), lambda t: torch.nn.functional.elu(t) + 1, torch.abs, lambda t: t * t,
                   torch.exp, lambda t: t]


def generalized(a, x):
    w = f32(a["projection_matrix"]) if "projection_matrix" in a else None
    return lr.generalized_kernel(x, projection_matrix=w, kernel_fn=GENERALIZED_FNS[int(a["kernel"])],
                                 kernel_epsilon=float(a["kernel_eps"]), normalize_data=bool(a["normalize_data"]))


if mode == "generalized_backward":
    x = f32(a["x"]).requires_grad_()
    generalized(a, x).backward(f32(a["dfeatures"]))
    np.savez(dst, dx=x.grad.numpy())
    sys.exit(0)
if mode == "features_backward":
    x = f32(a["x"]).requires_grad_()
    phi = lr.softmax_kernel(x, projection_matrix=f32(a["projection_matrix"]), is_query=bool(a["is_query"]),
                            eps=float(a["eps"]))
    phi.backward(f32(a["dfeatures"]))
    np.savez(dst, dx=x.grad.numpy())
    sys.exit(0)
if mode.startswith("gaussian_orthogonal"):
    # The peer draws its own Gaussians with torch.randn: fed here, in the order it draws them.
    blocks = a["unstructured_block"]
    fed = [f32(b) for b in blocks]
    if "multiplier_gaussians" in a:
        fed.append(f32(a["multiplier_gaussians"]))
    fed.reverse()

    def randn(*shape, **kw):
        t = fed.pop()
        assert tuple(t.shape) == tuple(shape[0] if len(shape) == 1 else shape), (t.shape, shape)
        return t.clone()

    torch.randn = randn
    if mode == "gaussian_orthogonal_signfix":
        qr = torch.linalg.qr

        def signed_qr(x, mode="reduced"):
            q, r = qr(x, mode=mode)
            s = torch.sign(torch.diagonal(r))
            return q * s, r * s[:, None]

        torch.linalg.qr = signed_qr
    elif mode != "gaussian_orthogonal":
        sys.exit("unknown mode " + mode)
    with torch.no_grad():
        w = lr.gaussian_orthogonal_random_matrix(int(a["nb_rows"]), blocks.shape[1], scaling=int(a["scaling"]))
    assert not fed, "the peer drew fewer Gaussians than the file holds"
    np.savez(dst, projection_matrix=w.numpy())
    sys.exit(0)

if mode.endswith("_backward"):
    q, k, v = (f32(a[n]).requires_grad_() for n in "qkv")
    if mode == "softmax_backward":
        out = torch_softmax_attention(q, k, v, bool(a["causal"]))
    elif mode == "linear_backward":
        out = lr.linear_attention(q, k, v)
    elif mode == "causal_backward":
        out = lr.causal_linear_attention_noncuda(q, k, v)
    else:
        sys.exit("unknown mode " + mode)
    out.backward(f32(a["dout"]))
    np.savez(dst, dq=q.grad.numpy(), dk=k.grad.numpy(), dv=v.grad.numpy())
    sys.exit(0)
with torch.no_grad():
    if mode == "features":
        out = lr.softmax_kernel(f32(a["x"]), projection_matrix=f32(a["projection_matrix"]),
                                is_query=bool(a["is_query"]), eps=float(a["eps"]))
        np.savez(dst, features=out.numpy())
    elif mode == "generalized":
        np.savez(dst, features=generalized(a, f32(a["x"])).numpy())
    elif mode == "linear":
        np.savez(dst, out=lr.linear_attention(f32(a["q"]), f32(a["k"]), f32(a["v"])).numpy())
    elif mode == "causal":
        np.savez(dst, out=lr.causal_linear_attention_noncuda(f32(a["q"]), f32(a["k"]), f32(a["v"])).numpy())
    elif mode == "softmax":
        out = torch_softmax_attention(f32(a["q"]), f32(a["k"]), f32(a["v"]), bool(a["causal"]))
        np.savez(dst, out=out.numpy())
    else:
        sys.exit("unknown mode " + mode)
