#!/bin/bash
# covers: PERF-PEERS PERF-ID-SLICES PERF-RF-ORTHO-PEER
# `touchstone diff` of the peers' own code (performer-pytorch 1.1.4 from PyPI, and PyTorch's softmax
# attention) on touchstone's problems, judged in float32 against the oracle within the any-order
# bound; a wrong convention of each fails (LR's causal guard on a problem without it, keys
# featurized with the query shift).
# Usage: performer_peer_test.sh TOUCHSTONE SOURCE_DIR. Exit 77 (skipped) when the peers' venv cannot be
# made (no torch, or PyPI unreachable), with the reason.
set -u
ts=$1
root=$2
# shellcheck source=../peer_common.sh
source "$root/tests/peer_common.sh"  # $work, peer_venv_python, expect VERDICT ENTRY INPUTS OUTPUTS WHAT
py=$(peer_venv_python "$root") || exit $?  # 77: skipped, with the reason
peer="$root/tests/performer/performer_peer.py"
gen() { "$ts" generate "$1" --size "$2" --format float32 --output "$3" >/dev/null || { echo "generate $1 $2 failed"; exit 1; }; }
run() { "$py" "$peer" "$@" || { echo "peer $1 failed"; exit 1; }; }

# passes ENTRY MODE LABEL SIZE...: the peer's MODE on each default SIZE of ENTRY is within bound.
passes() {
  local entry=$1 mode=$2 label=$3 size
  shift 3
  for size in "$@"; do
    gen "$entry" "$size" "$work/in.npz"
    run "$mode" "$work/in.npz" "$work/o.npz"
    expect PASS "$entry" "$work/in.npz" "$work/o.npz" "$label, $size"
  done
}
passes performer.favor_plus_features features "performer-pytorch softmax_kernel" small key medium
passes performer.generalized_features generalized "performer-pytorch generalized_kernel" relu elu1 exp sqr
passes performer.linear_attention linear "performer-pytorch linear_attention" small
passes performer.linear_attention causal "performer-pytorch causal_linear_attention_noncuda" causal_lr
# L = 300: chunk(128) makes 100 chunks of 3 positions; the carried prefix sums must be exact in order.
run make_causal "$work/c300.npz" -
run causal "$work/c300.npz" "$work/o.npz"
expect PASS performer.linear_attention "$work/c300.npz" "$work/o.npz" "performer-pytorch causal_linear_attention_noncuda, L=300"
passes performer.softmax_attention softmax "torch softmax attention" small causal sharp
# Gradients by torch autograd of the same functions.
passes performer.softmax_attention_backward softmax_backward "torch softmax attention autograd" small causal sharp
passes performer.favor_plus_features_backward features_backward "performer-pytorch softmax_kernel autograd" small key
passes performer.generalized_features_backward generalized_backward "performer-pytorch generalized_kernel autograd" relu elu1 exp
passes performer.linear_attention_backward linear_backward "performer-pytorch linear_attention autograd" small
gen performer.linear_attention_backward causal_lr "$work/c.npz"
"$py" - "$work/c.npz" "$work/cs.npz" <<'PY'
import sys, numpy as np
a = dict(np.load(sys.argv[1])); a["state"] = np.array(0.0); np.savez(sys.argv[2], **a)
PY
run causal_backward "$work/cs.npz" "$work/o.npz"
expect PASS performer.linear_attention_backward "$work/cs.npz" "$work/o.npz" "performer-pytorch causal_linear_attention_noncuda autograd (stored states), causal_lr"
# performer-pytorch's gaussian_orthogonal_random_matrix fed the file's Gaussians (for torch.randn):
# its torch.linalg.qr leaves LAPACK's signs of R's diagonal, so its W fails [PERF-RF-ORTHO-DEF]
# (rows negated where R_ii < 0); with Q times sign(diag R) the same code passes.
for size in one_block partial sqrt_d wide; do
  gen performer.gaussian_orthogonal_random_matrix "$size" "$work/g.npz"
  run gaussian_orthogonal "$work/g.npz" "$work/o.npz"
  expect FAIL performer.gaussian_orthogonal_random_matrix "$work/g.npz" "$work/o.npz" \
    "performer-pytorch gaussian_orthogonal_random_matrix (R's diagonal signs as LAPACK leaves them), $size"
  run gaussian_orthogonal_signfix "$work/g.npz" "$work/o.npz"
  expect PASS performer.gaussian_orthogonal_random_matrix "$work/g.npz" "$work/o.npz" \
    "performer-pytorch gaussian_orthogonal_random_matrix with Q times sign(diag R), $size"
done

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
