#!/bin/bash
# covers: S4CONV-CONV-BOUND-ANY S4CONV-CONV-PEER
# `touchstone diff` of the peers' FFT convolutions (PyTorch float32, tests/s4/conv_peer.py:
# state-spaces/s4 FFTConv with n = L + Lk, annotated-s4's causal_convolution with n = 2L) against
# the oracle within the any-order bound; a wrong output window fails.
# Usage: conv_peer_test.sh TOUCHSTONE PYTHON3. Exit 77 (skipped) without torch.
set -u
ts=$1
py=$2
here=$(cd "$(dirname "$0")" && pwd)
"$py" -c "import torch, numpy" 2>/dev/null || { echo "skipped: $py has no torch/numpy"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for size in tiny small medium; do
  "$ts" generate s4.causal_conv --size "$size" --format float32 --output "$work/in.npz" >/dev/null ||
    { echo "generate $size failed"; exit 1; }
  for style in fftconv annotated; do
    "$py" "$here/conv_peer.py" "$work/in.npz" "$work/y.npz" "$style" || { echo "peer $style failed"; exit 1; }
    out=$("$ts" diff s4.causal_conv --inputs "$work/in.npz" --outputs "$work/y.npz")
    if [ $? -ne 0 ] || ! grep -q 'verdict: PASS' <<<"$out"; then
      echo "FAIL: $style, size $size"; echo "$out"; fail=1
    else
      echo "ok: $style within the any-order bound, size $size ($(grep -o 'max err/bound [0-9.e+-]*' <<<"$out"))"
    fi
  done
done
"$py" "$here/conv_peer.py" "$work/in.npz" "$work/bad.npz" noncausal
out=$("$ts" diff s4.causal_conv --inputs "$work/in.npz" --outputs "$work/bad.npz")
if grep -q 'verdict: PASS' <<<"$out"; then echo "FAIL: a wrong window passed"; fail=1; else echo "ok: a wrong window fails"; fi
exit $fail
