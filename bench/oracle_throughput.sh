#!/usr/bin/env bash
# The MPFR oracle's throughput against mpmath on the same selective-scan problem, one core each
# (issue 13, "Oracle throughput against mpmath"): mamba_ssm's test distribution
# (bench/peers/scan_variants.py), batch 1, dim DIM (4), L 512, N 16, at 256 bits.
# touchstone's `eval` evaluates the oracle twice, at 256 and at 512 bits, and compares the two
# ([CORE-ORACLE-VERIFIED]); mpmath evaluates once at 256 bits. Both answers are compared.
# Usage: bench/oracle_throughput.sh [DIM]   (env: TOUCHSTONE=build/touchstone)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dim=${1:-4}
ts=${TOUCHSTONE:-build/touchstone}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 bench/peers/scan_variants.py "$work" --batch 1 --dim "$dim" --seqlen 512 --variants ref > /dev/null
/usr/bin/time -f "touchstone eval (256 and 512 bits, 1 thread): %e s wall" env TOUCHSTONE_THREADS=1 \
  "$ts" eval mamba.selective_scan --inputs "$work/inputs.npz" --output "$work/oracle.npz" --precision 256
/usr/bin/python3 bench/peers/mpmath_scan.py "$work/inputs.npz" 256
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
d = sys.argv[1]
o = np.load(f"{d}/oracle.npz")["out"]
m = np.load(f"{d}/inputs.npz.mpmath_out.npy")
print(f"max |touchstone - mpmath| / max |out| = {np.abs(o - m).max() / np.abs(o).max():.3g} (both rounded to double)")
PY
