"""touchstone from Python: judge a kernel's outputs against a verified MPFR oracle and an a-priori
error bound (spec/core.md [CORE-PYTHON-API]).

    import touchstone
    report = touchstone.diff("mamba.selective_scan", inputs, {"out": out})
    print(report.text)          # exactly what `touchstone diff` prints
    assert report.passed

Arrays may be numpy arrays, torch tensors (any dtype, bfloat16 included; detached; moved to the
CPU) or anything with ``__array__`` (JAX arrays). Inputs are checked by the same C++ code as
`touchstone diff` reads from an .npz, so an invalid argument raises :class:`InvalidInput` (a
ValueError) whose message starts with the argument's name.
"""

from __future__ import annotations

import builtins
import json as _json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import numpy as np

from . import _touchstone

__all__ = ["InvalidInput", "Report", "OutputReport", "list", "info", "generate", "eval", "diff",
           "testing"]

#: Raised for an invalid algorithm, array, option or format; the message starts with the name of
#: the offending argument ("u: expected shape ..."), which ``.argument`` holds.
InvalidInput = _touchstone.InvalidInput
InvalidInput.argument = property(lambda self: str(self).split(":", 1)[0])

_BF16_NAMES = ("bfloat16",)


def _invalid(argument: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{argument}: {problem}")


def _to_numpy(name: str, x: Any) -> tuple[np.ndarray, bool]:
    """(numpy array, whether it was bfloat16) of a numpy array, torch tensor or array-like."""
    module = type(x).__module__ or ""
    if module.startswith("torch"):
        import torch  # noqa: PLC0415 (only when a tensor is passed)

        if isinstance(x, torch.Tensor):
            t = x.detach()
            if t.device.type != "cpu":
                t = t.cpu()
            t = t.resolve_conj().resolve_neg()
            if t.dtype == torch.bfloat16:
                return t.to(torch.float32).numpy(), True  # exact: every bfloat16 is a float32
            if t.dtype == getattr(torch, "complex32", None):
                t = t.to(torch.complex64)
            return t.numpy(), False
    if isinstance(x, np.ndarray):
        a = x
    else:
        try:
            a = np.asarray(x)  # JAX arrays, lists, scalars, anything with __array__
        except Exception as e:  # noqa: BLE001
            raise _invalid(name, f"cannot be read as an array ({type(x).__name__}: {e})") from None
    if a.dtype.name in _BF16_NAMES:  # ml_dtypes' bfloat16 (JAX)
        return a.astype(np.float32), True
    return a, False


def _npy(name: str, a: np.ndarray) -> tuple:
    """What a .npy file of `a` gives core: (kind, bytes per real number, complex, float64 values
    in C order, complex ones with a trailing (re, im) axis)."""
    kind = a.dtype.kind
    if kind == "f":
        return ("f", a.dtype.itemsize, False, np.ascontiguousarray(a, dtype=np.float64))
    if kind == "c":
        part = np.float64 if a.dtype.itemsize == 16 else np.float32
        pairs = np.stack([a.real.astype(part), a.imag.astype(part)], axis=-1)
        return ("f", a.dtype.itemsize // 2, True, np.ascontiguousarray(pairs, dtype=np.float64))
    if kind in "iu":
        limit = 1 << 53
        if a.size and (int(a.max()) > limit or int(a.min()) < -limit):
            raise _invalid(name, "integer beyond 2^53 is not exactly a double")
        return (kind, a.dtype.itemsize, False, np.ascontiguousarray(a, dtype=np.float64))
    if kind == "b":
        return ("b", 1, False, np.ascontiguousarray(a, dtype=np.float64))
    raise _invalid(name, f"unsupported dtype {a.dtype} (expected a float, complex, integer or bool array)")


def _arrays(argument: str, arrays: Mapping[str, Any]) -> tuple[dict, builtins.list[str]]:
    """core's view of a dict of arrays, and the names of those that were bfloat16."""
    if not isinstance(arrays, Mapping):
        raise _invalid(argument, f"expected a dict of arrays by name, got {type(arrays).__name__}")
    out, bf16 = {}, []
    for name, x in arrays.items():
        if not isinstance(name, str):
            raise _invalid(argument, f"array names must be strings, got {name!r}")
        a, is_bf16 = _to_numpy(name, x)
        out[name] = _npy(name, a)
        if is_bf16:
            bf16.append(name)
    return out, bf16


def _options(options: Optional[Mapping[str, Any]]) -> dict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise _invalid("options", f"expected a dict of option values, got {type(options).__name__}")
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items()}


def list() -> builtins.list[str]:  # noqa: A001 (the CLI's `touchstone list`)
    """The names of every algorithm touchstone knows, in the registry's order."""
    return [a["name"] for a in _touchstone.algorithms()]


def info(algorithm: str) -> dict:
    """One algorithm's entry: summary, spec reference, inputs and outputs (name, shape, meaning,
    optional), options (name, meaning, default), default sizes, backends."""
    for a in _touchstone.algorithms():
        if a["name"] == algorithm:
            return a
    raise _invalid("algorithm", f"unknown algorithm '{algorithm}' (touchstone.list() names them)")


def generate(algorithm: str, size: str = "small", format: str = "float32", seed: int = 0) -> dict:
    """A default problem's inputs by the peer's names, as numpy arrays of `format`'s dtype
    (float32 or float64; an array whose values are not all of that format, such as an integer
    beyond 2^24, stays float64). Complex inputs have a trailing (re, im) axis, as
    `touchstone generate` writes them."""
    arrays, _ = _touchstone.generate(algorithm, size, format, int(seed))
    if format == "float32":
        for name, a in arrays.items():
            a32 = a.astype(np.float32)
            if np.array_equal(a32.astype(np.float64), a, equal_nan=True):
                arrays[name] = a32
    return arrays


def eval(algorithm: str, inputs: Mapping[str, Any], options: Optional[Mapping[str, Any]] = None,
         precision: int = 256) -> dict:  # noqa: A001 (the CLI's `touchstone eval`)
    """The verified oracle's outputs (MPFR from `precision` bits, checked at twice that) rounded
    to float64 numpy arrays; complex outputs have a trailing (re, im) axis."""
    arrays, _ = _arrays("inputs", inputs)
    return _touchstone.eval(algorithm, arrays, _options(options), int(precision))


@dataclass
class OutputReport:
    """One output judged: counts of elements within / outside the bound and unjudged, the errors
    (max abs, max rel, max ulps in the judged format), the tightness (error / bound, max and
    median), the worst element (index tuple, theirs, exact, bound), the first elements outside,
    and touchstone's own backend's errors on the same problem (`baseline`)."""

    name: str
    verdict: str
    count: int
    within: int
    outside: int
    unjudged: int
    nan_expected: int
    max_abs: float
    max_rel: float
    max_ulps: float
    max_err_over_bound: float
    median_err_over_bound: float
    worst_index: Optional[tuple]
    worst_theirs: Optional[float]
    worst_exact: Optional[float]
    worst_bound: Optional[float]
    first_unjudged_index: Optional[tuple]
    first_failures: builtins.list = field(default_factory=builtins.list)
    shape: tuple = ()
    baseline: Optional[dict] = None

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"


class Report:
    """The verdict of `diff`: ``verdict`` ("PASS", "FAIL" or "INCONCLUSIVE"), ``passed``,
    ``suspect`` (a PASS that the statistical tier doubts), ``exit_code`` (0, 1, 3: the CLI's), ``outputs`` (name -> :class:`OutputReport`), ``text``
    (what `touchstone diff` prints) and ``json`` (what its --json writes)."""

    def __init__(self, d: dict):
        self._d = d
        self.algorithm: str = d["algorithm"]
        self.problem: str = d["problem"]
        self.format: str = d["format"]
        self.compute: str = d["compute"]
        self.elementary_ulps: float = d["elementary_ulps"]
        self.precision: int = d["precision"]
        self.order_assumed: str = d["order_assumed"]
        self.verdict: str = d["verdict"]
        self.exit_code: int = d["exit_code"]
        # [CORE-DIFF-SUSPECT]: within the bound, but statistically unlike a correct kernel (the
        # reasons are in `text`, the statistics in `json`).
        self.suspect: bool = d["suspect"]
        self.notes: builtins.list[str] = d["notes"]
        self.baseline_backend: str = d["baseline_backend"]
        self.text: str = d["text"]
        self.json: str = d["json"]
        self.outputs: dict[str, OutputReport] = {
            name: OutputReport(name=name, **o) for name, o in d["outputs"].items()}

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def as_dict(self) -> dict:
        """The JSON report as a dict."""
        return _json.loads(self.json)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<touchstone.Report {self.algorithm}: {self.verdict} ({self.format}, {self.problem})>"


def diff(algorithm: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
         format: Union[str, Mapping[str, str], None] = None, options: Optional[Mapping[str, Any]] = None,
         elementary_ulps: float = 4, precision: int = 256, oracle: Optional[str] = None) -> Report:
    """Judge `outputs` (any non-empty subset of the algorithm's outputs, by the peer's names)
    computed from `inputs` against the verified oracle and the any-order error bound, as
    `touchstone diff` does. `format`: what the outputs are stored in (float16, bfloat16, float32,
    float64), for all of them, or per output as a dict {name: format} or the CLI's
    "out=bfloat16,last_state=float32" ([CORE-DIFF-FORMATS]); an output not named keeps its dtype's
    (bfloat16 for bfloat16 tensors). `oracle`: "fast" or "mpfr", the oracle tier
    ([CORE-DIFF-TIERS]); None leaves core's default."""
    ins, _ = _arrays("inputs", inputs)
    outs, bf16 = _arrays("outputs", outputs)
    if not outs:
        raise _invalid("outputs", "holds no arrays")
    if isinstance(format, Mapping):
        items = [f"{k}={v}" for k, v in format.items()]
    elif format is not None:
        if not isinstance(format, str):
            raise _invalid("format", f"expected a format name or a dict by output, got {type(format).__name__}")
        items = [format]
    else:
        items = []
    named = {i.split("=", 1)[0] for i in items if "=" in i}
    if not any("=" not in i for i in items):  # no format for all: bfloat16 tensors are bfloat16
        if not items and bf16 and set(bf16) == set(outs):
            items = ["bfloat16"]
        else:
            items += [f"{name}=bfloat16" for name in bf16 if name not in named]
    return Report(_touchstone.diff(algorithm, ins, outs, ",".join(items), _options(options),
                                   float(elementary_ulps), int(precision), oracle or ""))


from . import testing  # noqa: E402 (touchstone.testing.assert_matches_oracle after `import touchstone`)
