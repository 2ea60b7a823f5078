#!/bin/bash
# covers: S4-DPLR-ANY-ORDER S4-DPLR-PEER
# `touchstone diff s4.kernel_dplr` of a numpy evaluation the way annotated-s4 / state-spaces/s4
# compute the kernel (nodes from exp, g and c from 1 -+ w, Cauchy sums by broadcasting, inverse
# FFT; tests/s4/kernel_dplr_peer.py) in float32 and float64, against the oracle and the any-order
# bound; and the same outputs with C taken unconjugated (the other convention) are rejected.
# Usage: kernel_dplr_peer_test.sh TOUCHSTONE PYTHON3. Exit 77 (skipped) without numpy.
set -u
ts=$1
py=$2
here=$(cd "$(dirname "$0")" && pwd)
"$py" -c "import numpy" 2>/dev/null || { echo "skipped: $py has no numpy"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for fmt in float32 float64; do
  for spec in "tiny 3 halves" "small 16 full" "medium 64 halves"; do
    set -- $spec
    "$ts" generate s4.kernel_dplr --size "$1" --format "$fmt" --output "$work/in.npz" >/dev/null || { echo "generate failed"; exit 1; }
    "$py" "$here/kernel_dplr_peer.py" "$work/in.npz" "$work/out.npz" "$2" "$3" "$fmt" || { echo "peer failed"; exit 1; }
    out=$("$ts" diff s4.kernel_dplr --inputs "$work/in.npz" --outputs "$work/out.npz" --option L="$2" --option conj="$3")
    if [ $? -ne 0 ] || ! grep -q 'verdict: PASS' <<<"$out"; then
      echo "FAIL: peer kernel $fmt $1"; echo "$out"; fail=1
    else
      echo "ok: peer kernel within the any-order bound, $fmt $1"
    fi
  done
done
# The other conjugation convention for C (not conjugated inside) must fail.
"$ts" generate s4.kernel_dplr --size medium --format float64 --output "$work/in.npz" >/dev/null
"$py" -c "import numpy as np, sys; a = dict(np.load(sys.argv[1])); a['C'] = a['C'].copy(); a['C'][..., 1] *= -1; np.savez(sys.argv[2], **a)" "$work/in.npz" "$work/conj.npz"
"$py" "$here/kernel_dplr_peer.py" "$work/conj.npz" "$work/out.npz" 64 halves float64
out=$("$ts" diff s4.kernel_dplr --inputs "$work/in.npz" --outputs "$work/out.npz" --option L=64 --option conj=halves)
if [ $? -ne 1 ]; then echo "FAIL: kernel with unconjugated C not rejected"; echo "$out"; fail=1; else echo "ok: the other C convention is outside the bound"; fi
exit $fail
