#!/bin/bash
# covers: S4-CAUCHY-ANY-ORDER
# `touchstone diff s4.cauchy` of numpy's evaluation of the Cauchy kernel the way state-spaces/s4's
# cauchy_naive does it (conjugate halves concatenated, v / (z - w) broadcast, summed), in
# complex64 and complex128, on the default problems: within the any-order bound. The same sums
# without the conjugate halves (the other convention) are rejected.
# Usage: cauchy_peer_test.sh TOUCHSTONE PYTHON3. Exit 77 (skipped) without numpy.
set -u
ts=$1
py=$2
"$py" -c "import numpy" 2>/dev/null || { echo "skipped: $py has no numpy"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
peer='
import sys, numpy as np
f = np.load(sys.argv[1]); conj = sys.argv[3]; ct = np.complex64 if sys.argv[4] == "float32" else np.complex128
c = lambda a: (a[..., 0] + 1j * a[..., 1]).astype(ct)
v, w, z = c(f["v"]), c(f["w"]), c(f["z"])
if conj == "halves":
    v = np.concatenate([v, v.conj()], -1); w = np.concatenate([w, w.conj()], -1)
out = (v[:, None, :] / (z[None, :, None] - w[:, None, :])).sum(-1)
np.savez(sys.argv[2], out=out)
'
fail=0
for fmt in float32 float64; do
  for spec in "tiny halves" "small full" "medium halves"; do
    set -- $spec
    "$ts" generate s4.cauchy --size "$1" --format "$fmt" --output "$work/in.npz" >/dev/null || exit 1
    "$py" -c "$peer" "$work/in.npz" "$work/out.npz" "$2" "$fmt" || exit 1
    out=$("$ts" diff s4.cauchy --inputs "$work/in.npz" --outputs "$work/out.npz" --option conj="$2")
    if [ $? -ne 0 ] || ! grep -q 'verdict: PASS' <<<"$out"; then echo "FAIL: $fmt $1"; echo "$out"; fail=1; else echo "ok: numpy $fmt $1 within the any-order bound"; fi
  done
done
"$ts" generate s4.cauchy --size medium --format float64 --output "$work/in.npz" >/dev/null
"$py" -c "$peer" "$work/in.npz" "$work/out.npz" full float64
out=$("$ts" diff s4.cauchy --inputs "$work/in.npz" --outputs "$work/out.npz" --option conj=halves)
if [ $? -ne 1 ]; then echo "FAIL: the full-convention sums were not rejected"; echo "$out"; fail=1; else echo "ok: the other convention is outside the bound"; fi
exit $fail
