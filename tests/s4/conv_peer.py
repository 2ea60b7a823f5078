# The peers' FFT convolutions on a touchstone input file, in PyTorch float32 (our own code, in the
# peers' style): state-spaces/s4 FFTConv (n = L + Lk: irfft(rfft(u, n) * rfft(k, n), n)[..., :L]
# + D u) and annotated-s4's causal_convolution (n = 2L, the kernel of length L).
# Usage: conv_peer.py IN.npz OUT.npz {fftconv|annotated|noncausal}
import sys

import numpy as np
import torch

d = np.load(sys.argv[1])
style = sys.argv[3]
u = torch.tensor(d["u"].astype(np.float32))
k = torch.tensor(d["k"].astype(np.float32))
L = u.shape[-1]
if style == "annotated":
    k = torch.nn.functional.pad(k[..., :L], (0, max(0, L - k.shape[-1])))
    n = 2 * L
else:
    n = L + k.shape[-1]
y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)
# 'noncausal' keeps the wrong window (the circular wrap-around's end): must fail.
y = y[..., n - L:] if style == "noncausal" else y[..., :L]
if "D" in d:
    y = y + torch.tensor(d["D"].astype(np.float32))[:, None] * u
np.savez(sys.argv[2], y=y.numpy())
