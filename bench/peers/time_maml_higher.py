"""Times higher's (PyPI) MAML hypergradient on a touchstone MAML sinusoid problem: the same tasks and
initial weights as the entry's generated problem (write the .npz with `touchstone generate
bilevel.maml.exact_stored --size bench --format float32 --output maml_r10.npz`; sizes bench, r100,
r300, r1000 give r = 10, 100, 300, 1000 at h = 40, K = 10). The computation is
tests/bilevel/maml_peer.py's `run` (the one the peer test judges with `touchstone diff`):
higher.innerloop_ctx over torch.optim.SGD, r steps on the support MSE, the query MSE
differentiated to the initial weights. Prints the median (and min, max) of the repeats in
milliseconds, torch's import and the first (warm-up) call excluded.

    $(scripts/peer_venv.sh) bench/peers/time_maml_higher.py maml_r10.npz --repeats 5 --threads 1

--mode fom times the first-order gradient (track_higher_grads=False) instead; --library torchopt
times torchopt.MetaSGD the same way.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "bilevel"))
from maml_peer import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", choices=("exact", "fom"), default="exact")
    ap.add_argument("--library", choices=("higher", "torchopt"), default="higher")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    a = dict(np.load(args.inputs))
    run(args.library, args.mode, dtype, a)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run(args.library, args.mode, dtype, a)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{args.library} {args.mode} {args.dtype} r={int(a['r'])}: median {statistics.median(times):.3f} ms "
          f"(min {min(times):.3f}, max {max(times):.3f}, {args.repeats} repeats, {args.threads} thread(s))")


if __name__ == "__main__":
    main()
