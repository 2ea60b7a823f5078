#!/usr/bin/env bash
# `touchstone diff` at production scale ([CORE-DIFF-TIERS]): a float32 selective-scan answer of
# batch 1, dim 5120, L 2048, N 16 (variable B/C, z, D, delta_bias, softplus; a Mamba-2.8B layer's
# scan), judged with the fast tier (median of REPEATS runs, wall seconds and peak RSS), and, with
# MPFR=1, once with `--oracle mpfr` for the verdict and the time it takes.
# Usage: bench/diff_at_scale.sh [DIM] [SEQLEN]   (env: REPEATS=3 MPFR=0 TOUCHSTONE=build/touchstone)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dim=${1:-5120}
seqlen=${2:-2048}
ts=${TOUCHSTONE:-build/touchstone}
work=${WORK:-$(mktemp -d)}
/usr/bin/python3 bench/peers/scan_at_scale.py "$work" --dim "$dim" --seqlen "$seqlen"
ls -la "$work"
for r in $(seq 1 "${REPEATS:-3}"); do
  /usr/bin/time -f "fast: %e s wall, %M KiB peak" "$ts" diff mamba.selective_scan \
    --inputs "$work/inputs.npz" --outputs "$work/theirs.npz" --json "$work/fast.json" > "$work/fast.txt" || true
done
grep -E "oracle:|verdict" "$work/fast.txt"
if [[ "${MPFR:-0}" == 1 ]]; then
  /usr/bin/time -f "mpfr: %e s wall, %M KiB peak" "$ts" diff mamba.selective_scan --oracle mpfr \
    --progress --inputs "$work/inputs.npz" --outputs "$work/theirs.npz" --json "$work/mpfr.json" > "$work/mpfr.txt" || true
  grep -E "oracle:|verdict" "$work/mpfr.txt"
fi
echo "work dir: $work"
