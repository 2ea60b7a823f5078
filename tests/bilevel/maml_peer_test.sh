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
sizes=${MAML_PEER_SIZES:-tiny small medium standard}
problems=()
for fmt in float32 float64; do
  for size in $sizes; do
    # standard (h = 40): float32 answers are partly unjudged there ([BILEVEL-MAML-BOUND]): float64 only
    [ "$size" = standard ] && [ "$fmt" = float32 ] && continue
    "$ts" generate bilevel.maml.exact_stored --size "$size" --format "$fmt" --output "$work/$size.$fmt.npz" >/dev/null || exit 1
    problems+=("$fmt:$work/$size.$fmt.npz")
  done
done
"$py" "$peer" "$work" "${problems[@]}" || { echo "the peers failed"; exit 1; }
for p in "${problems[@]}"; do
  fmt=${p%%:*}
  in=${p#*:}
  stem=$work/$(basename "$in" .npz)
  size=${stem##*/}
  for lib in higher torchopt; do
    expect PASS bilevel.maml.exact_stored "$in" "$stem.$lib.exact.npz" "$lib MAML hypergradient, $size"
    expect PASS bilevel.maml.fom "$in" "$stem.$lib.fom.npz" "$lib first-order MAML, $size"
    expect FAIL bilevel.maml.exact_stored "$in" "$stem.$lib.fom.npz" "$lib's first-order gradient as the exact one, $size"
    expect FAIL bilevel.maml.fom "$in" "$stem.$lib.exact.npz" "$lib's exact hypergradient as FOM, $size"
  done
done
exit $fail
