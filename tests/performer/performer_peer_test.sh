#!/bin/bash
# covers: PERF-PEERS PERF-ID-SLICES
# `touchstone diff` of the peers' own code (performer-pytorch 1.1.4 from PyPI, and PyTorch's softmax
# attention) on touchstone's problems, judged in float32 against the oracle within the any-order
# bound; a wrong convention of each fails (LR's causal guard on a problem without it, keys
# featurized with the query shift).
# Usage: performer_peer_test.sh TOUCHSTONE SOURCE_DIR. Exit 77 (skipped) when the peers' venv cannot be
# made (no torch, or PyPI unreachable), with the reason.
set -u
ts=$1
root=$2
py=$("$root/scripts/peer_venv.sh") || { rc=$?; [ $rc -eq 77 ] && echo "skipped: peer venv unavailable"; exit $rc; }
peer="$root/tests/performer/performer_peer.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
# expect VERDICT ENTRY INPUTS OUTPUTS WHAT
expect() {
  local want=$1 entry=$2 in=$3 out=$4 what=$5 report
  report=$("$ts" diff "$entry" --inputs "$in" --outputs "$out")
  local rc=$?
  if ! grep -q "verdict: $want" <<<"$report"; then
    echo "FAIL: $what: expected $want (diff exit $rc)"; echo "$report"; fail=1
  else
    echo "ok: $what: $want ($(grep -o 'err/bound max [0-9.e+-]*' <<<"$report" | head -1))"
  fi
}
gen() { "$ts" generate "$1" --size "$2" --format float32 --output "$3" >/dev/null || { echo "generate $1 $2 failed"; exit 1; }; }
run() { "$py" "$peer" "$@" || { echo "peer $1 failed"; exit 1; }; }

for size in small key medium; do
  gen performer.favor_plus_features $size "$work/x.npz"
  run features "$work/x.npz" "$work/phi.npz"
  expect PASS performer.favor_plus_features "$work/x.npz" "$work/phi.npz" "performer-pytorch softmax_kernel, $size"
done
for size in relu elu1 exp sqr; do
  gen performer.generalized_features $size "$work/x.npz"
  run generalized "$work/x.npz" "$work/phi.npz"
  expect PASS performer.generalized_features "$work/x.npz" "$work/phi.npz" "performer-pytorch generalized_kernel, $size"
done
gen performer.linear_attention small "$work/l.npz"
run linear "$work/l.npz" "$work/o.npz"
expect PASS performer.linear_attention "$work/l.npz" "$work/o.npz" "performer-pytorch linear_attention, small"
gen performer.linear_attention causal_lr "$work/c.npz"
run causal "$work/c.npz" "$work/o.npz"
expect PASS performer.linear_attention "$work/c.npz" "$work/o.npz" "performer-pytorch causal_linear_attention_noncuda, causal_lr"
# L = 300: chunk(128) makes 100 chunks of 3 positions; the carried prefix sums must be exact in order.
run make_causal "$work/c300.npz" -
run causal "$work/c300.npz" "$work/o.npz"
expect PASS performer.linear_attention "$work/c300.npz" "$work/o.npz" "performer-pytorch causal_linear_attention_noncuda, L=300"
for size in small causal sharp; do
  gen performer.softmax_attention $size "$work/s.npz"
  run softmax "$work/s.npz" "$work/o.npz"
  expect PASS performer.softmax_attention "$work/s.npz" "$work/o.npz" "torch softmax attention, $size"
done
# Gradients by torch autograd of the same functions.
for size in small causal sharp; do
  gen performer.softmax_attention_backward $size "$work/s.npz"
  run softmax_backward "$work/s.npz" "$work/o.npz"
  expect PASS performer.softmax_attention_backward "$work/s.npz" "$work/o.npz" "torch softmax attention autograd, $size"
done
for size in small key; do
  gen performer.favor_plus_features_backward $size "$work/x.npz"
  run features_backward "$work/x.npz" "$work/o.npz"
  expect PASS performer.favor_plus_features_backward "$work/x.npz" "$work/o.npz" "performer-pytorch softmax_kernel autograd, $size"
done
for size in relu elu1 exp; do
  gen performer.generalized_features_backward $size "$work/x.npz"
  run generalized_backward "$work/x.npz" "$work/o.npz"
  expect PASS performer.generalized_features_backward "$work/x.npz" "$work/o.npz" "performer-pytorch generalized_kernel autograd, $size"
done
gen performer.linear_attention_backward small "$work/l.npz"
run linear_backward "$work/l.npz" "$work/o.npz"
expect PASS performer.linear_attention_backward "$work/l.npz" "$work/o.npz" "performer-pytorch linear_attention autograd, small"
gen performer.linear_attention_backward causal_lr "$work/c.npz"
"$py" - "$work/c.npz" "$work/cs.npz" <<'PY'
import sys, numpy as np
a = dict(np.load(sys.argv[1])); a["state"] = np.array(0.0); np.savez(sys.argv[2], **a)
PY
run causal_backward "$work/cs.npz" "$work/o.npz"
expect PASS performer.linear_attention_backward "$work/cs.npz" "$work/o.npz" "performer-pytorch causal_linear_attention_noncuda autograd (stored states), causal_lr"

# Wrong conventions fail. The key features with the query shift (eps = 1e-4 does not cancel):
gen performer.favor_plus_features key "$work/x.npz"
"$py" - "$work/x.npz" "$work/xq.npz" <<'PY'
import sys, numpy as np
a = dict(np.load(sys.argv[1])); a["is_query"] = np.array(1.0); np.savez(sys.argv[2], **a)
PY
run features "$work/xq.npz" "$work/phi.npz"
expect FAIL performer.favor_plus_features "$work/x.npz" "$work/phi.npz" "key features made with the query shift"
# ELU where ELU + 1 was asked for (the Linear Transformer's feature map is elu(x) + 1):
gen performer.generalized_features elu1 "$work/x.npz"
"$py" - "$work/x.npz" "$work/xe.npz" <<'PY'
import sys, numpy as np
a = dict(np.load(sys.argv[1])); a["kernel_eps"] = a["kernel_eps"] - 1; np.savez(sys.argv[2], **a)
PY
run generalized "$work/xe.npz" "$work/phi.npz"
expect FAIL performer.generalized_features "$work/x.npz" "$work/phi.npz" "elu where elu + 1 was asked for"
# The bidirectional linear attention where causal was asked for:
gen performer.linear_attention causal "$work/c.npz"
run linear "$work/c.npz" "$work/o.npz"
expect FAIL performer.linear_attention "$work/c.npz" "$work/o.npz" "bidirectional output for a causal problem"
exit $fail
