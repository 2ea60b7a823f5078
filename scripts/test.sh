#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): install what is missing; build and run every
# ctest label but `slow` (unit, property, differential, proofs, fuzz-replay, package, cuda: the
# cuda tests skip with the reason when no GPU is present); the Python package, built by pip into
# build/venv, and its pytest suite; `touchstone check`; then a clang build with
# AddressSanitizer + UBSan that runs the unit, property and fuzz-replay tests again and each
# libFuzzer harness for FUZZ_SECONDS (default 60) on a copy of its committed corpus.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
# The property tests draw their problems from one fixed seed, so that a run is reproducible and
# main stays green on what was tested; scripts/explore.sh draws fresh seeds to hunt for new
# failures (RC_PARAMS="seed=N" here replays any of them).
export RC_PARAMS=${RC_PARAMS:-seed=1}
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - start)); }

step "setup"
scripts/setup.sh

step "release build"
scripts/build.sh release
grep -q "TOUCHSTONE_CUDA_BUILT:INTERNAL=ON" build/CMakeCache.txt 2>/dev/null \
  && echo "CUDA backend: built" || echo "CUDA backend: not built (nvcc not found)"

step "tests (all labels but slow)"
(cd build && ctest --output-on-failure --parallel "${JOBS:-2}" -LE slow)

step "python package (pip install . into build/venv) and its pytest suite"
python=$(python/install.sh | tail -n 1)
TOUCHSTONE_CLI="$PWD/build/touchstone" "$python" -m pytest -q python/tests python/examples

step "touchstone check"
./build/touchstone check --json build/check.json

step "sanitizer build (clang, ASan + UBSan, libFuzzer)"
scripts/build.sh sanitize

step "sanitizer tests (unit, property, fuzz-replay)"
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure --parallel "${JOBS:-2}" -L "unit|property|fuzz-replay" -E "^(cli_test|spec_ids|spec_render|spec_math_render)$")

step "fuzzing, ${FUZZ_SECONDS:-60}s per harness"
for fuzzer in npz_fuzz registry_fuzz; do
  work=$(mktemp -d)
  cp fuzz/corpus/$fuzzer/* "$work"/
  log="build-sanitize/$fuzzer.log"
  # A finding prints the harness's own report (the entry, the backend, the inputs) and the
  # reproducer, which the last lines of libFuzzer's statistics alone would hide.
  if ./build-sanitize/fuzz/$fuzzer -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=4096 \
      -artifact_prefix="build-sanitize/$fuzzer-" -print_final_stats=1 "$work" >"$log" 2>&1; then
    tail -n 6 "$log"
  else
    status=$?
    grep -v '^#[0-9]' "$log" | tail -n 80
    echo "$fuzzer found a failure (exit $status); the input is saved as build-sanitize/$fuzzer-*;"
    echo "replay it with ./build-sanitize/fuzz/$fuzzer FILE, and commit it to fuzz/corpus/$fuzzer/ once fixed"
    rm -rf "$work"
    exit "$status"
  fi
  rm -rf "$work"
done

step "all tests passed"
