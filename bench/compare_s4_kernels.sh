#!/usr/bin/env bash
# touchstone cpu-f32 against state-spaces/s4's naive PyTorch kernels (bench/peers/time_s4_naive.py)
# on the same inputs, in one run: the built-in `bench` problems of s4.cauchy (the Cauchy product
# alone), s4d.kernel (the S4D ZOH Vandermonde kernel) and s4.kernel_dplr (the whole S4 DPLR
# kernel: Cauchy sums, Woodbury, inverse FFT), each at H 256 channels, state size N 64 stored as
# 32 conjugate halves, L 4096; median of REPEATS each on THREADS threads, and the ratio of the
# medians. The DPLR peer runs the peer's own module, which needs einops, opt_einsum and scipy:
# PEER_PYTHON names an interpreter that has them (default: a venv at /tmp/peer-venv, made by
#   /usr/bin/python3 -m venv --system-site-packages /tmp/peer-venv
#   /tmp/peer-venv/bin/pip install --no-deps einops opt_einsum scipy==1.10.1 ; skipped without).
# `touchstone bench` times the registry's backend call, which includes converting the float32
# result to the registry's double arrays (a few ms; it only lowers our side's advantage).
# Usage: bench/compare_s4_kernels.sh [build-dir] [repeats] [threads] [state-spaces/s4 git dir]
#        (records: bench/RESULTS.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
repeats=${2:-7}
threads=${3:-2}
mirror=${4:-/work/.mirror/state-spaces+s4/repo}
inputs=$(mktemp --suffix=.npz)
trap 'rm -f "$inputs"' EXIT
peer_python=${PEER_PYTHON:-/tmp/peer-venv/bin/python}
for pair in "s4.cauchy cauchy /usr/bin/python3" "s4d.kernel vandermonde /usr/bin/python3" \
            "s4.kernel_dplr dplr $peer_python"; do
  set -- $pair
  if ! "$3" -c "import einops, opt_einsum, scipy" 2>/dev/null && [[ $2 == dplr ]]; then
    echo "s4.kernel_dplr: skipped ($3 lacks einops/opt_einsum/scipy; see the header)"
    continue
  fi
  "$build/touchstone" generate "$1" --size bench --format float32 --output "$inputs" >/dev/null
  ours=$(TOUCHSTONE_THREADS=$threads "$build/touchstone" bench "$1" --size bench --backend cpu-f32 \
    --repeats "$repeats" | awk -v a="$1" '$1 == a && $2 == "cpu-f32" {print $3}')
  peer_line=$("$3" bench/peers/time_s4_naive.py "$mirror" "$2" "$inputs" \
    --threads "$threads" --repeats "$repeats" 2>/dev/null | tail -n 1)
  peer=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$peer_line")
  echo "touchstone $1 cpu-f32: median ${ours} ms over ${repeats} runs (${threads} threads)"
  echo "$peer_line"
  awk -v p="$peer" -v o="$ours" -v a="$1" 'BEGIN { printf "ratio (PyTorch naive / touchstone cpu-f32), %s: %.1fx\n", a, p / o }'
done
