"""higher and torchopt (PyPI) on touchstone's MAML sinusoid problems, for tests/bilevel/maml_peer_test.sh.

Reads a problem .npz written by `touchstone generate bilevel.maml.*` (x_support, y_support, x_query,
y_query, the initial weights W1, b1, W2, b2, W3, b3 in PyTorch's layout, alpha, r) and writes
grad_W1 ... grad_b3: the MLP torch.nn.Sequential(Linear(1, h), ReLU, Linear(h, h), ReLU, Linear(h, 1))
with its parameters set from those arrays, the inner loss F.mse_loss on the support
points minimized by r steps of SGD with step alpha, the outer loss F.mse_loss on the query points.
Mode `exact`: the MAML hypergradient with respect to the initial weights (backpropagation through
the unrolled loop); mode `fom`: the gradient of the outer loss at the adapted weights (first-order
MAML). Library `higher`: higher.innerloop_ctx over torch.optim.SGD (copy_initial_weights=False;
track_higher_grads=False for fom); library `torchopt`: torchopt.MetaSGD stepping the module in
place (its explicit differentiation), the exact hypergradient by torch.autograd.grad to the saved
initial parameters, fom by torch.autograd.grad to the adapted ones (the module's parameters after
the steps). DTYPE float32 or float64.
Nothing of either library's code is copied here.
Usage: maml_peer.py OUTDIR DTYPE:IN.npz ...   (writes OUTDIR/<stem>.<higher|torchopt>.<exact|fom>.npz)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")  # the order of Sequential's parameters


def build(a, dtype):
    h = a["W1"].shape[0]
    net = torch.nn.Sequential(torch.nn.Linear(1, h), torch.nn.ReLU(), torch.nn.Linear(h, h), torch.nn.ReLU(),
                              torch.nn.Linear(h, 1)).to(dtype)
    with torch.no_grad():
        for p, name in zip(net.parameters(), NAMES):
            p.copy_(torch.tensor(a[name], dtype=dtype).reshape(p.shape))
    return net


def run(lib, mode, dtype, a):
    """The gradient arrays of `lib` in `mode` on the problem `a` (an np.load of the .npz)."""
    xs, ys, xq, yq = (torch.tensor(a[k], dtype=dtype).reshape(-1, 1) for k in ("x_support", "y_support", "x_query", "y_query"))
    alpha, r = float(a["alpha"]), int(a["r"])
    net = build(a, dtype)
    exact = mode == "exact"
    initial = list(net.parameters())
    if lib == "higher":
        import higher

        opt = torch.optim.SGD(net.parameters(), lr=alpha)
        with higher.innerloop_ctx(net, opt, copy_initial_weights=False, track_higher_grads=exact) as (fnet, diffopt):
            for _ in range(r):
                diffopt.step(F.mse_loss(fnet(xs), ys))
            outer = F.mse_loss(fnet(xq), yq)
            grads = torch.autograd.grad(outer, initial if exact else list(fnet.parameters()))
    else:
        import torchopt

        opt = torchopt.MetaSGD(net, lr=alpha)
        for _ in range(r):
            opt.step(F.mse_loss(net(xs), ys))
        outer = F.mse_loss(net(xq), yq)
        grads = torch.autograd.grad(outer, initial if exact else list(net.parameters()))
    return {"grad_" + name: g.detach().numpy() for name, g in zip(NAMES, grads)}


def main():
    # One process for every problem (importing torch takes seconds): each argument DTYPE:IN.npz
    # gives OUTDIR/<IN's stem>.<lib>.<mode>.npz for both libraries and both modes.
    out_dir = sys.argv[1]
    for arg in sys.argv[2:]:
        dtype_name, src = arg.split(":", 1)
        dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
        a = np.load(src)
        stem = os.path.splitext(os.path.basename(src))[0]
        for lib in ("higher", "torchopt"):
            for mode in ("exact", "fom"):
                np.savez(os.path.join(out_dir, f"{stem}.{lib}.{mode}.npz"), **run(lib, mode, dtype, a))


if __name__ == "__main__":
    main()
