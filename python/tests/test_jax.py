"""JAX arrays into touchstone.diff, for real (spec/core.md [CORE-PYTHON-API]): a float32 selective
scan written in JAX (jax.lax.scan, python/tests/jax_scan.py) on touchstone.generate's inputs
passes, and the same scan with a deliberate bug fails.

JAX is not a Debian package: scripts/jax_venv.sh makes a venv from Debian's python with
--system-site-packages and JAX's CPU wheels pinned (jax/jaxlib 0.4.38, the last that import with
Debian 12's numpy 1.24). The package under test is the one this pytest runs (build/venv): the
scan runs in the JAX venv with only that package's directory added to its path. Skips, saying
why, only when the venv cannot be made because PyPI cannot be reached (jax_venv.sh exits 77).
covers: CORE-PYTHON-API
"""

import json
import os
import pathlib
import subprocess

import pytest

import touchstone

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jax_python(tmp_path_factory):
    """(the JAX venv's python, an environment whose PYTHONPATH holds only this touchstone)."""
    made = subprocess.run([str(ROOT / "scripts" / "jax_venv.sh")], capture_output=True, text=True)
    if made.returncode == 77:
        pytest.skip(f"no JAX: {made.stderr.strip().splitlines()[-1]}")
    assert made.returncode == 0, made.stderr
    python = made.stdout.strip().splitlines()[-1]
    # A directory holding just a link to the package this pytest imports, so that the JAX venv
    # imports the same build (same interpreter, Debian's python 3.11) and nothing else of
    # build/venv.
    path = tmp_path_factory.mktemp("touchstone-path")
    (path / "touchstone").symlink_to(pathlib.Path(touchstone.__file__).parent)
    env = dict(os.environ, PYTHONPATH=str(path), JAX_PLATFORMS="cpu")
    return python, env


# "small" (variable grouped B and C, D, z, delta_bias, h0, softplus) and "medium" (constant B,
# L = 256). Not "tiny": its seqlen is 1 with no h0, so the state starts at 0 and the decay factor,
# where the exp2 bug lives, never reaches an output.
@pytest.mark.parametrize("size,seed", [("small", 1), ("small", 2), ("medium", 1)])
def test_jax_scan_passes_and_its_bugs_fail(jax_python, size, seed):
    python, env = jax_python
    run = subprocess.run([python, str(ROOT / "python" / "tests" / "jax_scan.py"), size, str(seed)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    r = json.loads(run.stdout.strip().splitlines()[-1])
    assert r["jax"] == "0.4.38"
    assert r["right"]["verdict"] == "PASS", r
    assert r["right"]["worst_ratio"] <= 1
    # exp(x) as exp2(1.4428 x): a relative error of 7e-5 |x| in every decay factor.
    assert r["exp2"]["verdict"] == "FAIL", r
    # every output times 1.001
    assert r["scaled"]["verdict"] == "FAIL", r
