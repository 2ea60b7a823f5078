#!/bin/bash
# covers: ORTH-LAPACK-PEER ORTH-AUTOGRAD-PEER ORTH-CAYLEY-PEER
# `touchstone diff` of PyTorch (Debian's torch, CPU) on touchstone's problems:
# torch.linalg.householder_product (LAPACK orgqr) for orthogonal.householder_product_lapack, in
# float32 and float64 and on a geqrf factorization made by torch itself; the wrong order
# (H_k ... H_1) and the last n columns instead of the first n FAIL. The CWY and T-CWY formulas
# written in torch, forward and autograd VJP, for orthogonal.cwy, tcwy, cwy_backward and
# tcwy_backward; autograd with the normalization left out of the chain rule FAILS. PyTorch's
# orthogonal parametrization with the Cayley map for orthogonal.cayley (its convention on an expRNN
# problem FAILS). Each job computes in the dtype the problem was generated for.
# Usage: orthogonal_peer_test.sh TOUCHSTONE. Exit 77 (skipped) when python3 has no torch.
set -u
ts=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
"$py" -c "import torch, numpy" 2>/dev/null || { echo "skipped: /usr/bin/python3 has no torch"; exit 77; }
entry=orthogonal.householder_product_lapack
# shellcheck source=../peer_common.sh
source "$here/../peer_common.sh"  # $work, expect
# verdict_of VERDICT INPUTS OUTPUTS WHAT [ENTRY]: peer_common's expect, the LAPACK entry by default.
verdict_of() { expect "$1" "${5:-$entry}" "$2" "$3" "$4"; }
jobs=()
for fmt in float32 float64; do
  for size in square tall partial free_tau; do
    "$ts" generate "$entry" --size "$size" --format "$fmt" --output "$work/$size.$fmt.in.npz" >/dev/null || exit 1
    jobs+=("lapack,$work/$size.$fmt.in.npz,$work/$size.$fmt.out.npz,$fmt")
  done
done
jobs+=("geqrf,-,$work/geqrf.in.npz")
# CWY and T-CWY, forward and backward: the entry, the peer mode, the sizes.
cwy_cases=("orthogonal.cwy cwy small square long" "orthogonal.tcwy tcwy small square"
           "orthogonal.cwy_backward cwy_backward small square long" "orthogonal.tcwy_backward tcwy_backward small square")
for fmt in float32 float64; do
  for c in "${cwy_cases[@]}"; do
    read -r e mode sizes <<<"$c"
    for size in $sizes; do
      "$ts" generate "$e" --size "$size" --format "$fmt" --output "$work/$e.$size.$fmt.in.npz" >/dev/null || exit 1
      jobs+=("$mode,$work/$e.$size.$fmt.in.npz,$work/$e.$size.$fmt.out.npz,$fmt")
    done
  done
done
# PyTorch's orthogonal parametrization with the Cayley map, against orthogonal.cayley.
for fmt in float32 float64; do
  for size in tiny small medium; do
    "$ts" generate orthogonal.cayley --size "$size" --format "$fmt" --output "$work/cayley.$size.$fmt.in.npz" >/dev/null || exit 1
    jobs+=("cayley,$work/cayley.$size.$fmt.in.npz,$work/cayley.$size.$fmt.out.npz,$fmt")
  done
done
"$ts" generate orthogonal.cayley --size exprnn --format float32 --output "$work/cayley.exprnn.in.npz" >/dev/null || exit 1
jobs+=("cayley,$work/cayley.exprnn.in.npz,$work/cayley.exprnn.out.npz,float32")
jobs+=("unnormalized_backward,$work/orthogonal.cwy_backward.square.float32.in.npz,$work/unnormalized.out.npz")
"$py" "$here/orthogonal_peer.py" "${jobs[@]}" || { echo "peer failed"; exit 1; }
"$py" "$here/orthogonal_peer.py" "lapack,$work/geqrf.in.npz,$work/geqrf.out.npz" \
  "reversed,$work/tall.float32.in.npz,$work/reversed.out.npz" \
  "full,$work/tall.float32.in.npz,$work/full.out.npz" || { echo "peer failed"; exit 1; }
for fmt in float32 float64; do
  for size in square tall partial free_tau; do
    verdict_of PASS "$work/$size.$fmt.in.npz" "$work/$size.$fmt.out.npz" "torch householder_product, $size, $fmt"
  done
done
for fmt in float32 float64; do
  for c in "${cwy_cases[@]}"; do
    read -r e mode sizes <<<"$c"
    for size in $sizes; do
      verdict_of PASS "$work/$e.$size.$fmt.in.npz" "$work/$e.$size.$fmt.out.npz" "torch $mode, $size, $fmt" "$e"
    done
  done
done
for fmt in float32 float64; do
  for size in tiny small medium; do
    verdict_of PASS "$work/cayley.$size.$fmt.in.npz" "$work/cayley.$size.$fmt.out.npz" "torch orthogonal(cayley), $size, $fmt" \
      orthogonal.cayley
  done
done
# torch's convention on a problem that asks for expRNN's: a different map, FAILS.
verdict_of FAIL "$work/cayley.exprnn.in.npz" "$work/cayley.exprnn.out.npz" "torch's Cayley convention for expRNN's" \
  orthogonal.cayley
verdict_of FAIL "$work/orthogonal.cwy_backward.square.float32.in.npz" "$work/unnormalized.out.npz" \
  "autograd with the normalization left out of the chain rule" orthogonal.cwy_backward
verdict_of PASS "$work/geqrf.in.npz" "$work/geqrf.out.npz" "torch householder_product on torch.geqrf's A, tau (9 x 6)"
verdict_of FAIL "$work/tall.float32.in.npz" "$work/reversed.out.npz" "the reversed order H_k ... H_1"
verdict_of FAIL "$work/tall.float32.in.npz" "$work/full.out.npz" "the last n columns of the m x m product"
exit $fail
