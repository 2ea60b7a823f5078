#!/usr/bin/env bash
# Prints the python of the peers' venv, making it first if needed: Debian's python3 with
# --system-site-packages (so Debian's torch and numpy are used, never a second torch) and the peers
# installed from PyPI with `pip install --no-deps`, their small pure-Python dependencies pinned by
# hand. Nothing of the peers' code is in the repository.
# Usage: scripts/peer_venv.sh   (TOUCHSTONE_PEER_VENV overrides the location)
# Exit 77 with the reason on stderr when PyPI cannot be reached (the peer tests then skip).
set -euo pipefail
venv=${TOUCHSTONE_PEER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/touchstone/peer-venv}
# performer-pytorch 1.1.4 (2022-02) imports einops, local-attention and axial-positional-embedding;
# newer local-attention releases pull hyper-connections, so it is pinned.
# higher 0.2.1 (2020) is pure Python over torch.
packages=(performer-pytorch==1.1.4 einops==0.8.2 local-attention==1.4.4 axial-positional-embedding==0.3.12
          higher==0.2.1)
# torchopt 0.7.3 runs on Debian's torch 1.13 (its compiled ops are optional) with optree 0.13.1 (a
# cp311 wheel), graphviz 0.20.3 (imported by torchopt.visual) and a typing_extensions newer than
# Debian's, installed inside the venv. learn2learn 0.2.0 does not build on Python 3.11: its
# pre-generated Cython C includes longintrepr.h, which 3.11 no longer ships.
packages+=(torchopt==0.7.3 optree==0.13.1 graphviz==0.20.3 typing_extensions==4.12.2)
# geotorch 0.4.0 is pure Python over torch (no dependencies beyond it); imports with Debian's torch 1.13.
packages+=(geotorch==0.4.0)
exec "$(dirname "${BASH_SOURCE[0]}")/pinned_venv.sh" "peer venv" "$venv" "import torch, numpy" "" "${packages[@]}"
