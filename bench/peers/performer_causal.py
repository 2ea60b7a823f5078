"""performer-pytorch's causal FAVOR+ forward and backward on the CPU, timed (bench/RESULTS.md):
softmax_kernel for queries and keys, causal_linear_attention_noncuda, and the backward of a sum
against random cotangents, at batch x heads 8, L 4096, d 64, m 256 in float32 (the sizes of
issue 10; touchstone's entries use the same sizes under --size bench).

Usage: performer_causal.py [REPEATS] [THREADS]   prints the median seconds of fwd+bwd.
Runs in the peers' venv (scripts/peer_venv.sh).
"""
import statistics
import sys
import time

import torch
from performer_pytorch import performer_pytorch as lr

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
g = torch.Generator().manual_seed(0)
b, h, L, d, m = 1, 8, 4096, 64, 256
w = torch.randn(m, d, generator=g)
q0, k0, v0 = (torch.randn(b, h, L, d, generator=g) for _ in range(3))
dout = torch.randn(b, h, L, d, generator=g)
times = []
for _ in range(repeats):
    q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
    start = time.perf_counter()
    qf = lr.softmax_kernel(q, projection_matrix=w, is_query=True)
    kf = lr.softmax_kernel(k, projection_matrix=w, is_query=False)
    out = lr.causal_linear_attention_noncuda(qf, kf, v)
    out.backward(dout)
    times.append(time.perf_counter() - start)
print(f"performer-pytorch causal FAVOR+ fwd+bwd: median {statistics.median(times):.3f} s over {repeats} "
      f"(min {min(times):.3f}), {torch.get_num_threads()} threads")
