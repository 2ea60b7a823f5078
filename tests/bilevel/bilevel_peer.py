"""higher (PyPI) on touchstone's quadratic bilevel problems, for tests/bilevel/bilevel_peer_test.sh.

Reads a problem .npz written by `touchstone generate bilevel.quadratic.*` (A as a matrix or its
diagonal, c, theta, alpha, r) and writes {"grad": ...} computed by higher's differentiable inner
loop: the inner loss 1/2 (phi - c)^T A (phi - c) minimized by r steps of torch.optim.SGD(lr=alpha)
from phi_0 = theta, the outer loss the same quadratic at phi_r. Mode `exact`: the hypergradient
dM/dtheta by backpropagating through the unrolled loop (copy_initial_weights=False, higher's MAML);
mode `fom`: track_higher_grads=False, the gradient of the outer loss at phi_r (first-order MAML).
The arithmetic is DTYPE (float32 or float64; the problem's values are representable in it when
generated with that --format). Nothing of higher's code is copied here.
Usage: bilevel_peer.py exact|fom DTYPE IN.npz OUT.npz
"""
import sys

import higher
import numpy as np
import torch


class Point(torch.nn.Module):
    """The inner variable phi as the one parameter of a module (higher patches modules)."""

    def __init__(self, theta):
        super().__init__()
        self.phi = torch.nn.Parameter(theta)


def main():
    mode, dtype_name, src, dst = sys.argv[1:5]
    a = np.load(src)
    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    A = torch.tensor(a["A"], dtype=dtype)
    if A.dim() == 1:
        A = torch.diag(A)
    c = torch.tensor(a["c"], dtype=dtype)
    alpha, r = float(a["alpha"]), int(a["r"])

    def loss(phi):
        d = phi - c
        return 0.5 * d @ (A @ d)

    model = Point(torch.tensor(a["theta"], dtype=dtype))
    opt = torch.optim.SGD(model.parameters(), lr=alpha)
    exact = mode == "exact"
    with higher.innerloop_ctx(model, opt, copy_initial_weights=False, track_higher_grads=exact) as (fmodel, diffopt):
        for _ in range(r):
            diffopt.step(loss(fmodel.phi))
        outer = loss(fmodel.phi)
        if exact:
            (g,) = torch.autograd.grad(outer, model.phi)
        else:
            (g,) = torch.autograd.grad(outer, fmodel.phi)
    np.savez(dst, grad=g.detach().numpy())


if __name__ == "__main__":
    main()
