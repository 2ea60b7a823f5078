#!/usr/bin/env bash
# Bug hunting, not a gate: runs the property tests (release build) with ROUNDS fresh random seeds
# (default 5) and each libFuzzer harness for FUZZ_SECONDS (default 300) on a copy of its corpus.
# Every failure prints the RC_PARAMS (or the fuzzer's crash file) that replays it; fix the code, the
# bound or the oracle, and keep the case as a regression test or corpus file. scripts/test.sh (CI)
# runs the properties from one fixed seed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build.sh release >/dev/null
found=0
for ((i = 0; i < ${ROUNDS:-5}; i++)); do
  seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
  echo "== property tests, seed=$seed"
  log=$(mktemp)
  (cd build && RC_PARAMS="seed=$seed" ctest -L property --parallel "${JOBS:-2}" --output-on-failure) >"$log" 2>&1 \
    || found=1
  grep -E "tests passed|\*\*\*Failed|RC_PARAMS=|outside|problem:" "$log" | cut -c1-300
  rm -f "$log"
done
if [[ -x build-sanitize/fuzz/registry_fuzz ]]; then
  for fuzzer in npz_fuzz registry_fuzz; do
    work=$(mktemp -d)
    cp fuzz/corpus/$fuzzer/* "$work"/
    ./build-sanitize/fuzz/$fuzzer -max_total_time="${FUZZ_SECONDS:-300}" -rss_limit_mb=4096 \
      -artifact_prefix="build-sanitize/$fuzzer-" "$work" 2>&1 | tail -n 4 || found=1
    rm -rf "$work"
  done
else
  echo "fuzzers: run scripts/build.sh sanitize first"
fi
exit $found
