#!/bin/bash
# covers: ORTH-LAPACK-PEER ORTH-AUTOGRAD-PEER ORTH-CAYLEY-PEER ORTH-CAYLEY-VJP-PEER ORTH-EXP-PEER ORTH-QR-PEER ORTH-POLAR-PEER ORTH-POLAR-VJP-PEER
# `touchstone diff` of PyTorch (Debian's torch, CPU) on touchstone's problems:
# torch.linalg.householder_product (LAPACK orgqr) for orthogonal.householder_product_lapack, in
# float32 and float64 and on a geqrf factorization made by torch itself; the wrong order
# (H_k ... H_1) and the last n columns instead of the first n FAIL. The CWY and T-CWY formulas
# written in torch, forward and autograd VJP, for orthogonal.cwy, tcwy, cwy_backward and
# tcwy_backward; autograd with the normalization left out of the chain rule FAILS. PyTorch's
# orthogonal parametrization with the Cayley map for orthogonal.cayley (its convention on an expRNN
# problem FAILS), its autograd for orthogonal.cayley_backward, and the matrix_exp map forward and
# autograd for orthogonal.matrix_exp and matrix_exp_backward (the gradient with respect to the skew A
# read as X's FAILS); torch.linalg.qr with its signs normalized for orthogonal.qf (its raw Q FAILS).
# Each job computes in the dtype the problem was generated for.
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
# The same parametrization's autograd (Cayley), and the matrix_exp map forward and backward.
for fmt in float32 float64; do
  for e in orthogonal.cayley_backward:cayley orthogonal.matrix_exp:matrix_exp orthogonal.matrix_exp_backward:matrix_exp; do
    for size in tiny small medium large_entries; do
      "$ts" generate "${e%%:*}" --size "$size" --format "$fmt" --output "$work/${e%%:*}.$size.$fmt.in.npz" >/dev/null || exit 1
      jobs+=("${e##*:},$work/${e%%:*}.$size.$fmt.in.npz,$work/${e%%:*}.$size.$fmt.out.npz,$fmt")
    done
  done
done
"$ts" generate orthogonal.cayley_backward --size exprnn --format float32 --output "$work/cayley_backward.exprnn.in.npz" >/dev/null || exit 1
jobs+=("cayley,$work/cayley_backward.exprnn.in.npz,$work/cayley_backward.exprnn.out.npz,float32")
for fmt in float32 float64; do
  for size in column tall square near_square; do
    "$ts" generate orthogonal.qf --size "$size" --format "$fmt" --output "$work/qf.$size.$fmt.in.npz" >/dev/null || exit 1
    jobs+=("qr,$work/qf.$size.$fmt.in.npz,$work/qf.$size.$fmt.out.npz,$fmt")
    jobs+=("qr_raw,$work/qf.$size.$fmt.in.npz,$work/qf_raw.$size.$fmt.out.npz,$fmt")
  done
done
for fmt in float32 float64; do
  for size in column tall square ill_conditioned; do
    "$ts" generate orthogonal.polar --size "$size" --format "$fmt" --output "$work/polar.$size.$fmt.in.npz" >/dev/null || exit 1
    jobs+=("polar_svd,$work/polar.$size.$fmt.in.npz,$work/polar.$size.$fmt.out.npz,$fmt")
  done
  for size in column tall square retraction; do
    "$ts" generate orthogonal.polar_backward --size "$size" --format "$fmt" --output "$work/polar_bwd.$size.$fmt.in.npz" >/dev/null || exit 1
    jobs+=("polar_svd_backward,$work/polar_bwd.$size.$fmt.in.npz,$work/polar_bwd.$size.$fmt.out.npz,$fmt")
  done
done
jobs+=("unskewed_backward,$work/orthogonal.matrix_exp_backward.small.float32.in.npz,$work/unskewed.out.npz,float32")
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
for fmt in float32 float64; do
  for e in orthogonal.cayley_backward orthogonal.matrix_exp orthogonal.matrix_exp_backward; do
    for size in tiny small medium large_entries; do
      [[ $e.$size.$fmt == orthogonal.matrix_exp.tiny.float32 ]] && continue  # below
      verdict_of PASS "$work/$e.$size.$fmt.in.npz" "$work/$e.$size.$fmt.out.npz" "torch orthogonal ($e), $size, $fmt" "$e"
    done
  done
done
for fmt in float32 float64; do
  for size in column tall square near_square; do
    verdict_of PASS "$work/qf.$size.$fmt.in.npz" "$work/qf.$size.$fmt.out.npz" "torch.linalg.qr, signs normalized, $size, $fmt" \
      orthogonal.qf
  done
done
# torch.linalg.qr's own Q (LAPACK's geqrf/orgqr: R_jj = -sign(y_jj') |.|) has negative columns here.
for size in column tall square near_square; do
  verdict_of FAIL "$work/qf.$size.float32.in.npz" "$work/qf_raw.$size.float32.out.npz" "torch.linalg.qr's raw Q, $size" orthogonal.qf
done
# A finding ([ORTH-EXP-PEER]): torch.matrix_exp in float32 on the 2 x 2 rotation by 0.193 is off by
# 2.25e-7 (1.9 ulps of 1) in sin, 3.2 times the bound of touchstone's algorithm (Taylor 18 by Horner,
# any order), which is all the entry's any-order bound covers; touchstone's cpu-f32 is 10x closer.
verdict_of FAIL "$work/orthogonal.matrix_exp.tiny.float32.in.npz" "$work/orthogonal.matrix_exp.tiny.float32.out.npz" \
  "torch.matrix_exp float32, tiny: outside the bound of touchstone's own algorithm" orthogonal.matrix_exp
verdict_of FAIL "$work/cayley_backward.exprnn.in.npz" "$work/cayley_backward.exprnn.out.npz" \
  "torch's Cayley gradient for expRNN's convention" orthogonal.cayley_backward
verdict_of FAIL "$work/orthogonal.matrix_exp_backward.small.float32.in.npz" "$work/unskewed.out.npz" \
  "matrix_exp's gradient with respect to A read as X's (tril(Gamma, -1))" orthogonal.matrix_exp_backward
# torch's convention on a problem that asks for expRNN's: a different map, FAILS.
verdict_of FAIL "$work/cayley.exprnn.in.npz" "$work/cayley.exprnn.out.npz" "torch's Cayley convention for expRNN's" \
  orthogonal.cayley
verdict_of FAIL "$work/orthogonal.cwy_backward.square.float32.in.npz" "$work/unnormalized.out.npz" \
  "autograd with the normalization left out of the chain rule" orthogonal.cwy_backward
verdict_of PASS "$work/geqrf.in.npz" "$work/geqrf.out.npz" "torch householder_product on torch.geqrf's A, tau (9 x 6)"
verdict_of FAIL "$work/tall.float32.in.npz" "$work/reversed.out.npz" "the reversed order H_k ... H_1"
verdict_of FAIL "$work/tall.float32.in.npz" "$work/full.out.npz" "the last n columns of the m x m product"
# [ORTH-POLAR-PEER] U V^T of torch.linalg.svd against the certificate of touchstone's own result
# (ASSUMING ONE ORDER): PASS except the 6 x 1 column in float64, 3.65 times outside (torch's SVD
# is a few ulps off a/|a|, which touchstone's Gram-Schmidt rounds almost exactly).
for fmt in float32 float64; do
  for size in column tall square ill_conditioned; do
    want=PASS
    [[ $size.$fmt == column.float64 ]] && want=FAIL
    verdict_of "$want" "$work/polar.$size.$fmt.in.npz" "$work/polar.$size.$fmt.out.npz" "torch svd U V^T, $size, $fmt" \
      orthogonal.polar
  done
done
# [ORTH-POLAR-VJP-PEER] torch's autograd through U V^T of its SVD, judged by the certificate of
# touchstone's own VJP (ASSUMING ONE ORDER): PASS on every size in both formats (err/bound 0.004 to 0.32).
for fmt in float32 float64; do
  for size in column tall square retraction; do
    verdict_of PASS "$work/polar_bwd.$size.$fmt.in.npz" "$work/polar_bwd.$size.$fmt.out.npz" \
      "torch autograd of svd U V^T, $size, $fmt" orthogonal.polar_backward
  done
done
exit $fail
