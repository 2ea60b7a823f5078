"""The Python package's contract (spec/core.md [CORE-PYTHON-API]): list, generate, eval and diff
on numpy, torch (bfloat16 included) and array-like inputs, the verdicts on right and wrong
answers, per-output formats, SUSPECT, InvalidInput naming the argument, the assertion's message
and the pytest plugin.
covers: CORE-PYTHON-API CORE-DIFF-FORMATS CORE-DIFF-SUSPECT
"""

import os
import pathlib
import subprocess

import numpy as np
import pytest

import touchstone
from touchstone.testing import assert_matches_oracle
from scan_numpy import selective_scan

ALGO = "mamba.selective_scan"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def problem():
    """The registry's "small" selective-scan problem (float32 values) and its oracle."""
    inputs = touchstone.generate(ALGO, "small", "float32", seed=3)
    exact = touchstone.eval(ALGO, inputs)
    return inputs, exact


def rounded(exact, dtype=np.float32):
    return {k: v.astype(dtype) for k, v in exact.items()}


def test_list_and_info():
    names = touchstone.list()
    assert ALGO in names and len(names) == len(set(names)) > 10
    entry = touchstone.info(ALGO)
    assert [o["name"] for o in entry["outputs"]] == ["out", "last_state"]
    assert "u" in [i["name"] for i in entry["inputs"]] and "small" in entry["sizes"]
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.info("mamba.no_such_thing")
    assert e.value.argument == "algorithm"


def test_generate_is_reproducible_and_typed():
    a = touchstone.generate(ALGO, "small", "float32", seed=3)
    b = touchstone.generate(ALGO, "small", "float32", seed=3)
    c = touchstone.generate(ALGO, "small", "float32", seed=4)
    assert set(a) >= {"u", "delta", "A", "B", "C"}
    assert a["u"].dtype == np.float32 and a["u"].shape[0] == 2
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["u"], c["u"])
    f64 = touchstone.generate(ALGO, "small", "float64", seed=3)
    assert f64["u"].dtype == np.float64
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.generate(ALGO, "small", "float16")
    assert e.value.argument == "format"


def test_eval_matches_an_independent_float64_scan(problem):
    inputs, exact = problem
    assert set(exact) == {"out", "last_state"}
    assert all(v.dtype == np.float64 for v in exact.values())
    kw = {k: inputs[k] for k in ("D", "z", "delta_bias", "h0") if k in inputs}
    out, last = selective_scan(inputs["u"], inputs["delta"], inputs["A"], inputs["B"], inputs["C"],
                               delta_softplus=bool(np.asarray(inputs.get("delta_softplus", 0)).any()),
                               **kw)
    # float64 numpy against the MPFR oracle rounded to float64: a few ulps of float64, far below
    # any float32 difference a wrong input would make.
    np.testing.assert_allclose(exact["out"], out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(exact["last_state"], last, rtol=1e-12, atol=1e-12)


def test_rounded_oracle_passes(problem):
    inputs, exact = problem
    r = touchstone.diff(ALGO, inputs, rounded(exact))
    assert r.verdict == "PASS" and r.passed and r.exit_code == 0, r.text
    assert r.format == "float32"
    o = r.outputs["out"]
    assert o.count == o.within == exact["out"].size and o.outside == o.unjudged == 0
    assert 0 < o.max_err_over_bound <= 1 and o.median_err_over_bound <= o.max_err_over_bound
    assert o.max_ulps <= 0.5 + 1e-9  # the rounding to float32 itself
    assert len(o.worst_index) == 3 and o.baseline is not None
    assert abs(o.worst_theirs - o.worst_exact) <= o.worst_bound
    assert "verdict: PASS" in r.text and r.as_dict()["verdict"] == "PASS"


def test_float64_outputs_are_judged_as_float64(problem):
    inputs, exact = problem
    r = touchstone.diff(ALGO, inputs, {"out": exact["out"]})
    assert r.passed and r.format == "float64" and set(r.outputs) == {"out"}


@pytest.mark.parametrize("wrong", ["scaled", "nan", "one_element"])
def test_wrong_answers_fail(problem, wrong):
    inputs, exact = problem
    out = exact["out"].astype(np.float32)
    index = (1, 2, 17)
    if wrong == "scaled":
        out = out * np.float32(1.01)
    elif wrong == "nan":
        out[index] = np.nan
    else:
        # One element moved by 1e-3 of its value: beyond a float32 bound (a few 1e-6 relative).
        out[index] = np.float32(out[index] * (1 + 1e-3))
    r = touchstone.diff(ALGO, inputs, {"out": out, "last_state": exact["last_state"].astype(np.float32)})
    assert r.verdict == "FAIL" and not r.passed and r.exit_code == 1, r.text
    o = r.outputs["out"]
    assert o.outside >= 1 and r.outputs["last_state"].passed
    if wrong != "scaled":
        assert o.outside == 1 and o.worst_index == index
        assert o.first_failures[0][0] == index
    assert "verdict: FAIL" in r.text


def test_torch_tensors_bfloat16_and_requires_grad(problem):
    torch = pytest.importorskip("torch")
    inputs, exact = problem
    t_inputs = {k: torch.from_numpy(v).requires_grad_(v.dtype == np.float32) for k, v in inputs.items()}
    # u as a transposed (non-contiguous) view, as a (batch, seqlen, dim) model would hold it.
    t_inputs["u"] = torch.from_numpy(np.ascontiguousarray(inputs["u"].transpose(0, 2, 1))).transpose(1, 2)
    assert not t_inputs["u"].is_contiguous()
    bf16 = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in exact.items()}
    r = touchstone.diff(ALGO, t_inputs, bf16)
    assert r.format == "bfloat16" and r.passed, r.text
    wrong = {k: (v.float() * 1.02).to(torch.bfloat16) for k, v in bf16.items()}
    r = touchstone.diff(ALGO, t_inputs, wrong)
    assert r.format == "bfloat16" and r.verdict == "FAIL", r.text
    # float32 tensors with requires_grad are detached; an explicit format wins over the dtype's.
    f32 = {k: torch.from_numpy(v).float().requires_grad_() for k, v in exact.items()}
    assert touchstone.diff(ALGO, t_inputs, f32).format == "float32"
    assert touchstone.diff(ALGO, t_inputs, f32, format="float64").verdict == "FAIL"
    # [CORE-DIFF-FORMATS] A bfloat16 out beside a float32 last_state: each judged in its own format.
    r = touchstone.diff(ALGO, t_inputs, {"out": bf16["out"], "last_state": f32["last_state"]})
    assert r.passed, r.text
    assert r.as_dict()["outputs"]["out"]["format"] == "bfloat16"
    assert r.as_dict()["outputs"]["last_state"]["format"] == "float32"


def test_non_contiguous_and_array_like_inputs(problem):
    inputs, exact = problem
    strided = dict(inputs)
    wide = np.zeros(inputs["u"].shape[:-1] + (2 * inputs["u"].shape[-1],), np.float32)
    wide[..., ::2] = inputs["u"]
    strided["u"] = wide[..., ::2]
    strided["A"] = np.asfortranarray(inputs["A"])
    assert not strided["u"].flags.c_contiguous

    class ArrayLike:  # what np.asarray reads a JAX array through (JAX is not installed here)
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None):
            return self.a if dtype is None else self.a.astype(dtype)

    outs = {k: ArrayLike(v) for k, v in rounded(exact).items()}
    assert touchstone.diff(ALGO, strided, outs).passed
    # A strided view that is read as if it were contiguous would give other inputs and FAIL.
    shuffled = dict(inputs, u=np.ascontiguousarray(wide[..., : inputs["u"].shape[-1]]))
    assert touchstone.diff(ALGO, shuffled, rounded(exact)).verdict == "FAIL"


def test_invalid_input_names_the_argument(problem):
    inputs, exact = problem
    outs = rounded(exact)
    cases = {
        "u": dict(inputs, u=inputs["u"][:, :, :-1]),  # seqlen disagrees with delta's... or names u
        "A": dict(inputs, A=np.array(["x"] * 4)),
        "delta": {k: v for k, v in inputs.items() if k != "delta"},
    }
    for argument, bad in cases.items():
        with pytest.raises(touchstone.InvalidInput) as e:
            touchstone.diff(ALGO, bad, outs)
        assert isinstance(e.value, ValueError)
        assert e.value.argument == argument and str(e.value).startswith(argument + ":"), str(e.value)
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.diff(ALGO, inputs, dict(outs, nonsense=outs["out"]))
    assert e.value.argument == "nonsense"
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.diff(ALGO, inputs, outs, format="float8")
    assert e.value.argument == "format"
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.diff(ALGO, inputs, outs, oracle="guess")
    assert e.value.argument == "oracle"
    with pytest.raises(touchstone.InvalidInput) as e:
        touchstone.eval(ALGO, inputs, options={"no_such_option": 1})
    assert e.value.argument == "no_such_option"


def test_assert_matches_oracle_message(problem):
    inputs, exact = problem
    outs = rounded(exact)
    report = assert_matches_oracle(ALGO, inputs, outs)
    assert report.passed
    outs["out"][0, 1, 5] += np.float32(0.25)
    with pytest.raises(AssertionError) as e:
        assert_matches_oracle(ALGO, inputs, outs)
    msg = str(e.value)
    assert msg.startswith(f"touchstone: {ALGO} outputs are FAIL")
    assert "out: 1 of" in msg and "out[0, 1, 5]: theirs" in msg
    assert "verdict: FAIL" in msg and "worst at (0, 1, 5)" in msg  # the CLI's text follows


def test_text_is_what_the_cli_prints(problem, tmp_path):
    cli = pathlib.Path(os.environ.get("TOUCHSTONE_CLI", ROOT / "build" / "touchstone"))
    if not cli.exists():
        pytest.skip(f"no touchstone binary at {cli} (set TOUCHSTONE_CLI)")
    inputs, exact = problem
    outs = rounded(exact)
    outs["out"][1, 0, 3] = np.float32(outs["out"][1, 0, 3] * 1.001)
    np.savez(tmp_path / "in.npz", **inputs)
    np.savez(tmp_path / "out.npz", **outs)
    run = subprocess.run([str(cli), "diff", ALGO, "--inputs", str(tmp_path / "in.npz"),
                          "--outputs", str(tmp_path / "out.npz")], capture_output=True, text=True)
    r = touchstone.diff(ALGO, inputs, outs)
    assert run.returncode == r.exit_code == 1
    assert run.stdout == r.text


def test_fixture_default(touchstone_oracle):
    assert touchstone_oracle.oracle is None


@pytest.mark.touchstone_fast
def test_fixture_fast_marker(touchstone_oracle, problem):
    assert touchstone_oracle.oracle == "fast"
    inputs, exact = problem
    assert touchstone_oracle.assert_matches(ALGO, inputs, rounded(exact)).passed
    assert touchstone_oracle.diff(ALGO, inputs, {"out": exact["out"] * 1.01}).verdict == "FAIL"


def test_inconclusive_fails_the_assertion_unless_allowed(problem):
    """float16 outputs whose largest value sits at float16's largest finite value (65504): the
    stored value may round to infinity, so that element has no finite bound (unjudged)."""
    inputs, exact = problem
    scale = 65500.0 / np.abs(exact["out"]).max()
    # out is linear in (u, h0) jointly: scaling both scales it.
    big = dict(inputs, u=(inputs["u"] * scale).astype(np.float32),
               h0=(inputs["h0"] * scale).astype(np.float32))
    outs = {"out": touchstone.eval(ALGO, big)["out"].astype(np.float16)}
    r = touchstone.diff(ALGO, big, outs)
    assert r.verdict == "INCONCLUSIVE" and r.exit_code == 3 and not r.passed, r.text
    o = r.outputs["out"]
    assert o.unjudged >= 1 and o.outside == 0 and len(o.first_unjudged_index) == 3
    with pytest.raises(AssertionError, match="INCONCLUSIVE") as e:
        assert_matches_oracle(ALGO, big, outs)
    assert "unjudged" in str(e.value)
    assert assert_matches_oracle(ALGO, big, outs, allow_inconclusive=True).verdict == "INCONCLUSIVE"


def test_complex_arrays_are_read_as_re_im_pairs():
    algo = "mamba.selective_scan_complex"
    pairs = touchstone.generate(algo, "small", "float32", seed=5)
    exact = touchstone.eval(algo, pairs)
    def as_complex(a):  # (..., 2) float pairs -> complex, the layout numpy's .view(float) shows
        return np.ascontiguousarray(a).view(np.complex64 if a.dtype == np.float32 else np.complex128)[..., 0]

    assert pairs["A"].shape[-1] == 2  # "small": A as (dim, dstate, 2) pairs, B and C variable
    inputs = dict(pairs, A=as_complex(pairs["A"]))
    assert inputs["A"].dtype == np.complex64
    state = as_complex(exact["last_state"].astype(np.float32))
    assert state.dtype == np.complex64 and state.ndim == 3
    r = touchstone.diff(algo, inputs, {"out": exact["out"].astype(np.float32), "last_state": state})
    assert r.passed and r.format == "float32", r.text
    assert r.outputs["last_state"].shape == exact["last_state"].shape  # (..., 2): (re, im)
    r = touchstone.diff(algo, inputs, {"last_state": np.conj(state)})
    assert r.verdict == "FAIL"


def test_testing_is_an_attribute_of_the_package():
    assert touchstone.testing.assert_matches_oracle is assert_matches_oracle


def test_formats_per_output_as_a_dict_or_the_cli_string(problem):
    inputs, exact = problem
    bf16_out = {"out": _bf16_rounded(exact["out"]), "last_state": exact["last_state"].astype(np.float32)}
    for fmt in ({"out": "bfloat16"}, "out=bfloat16,last_state=float32"):
        r = touchstone.diff(ALGO, inputs, bf16_out, format=fmt)
        assert r.passed, r.text
        assert r.as_dict()["outputs"]["out"]["format"] == "bfloat16"
    # The same arrays all judged as float32: out fails, and the report suggests its format.
    r = touchstone.diff(ALGO, inputs, bf16_out)
    assert r.verdict == "FAIL" and any("--format out=bfloat16" in n for n in r.notes), r.text
    for bad in ({"outt": "bfloat16"}, {"out": "float8"}, 3):
        with pytest.raises(touchstone.InvalidInput) as e:
            touchstone.diff(ALGO, inputs, bf16_out, format=bad)
        assert e.value.argument == "format", str(e.value)


def _bf16_rounded(x):
    """x rounded to the nearest bfloat16 (ties to even), as float32."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return b.astype(np.uint32).view(np.float32)


def test_suspect_bias_is_reported_and_strict_fails_it(problem):
    inputs, exact = problem
    biased = {k: (v * (1 + 2.0 ** -20)).astype(np.float32) for k, v in exact.items()}
    r = touchstone.diff(ALGO, inputs, biased)
    assert r.verdict == "PASS" and r.suspect and r.exit_code == 0, r.text
    assert "SUSPECT out" in r.text and r.as_dict()["outputs"]["out"]["suspect"]["bias"]
    assert assert_matches_oracle(ALGO, inputs, biased).suspect
    with pytest.raises(AssertionError) as e:
        assert_matches_oracle(ALGO, inputs, biased, strict=True)
    assert "PASS but SUSPECT" in str(e.value)
    ok = touchstone.diff(ALGO, inputs, rounded(exact))
    assert ok.passed and not ok.suspect
    assert_matches_oracle(ALGO, inputs, rounded(exact), strict=True)
