#!/usr/bin/env bash
# Makes (once) and prints the python of a venv of pinned PyPI packages over Debian's python:
# /usr/bin/python3 with --system-site-packages (so Debian's torch and numpy are used, never a
# second copy) and `pip install --no-deps` of exactly the packages given, their dependencies pinned
# by the caller. Remade when the pins change (a stamp file holds them); one maker at a time (flock:
# tests run in parallel under ctest -j, and two makers broke each other's ensurepip).
# Usage: scripts/pinned_venv.sh LABEL VENV NEEDS CHECK PACKAGE...
#   NEEDS: the Debian modules it relies on, as an import statement ("import torch, numpy");
#   CHECK: python run in the new venv before it is stamped ("" for none).
# Exit 77 with the reason on stderr when /usr/bin/python3 lacks NEEDS or PyPI cannot be reached.
set -euo pipefail
label=$1 venv=$2 needs=$3 check=$4
shift 4
packages=("$@")
stamp="$venv/.touchstone-pins"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${packages[*]}" ]]; then
  echo "$venv/bin/python"; exit 0
fi
/usr/bin/python3 -c "$needs" 2>/dev/null ||
  { echo "$label: /usr/bin/python3 cannot '$needs' (apt: python3-torch python3-numpy)" >&2; exit 77; }
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv" >&2
if ! "$venv/bin/pip" install --quiet --no-deps --timeout 30 "${packages[@]}" >&2; then
  echo "$label: pip could not install ${packages[*]} from PyPI (registry unreachable?)" >&2
  rm -rf "$venv"; exit 77
fi
[[ -z "$check" ]] || "$venv/bin/python" -c "$check" >&2
echo "${packages[*]}" > "$stamp"
echo "$venv/bin/python"
