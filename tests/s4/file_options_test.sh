#!/bin/bash
# covers: S4-FILE-OPTIONS
# A file written by `touchstone generate` is the whole problem: `eval` and `diff` read L and the
# conjugate convention from its 0-d arrays (no --option), and the oracle's own outputs pass
# `diff`; an --option that disagrees with the file is an invalid input (exit 2).
# Usage: file_options_test.sh TOUCHSTONE
set -u
ts=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for a in s4.cauchy s4.cauchy_backward s4.kernel_dplr s4.kernel_dplr_backward s4.ssm_kernel; do
  for z in tiny small; do
    "$ts" generate $a --size $z --output "$work/in.npz" >/dev/null || { echo "generate $a $z failed"; exit 1; }
    if ! "$ts" eval $a --inputs "$work/in.npz" --output "$work/out.npz" >/dev/null ||
       ! "$ts" diff $a --inputs "$work/in.npz" --outputs "$work/out.npz" | grep -q 'verdict: PASS'; then
      echo "FAIL: $a $z round trip"; fail=1
    else
      echo "ok: $a $z"
    fi
  done
done
"$ts" generate s4.kernel_dplr --size small --output "$work/in.npz" >/dev/null
"$ts" eval s4.kernel_dplr --inputs "$work/in.npz" --output "$work/out.npz" --option conj=halves >/dev/null 2>&1
rc=$?
if [ $rc -ne 2 ]; then echo "FAIL: a disagreeing conj option gave exit $rc"; fail=1; else echo "ok: disagreeing option rejected"; fi
exit $fail
