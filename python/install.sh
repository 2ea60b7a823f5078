#!/usr/bin/env bash
# Builds and installs the Python package into build/venv (made from Debian's /usr/bin/python3 with
# --system-site-packages, so numpy, torch and pytest are Debian's). The extension's build
# directory persists (build/python) and shares ccache entries with build/ (same flags), so a
# rebuild compiles only what changed. Prints the venv's python on the last line.
# Usage: python/install.sh   (then: build/venv/bin/python -m pytest python/tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
venv=build/venv
if [[ ! -x $venv/bin/python ]]; then
  mkdir -p build
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
# The build backend and pybind11 from PyPI, once; the build then runs without isolation so that
# its CMake cache (build/python) stays valid from one install to the next.
if ! "$venv/bin/python" -c "import scikit_build_core, pybind11" 2>/dev/null; then
  "$venv/bin/pip" install --quiet "scikit-build-core>=0.10,<2" "pybind11>=2.10,<4"
fi
CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-2} "$venv/bin/pip" install --quiet --no-build-isolation --no-deps .
echo "$venv/bin/python"
