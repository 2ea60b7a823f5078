#!/usr/bin/env bash
# Prints the python of a venv with JAX, making it first if needed: Debian's python3 with
# --system-site-packages (so Debian's numpy 1.24 is the numpy) and JAX's CPU wheels from PyPI with
# `pip install --no-deps`, their dependencies pinned by hand (scripts/pinned_venv.sh).
# python/tests/test_jax.py runs touchstone's package from build/venv in it.
# Tried with Debian 12's numpy 1.24.2: jax/jaxlib 0.4.30 (ml_dtypes 0.4.0) and 0.4.38 (ml_dtypes
# 0.5.1) import and run; 0.5.3 fails at import (AttributeError: module 'numpy' has no attribute
# 'dtypes', which numpy added in 1.25). So 0.4.38, the last 0.4 release, with ml_dtypes 0.5.1,
# opt_einsum 3.3.0 and scipy 1.11.4 (a cp311 wheel for numpy < 1.28): jax's imported dependencies.
# Usage: scripts/jax_venv.sh   (TOUCHSTONE_JAX_VENV overrides the location)
# Exit 77 with the reason on stderr when PyPI cannot be reached (the JAX test then skips).
set -euo pipefail
venv=${TOUCHSTONE_JAX_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/touchstone/jax-venv}
packages=(jax==0.4.38 jaxlib==0.4.38 ml_dtypes==0.5.1 opt_einsum==3.3.0 scipy==1.11.4)
exec "$(dirname "${BASH_SOURCE[0]}")/pinned_venv.sh" "jax venv" "$venv" "import numpy" \
  "import jax.numpy as jnp; assert float(jnp.ones(3).sum()) == 3.0" "${packages[@]}"
