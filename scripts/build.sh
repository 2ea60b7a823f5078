#!/usr/bin/env bash
# Configures (once) and builds one preset incrementally: release (build/, g++, CUDA when nvcc is
# found) or sanitize (build-sanitize/, clang with ASan + UBSan and the libFuzzer harnesses).
# Usage: scripts/build.sh [release|sanitize]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset=${1:-release}
dir=$(case "$preset" in release) echo build ;; sanitize) echo build-sanitize ;;
      *) echo "unknown preset $preset" >&2; exit 2 ;; esac)
# ccache keys on the command line: make paths under the checkout relative, and leave the build
# directory out of debug builds' keys, so a fresh clone elsewhere (CI) reuses earlier compiles.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
if [[ ! -f "$dir/build.ninja" ]]; then
  cmake --preset "$preset" >/dev/null
fi
cmake --build "$dir" --parallel "${JOBS:-2}"
