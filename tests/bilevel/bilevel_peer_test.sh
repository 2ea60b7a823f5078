#!/bin/bash
# covers: BILEVEL-PEERS
# `touchstone diff` of higher 0.2.1 (PyPI, facebookresearch's library for differentiable inner
# loops) on touchstone's quadratic problems: its MAML hypergradient (backpropagation through the
# unrolled torch.optim.SGD loop, copy_initial_weights=False) against bilevel.quadratic.exact_stored,
# and its first-order mode (track_higher_grads=False) against bilevel.quadratic.fom, in float32
# and float64 on every default size; FOM passed off as the exact hypergradient FAILS, and so does
# the exact one passed off as FOM where r > 0.
# Usage: bilevel_peer_test.sh TOUCHSTONE SOURCE_DIR. Exit 77 (skipped) when the peers' venv cannot
# be made (no torch, or PyPI unreachable), with the reason.
set -u
ts=$1
root=$2
# shellcheck source=../peer_common.sh
source "$root/tests/peer_common.sh"  # $work, peer_venv_python, expect VERDICT ENTRY INPUTS OUTPUTS WHAT
py=$(peer_venv_python "$root") || exit $?  # 77: skipped, with the reason
peer="$root/tests/bilevel/bilevel_peer.py"
for fmt in float32 float64; do
  for size in tiny small medium r0; do
    in="$work/$size.$fmt.npz"
    "$ts" generate bilevel.quadratic.exact_stored --size "$size" --format "$fmt" --output "$in" >/dev/null || exit 1
    "$py" "$peer" exact "$fmt" "$in" "$work/exact.npz" || { echo "higher exact failed"; exit 1; }
    "$py" "$peer" fom "$fmt" "$in" "$work/fom.npz" || { echo "higher fom failed"; exit 1; }
    expect PASS bilevel.quadratic.exact_stored "$in" "$work/exact.npz" "higher MAML hypergradient, $size, $fmt"
    expect PASS bilevel.quadratic.fom "$in" "$work/fom.npz" "higher first-order (track_higher_grads=False), $size, $fmt"
    if [ "$size" != r0 ]; then  # r = 0: E = F, the two agree
      expect FAIL bilevel.quadratic.exact_stored "$in" "$work/fom.npz" "higher's FOM as the exact hypergradient, $size, $fmt"
      expect FAIL bilevel.quadratic.fom "$in" "$work/exact.npz" "higher's exact hypergradient as FOM, $size, $fmt"
    fi
  done
done
exit $fail
