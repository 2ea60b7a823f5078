#!/usr/bin/env bash
# The exact MAML hypergradient on CPU, touchstone cpu-f32 (stored and recomputed) against higher
# 0.2.1 (the peers' venv, bench/peers/time_maml_higher.py, one thread), the same tasks and initial
# weights (the entry's generated problems), h = 40, K = 10, r = 10 and 100 (bench/RESULTS.md,
# "Bilevel, CPU"). Per-call CPU time as a difference of whole-process CPU seconds (user + system,
# /usr/bin/time, 10 ms steps) between A and B repeats, alternated and paired, 3 pairs, median:
# wall time on a loaded machine is inflated by preemption, CPU time much less.
# Usage: bench/compare_maml_higher.sh [build-dir]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
T="$build/touchstone"
PY=$(scripts/peer_venv.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$T" generate bilevel.maml.exact_stored --size bench --format float32 --output "$tmp/maml_bench.npz" >/dev/null
"$T" generate bilevel.maml.exact_stored --size r100 --format float32 --output "$tmp/maml_r100.npz" >/dev/null
cpu() { { /usr/bin/time -f "%U %S" "$@" >/dev/null; } 2>&1 | tail -1 | awk '{print $1 + $2}'; }
pairs() {  # label A B command... (REPEATS replaced by A, then B)
  local label=$1 A=$2 B=$3 vals=() ta tb
  shift 3
  for k in 1 2 3; do
    ta=$(cpu "${@/REPEATS/$A}")
    tb=$(cpu "${@/REPEATS/$B}")
    vals+=("$(python3 -c "print('%.3f' % (($ta - $tb) * 1000 / ($A - $B)))")")
    echo "  $label pair $k: A ($A repeats) $ta s, B ($B) $tb s"
  done
  echo "$label: CPU ms per call ${vals[*]}, median $(printf '%s\n' "${vals[@]}" | sort -g | sed -n 2p)"
}
pairs "touchstone stored r=10" 1000 1 "$T" bench bilevel.maml.exact_stored --backend cpu-f32 --size bench --repeats REPEATS
pairs "touchstone recompute r=10" 1000 1 "$T" bench bilevel.maml.exact_recompute --backend cpu-f32 --size bench --repeats REPEATS
pairs "higher r=10" 101 1 "$PY" bench/peers/time_maml_higher.py "$tmp/maml_bench.npz" --threads 1 --repeats REPEATS
pairs "touchstone stored r=100" 401 1 "$T" bench bilevel.maml.exact_stored --backend cpu-f32 --size r100 --repeats REPEATS
pairs "touchstone recompute r=100" 41 1 "$T" bench bilevel.maml.exact_recompute --backend cpu-f32 --size r100 --repeats REPEATS
pairs "higher r=100" 21 1 "$PY" bench/peers/time_maml_higher.py "$tmp/maml_r100.npz" --threads 1 --repeats REPEATS
