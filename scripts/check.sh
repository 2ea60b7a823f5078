#!/usr/bin/env bash
# The main job: install what is missing, build, and run `touchstone check` (every algorithm, every
# backend, the default problems). Extra arguments go to `touchstone check`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/build.sh release
exec ./build/touchstone check "$@"
