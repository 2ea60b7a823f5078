#!/usr/bin/env bash
# ctest consumer_find_package: install the build tree given as $1 into a fresh prefix, then
# configure, build and run examples/consumer against it with find_package(touchstone).
# covers: CORE-CPP-PACKAGE
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$build/consumer-test
rm -rf "$work/prefix"
cmake --install "$build" --prefix "$work/prefix" --component development >/dev/null
test -f "$work/prefix/lib/cmake/touchstone/touchstoneConfig.cmake"
# The consumer must see only the installed tree: no path into the source or build tree.
if grep -rq "$(cd "$here/../.." && pwd)/" "$work/prefix/lib/cmake/touchstone"; then
  echo "the installed CMake package refers to the source tree:" >&2
  grep -rn "$(cd "$here/../.." && pwd)/" "$work/prefix/lib/cmake/touchstone" >&2
  exit 1
fi
export CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=1
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" >/dev/null
cmake --build "$work/build"
"$work/build/consumer"
