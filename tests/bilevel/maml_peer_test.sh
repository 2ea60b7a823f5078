#!/bin/bash
# covers: BILEVEL-MAML-PEERS
# `touchstone diff` of higher 0.2.1 and torchopt 0.7.3 (PyPI) on touchstone's MAML sinusoid
# problems (the MLP 1-h-h-1 with ReLU): their MAML hypergradients (backpropagation through the
# unrolled SGD loop) against bilevel.maml.exact_stored and their first-order gradients against
# bilevel.maml.fom, in float32 and float64 on every default size; each passed off as the other FAILS.
# Usage: maml_peer_test.sh TOUCHSTONE SOURCE_DIR. Exit 77 (skipped) when the peers' venv cannot be
# made (no torch, or PyPI unreachable), with the reason.
set -u
ts=$1
root=$2
# shellcheck source=../peer_common.sh
source "$root/tests/peer_common.sh"  # $work, peer_venv_python, expect VERDICT ENTRY INPUTS OUTPUTS WHAT
py=$(peer_venv_python "$root") || exit $?  # 77: skipped, with the reason
peer="$root/tests/bilevel/maml_peer.py"
for fmt in float32 float64; do
  for size in ${MAML_PEER_SIZES:-tiny small medium standard}; do
    # standard (h = 40): float32 answers are partly unjudged there ([BILEVEL-MAML-BOUND]): float64 only
    [ "$size" = standard ] && [ "$fmt" = float32 ] && continue
    in="$work/$size.$fmt.npz"
    "$ts" generate bilevel.maml.exact_stored --size "$size" --format "$fmt" --output "$in" >/dev/null || exit 1
    for lib in higher torchopt; do
      "$py" "$peer" "$lib" exact "$fmt" "$in" "$work/exact.npz" || { echo "$lib exact failed"; exit 1; }
      "$py" "$peer" "$lib" fom "$fmt" "$in" "$work/fom.npz" || { echo "$lib fom failed"; exit 1; }
      expect PASS bilevel.maml.exact_stored "$in" "$work/exact.npz" "$lib MAML hypergradient, $size, $fmt"
      expect PASS bilevel.maml.fom "$in" "$work/fom.npz" "$lib first-order MAML, $size, $fmt"
      expect FAIL bilevel.maml.exact_stored "$in" "$work/fom.npz" "$lib's first-order gradient as the exact one, $size, $fmt"
      expect FAIL bilevel.maml.fom "$in" "$work/exact.npz" "$lib's exact hypergradient as FOM, $size, $fmt"
    done
  done
done
exit $fail
