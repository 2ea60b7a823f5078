#!/usr/bin/python3
"""Times state-spaces/s4's naive PyTorch Cauchy and Vandermonde kernels on touchstone's inputs.

The peer's own functions (`cauchy_naive`, `log_vandermonde_naive` and the `_conj` helper of
models/s4/s4.py) are read at run time from a local git mirror of state-spaces/s4 (the `fetch`
tool's /work/.mirror/state-spaces+s4/repo, or any clone): nothing of the peer is committed here.
Its module imports pytorch_lightning, einops, scipy and opt_einsum, which Debian does not ship, so
the three definitions are taken out of the file with `ast` and run with torch alone;
`opt_einsum.contract` is replaced by `torch.einsum` (the same contraction).

  cauchy       inputs of `touchstone generate s4.cauchy`: v (H, N/2), z (L,), w (H, N/2), complex;
               times cauchy_naive(v, z, w) (the conjugate halves appended by the peer's _conj).
  vandermonde  inputs of `touchstone generate s4d.kernel` (zoh, halves): A, B, C (H, N/2), dt or
               log_dt (H,), L; times the peer's ZOH S4D kernel: dtA = dt A,
               v = C B (e^dtA - 1) / A, K = log_vandermonde_naive(v, dtA, L) = 2 Re sum v e^(dtA l)
               (what SSMKernelDiag.forward computes with disc='zoh' on the naive backend).

  dplr         inputs of `touchstone generate s4.kernel_dplr` (Lambda, P, B (N/2,), C (H, N/2),
               step (H,), L): the peer's whole SSMKernelDPLR.forward with backend='naive' (Cauchy
               by cauchy_naive, the rank-1 Woodbury correction, the bilinear factor, irfft), its
               parameters set to these values (A_real = log(-Re Lambda), A_imag = -Im Lambda,
               inv_dt = log(step), C taken as the already-transformed C~: l_kernel = L). This needs
               the peer's module itself, so einops, opt_einsum and scipy must be importable
               (e.g. `python3 -m venv --system-site-packages V; V/bin/pip install einops
               opt_einsum scipy`); pytorch_lightning, used only for a logging decorator, is
               replaced by a stub.

Prints one line: "<kind> PyTorch naive (complex64): median X ms over R runs (T threads)".
"""
import argparse
import ast
import importlib.util
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import torch


def peer_functions(mirror):
    source = subprocess.run(["git", "--git-dir", mirror, "show", "HEAD:models/s4/s4.py"],
                            check=True, capture_output=True, text=True).stdout
    tree = ast.parse(source)
    wanted = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("cauchy_naive", "log_vandermonde_naive"):
            wanted.append(node)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_conj" for t in node.targets):
            wanted.append(node)
    names = sorted(getattr(n, "name", "_conj") for n in wanted)
    if names != ["_conj", "cauchy_naive", "log_vandermonde_naive"]:
        raise SystemExit(f"peer file changed: found {names}")
    module = ast.Module(body=wanted, type_ignores=[])
    namespace = {"torch": torch, "contract": torch.einsum}
    exec(compile(module, "state-spaces/s4:models/s4/s4.py", "exec"), namespace)
    return namespace


def peer_module(mirror):
    """The peer's models/s4/s4.py as a module (for the whole DPLR kernel)."""
    source = subprocess.run(["git", "--git-dir", mirror, "show", "HEAD:models/s4/s4.py"],
                            check=True, capture_output=True, text=True).stdout
    stub = types.ModuleType("pytorch_lightning")
    stub.utilities = types.ModuleType("pytorch_lightning.utilities")
    stub.utilities.rank_zero_only = lambda f: f
    sys.modules.setdefault("pytorch_lightning", stub)
    sys.modules.setdefault("pytorch_lightning.utilities", stub.utilities)
    path = tempfile.NamedTemporaryFile("w", suffix="_peer_s4.py", delete=False)
    path.write(source)
    path.close()
    spec = importlib.util.spec_from_file_location("peer_s4", path.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dplr_runner(mirror, npz):
    peer = peer_module(mirror)
    Lam, P, B = complex_array(npz, "Lambda"), complex_array(npz, "P"), complex_array(npz, "B")
    C = complex_array(npz, "C")
    step = torch.from_numpy(npz["step"]).float()
    L = int(npz["L"])
    H, N = C.shape
    if Lam.dim() != 1:
        raise SystemExit("dplr: a Lambda shared by the channels ((N,)) is expected")
    kernel = peer.SSMKernelDPLR(d_model=H, n_ssm=1, d_state=2 * N, l_max=L, backend="naive",
                                verbose=False)
    with torch.no_grad():
        kernel.A_real.copy_(torch.log(-Lam.real).reshape(1, N))
        kernel.A_imag.copy_((-Lam.imag).reshape(1, N))
        kernel.B.copy_(torch.view_as_real(B.reshape(1, N)))
        kernel.P.copy_(torch.view_as_real(P.reshape(1, 1, N)))
        kernel.C.copy_(torch.view_as_real(C.reshape(1, H, N)))
        kernel.inv_dt.copy_(torch.log(step).reshape(kernel.inv_dt.shape))
        kernel.l_kernel.fill_(L)
    return lambda: kernel(L=L)[0]


def complex_array(npz, name):
    a = npz[name]
    if np.iscomplexobj(a):
        return torch.from_numpy(a.astype(np.complex64))
    return torch.from_numpy((a[..., 0] + 1j * a[..., 1]).astype(np.complex64))


def median_ms(fn, repeats):
    fn()  # warm-up (allocations, thread pool)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mirror", help="git dir of state-spaces/s4")
    ap.add_argument("kind", choices=["cauchy", "vandermonde", "dplr"])
    ap.add_argument("inputs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--output", help="write the peer's result here (.npy), for `touchstone diff`")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peer = peer_functions(args.mirror)
    npz = np.load(args.inputs)
    with torch.no_grad():
        if args.kind == "dplr":
            run = dplr_runner(args.mirror, npz)
        elif args.kind == "cauchy":
            v, z, w = complex_array(npz, "v"), complex_array(npz, "z"), complex_array(npz, "w")
            run = lambda: peer["cauchy_naive"](v, z, w)
        else:
            A, C = complex_array(npz, "A"), complex_array(npz, "C")
            B = complex_array(npz, "B") if "B" in npz.files else torch.ones_like(A)
            dt = torch.from_numpy(np.exp(npz["log_dt"]) if "log_dt" in npz.files else npz["dt"]).float()
            L = int(npz["L"])
            for flag in ("disc", "conj"):  # the peer's naive path: zoh, conjugate halves (2 Re)
                if flag in npz.files and int(npz[flag]) != 0:
                    raise SystemExit(f"{flag} = {int(npz[flag])}: only zoh halves problems are timed")

            def run():
                dtA = dt.unsqueeze(-1) * A
                v = C * B * (torch.exp(dtA) - 1.0) / A
                return peer["log_vandermonde_naive"](v, dtA, L)
        ms = median_ms(run, args.repeats)
        if args.output:
            out = run()
            np.save(args.output, torch.view_as_real(out).numpy() if out.is_complex() else out.numpy())
    print(f"{args.kind} PyTorch naive (complex64): median {ms:.2f} ms over {args.repeats} runs "
          f"({args.threads} threads)")


if __name__ == "__main__":
    main()
