"""A selective-scan test in the style of mamba_ssm's tests/ops/test_selective_scan.py, judged by
touchstone instead of torch.allclose.

`scan` is the "kernel" under test: a plain PyTorch selective scan written for this example (the
recurrence h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t + D u_t, times silu(z)).
The parametrized test asks touchstone whether its outputs are within the a-priori error bound of
any float32 (or bfloat16-stored) implementation of the scan, around the MPFR oracle.

`scan_with_short_log2e` is the same kernel with one bug: exp(delta A) is computed as
exp2(delta A log2(e)), as fast kernels do, with log2(e) = 1.44269504... written as 1.4428 (a
relative error of 7.3e-5 in the argument). Its outputs pass mamba_ssm's own float32 check,
allclose(rtol=6e-4, atol=2e-3) against the correct kernel, on every configuration below with
seqlen > 1 (the largest |difference| / (atol + rtol |reference|) is 0.43), yet touchstone FAILs
every one of them: its largest error is at least 3 times the bound of any float32
implementation (test_short_log2e_bug_passes_allclose_but_fails_touchstone asserts both).
Run: build/venv/bin/python -m pytest python/examples
covers: CORE-PYTHON-API
"""

import itertools

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from touchstone.testing import assert_matches_oracle  # noqa: E402
import touchstone  # noqa: E402

ALGO = "mamba.selective_scan"
RTOL, ATOL = 6e-4, 2e-3  # mamba_ssm's tolerances for float32


def _expand(X, batch, dim, L):
    """B or C as (batch, dim, dstate, L) from (dim, dstate), (batch, dstate, L) or
    (batch, groups, dstate, L)."""
    if X.dim() == 2:
        return X[None, :, :, None].expand(batch, -1, -1, L)
    if X.dim() == 3:
        return X[:, None].expand(-1, dim, -1, -1)
    return X.repeat_interleave(dim // X.shape[1], dim=1)


def scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, log2e=None):
    """Selective scan in float32 (inputs of any float dtype are widened first); returns (out,
    last_state). log2e: if given, exp(x) is computed as exp2(x * log2e)."""
    u, delta, A, B, C = (x.float() for x in (u, delta, A, B, C))
    batch, dim, L = u.shape
    dt = delta if delta_bias is None else delta + delta_bias.float()[:, None]
    if delta_softplus:
        dt = F.softplus(dt)
    Bx, Cx = _expand(B, batch, dim, L), _expand(C, batch, dim, L)
    h = u.new_zeros(batch, dim, A.shape[1])
    ys = []
    for t in range(L):
        x = dt[:, :, t, None] * A
        decay = torch.exp(x) if log2e is None else torch.exp2(x * log2e)
        h = decay * h + dt[:, :, t, None] * Bx[..., t] * u[:, :, t, None]
        ys.append((h * Cx[..., t]).sum(-1))
    out = torch.stack(ys, dim=-1)
    if D is not None:
        out = out + u * D.float()[:, None]
    if z is not None:
        out = out * F.silu(z.float())
    return out, h


def scan_with_short_log2e(*args, **kwargs):
    # log2(e) = 1.44269504... written with five digits.
    return scan(*args, log2e=1.4428, **kwargs)


def make_problem(seqlen, itype, has_D, has_z, has_delta_bias, delta_softplus, variable_B, seed=0):
    """Inputs like mamba_ssm's test: batch 2, dim 4, dstate 8; u, B, C, D, z Gaussian, delta and
    delta_bias in [0, 0.5), A in (-0.5, 0]; rounded to `itype`."""
    g = torch.Generator().manual_seed(seed)
    batch, dim, dstate = 2, 4, 8
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    inputs = {
        "u": r(batch, dim, seqlen),
        "delta": 0.5 * torch.rand(batch, dim, seqlen, generator=g),
        "A": -0.5 * torch.rand(dim, dstate, generator=g),
        "B": r(batch, dstate, seqlen) if variable_B else r(dim, dstate),
        "C": r(batch, dstate, seqlen),
    }
    if has_D:
        inputs["D"] = r(dim)
    if has_z:
        inputs["z"] = r(batch, dim, seqlen)
    if has_delta_bias:
        inputs["delta_bias"] = 0.5 * torch.rand(dim, generator=g)
    inputs = {k: v.to(itype) for k, v in inputs.items()}
    return inputs, delta_softplus


def call(kernel, inputs, delta_softplus):
    return kernel(**inputs, delta_softplus=delta_softplus)


def touchstone_inputs(inputs, delta_softplus):
    return dict(inputs, delta_softplus=torch.tensor(delta_softplus))


CONFIGS = list(itertools.product([1, 33, 128], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize("itype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("seqlen,has_D,has_z,variable_B", CONFIGS)
def test_selective_scan(seqlen, has_D, has_z, variable_B, itype):
    inputs, softplus = make_problem(seqlen, itype, has_D, has_z, True, True, variable_B)
    out, last_state = call(scan, inputs, softplus)
    # Stored like the inputs: float32, or bfloat16 (computed in float32, rounded once at the end).
    outputs = {"out": out.to(itype), "last_state": last_state.to(itype)}
    assert_matches_oracle(ALGO, touchstone_inputs(inputs, softplus), outputs)


# seqlen 1 is left out: the state starts at 0, so the first exp(delta A) multiplies nothing.
@pytest.mark.parametrize("seqlen,has_D,has_z,variable_B", [c for c in CONFIGS if c[0] > 1])
def test_short_log2e_bug_passes_allclose_but_fails_touchstone(seqlen, has_D, has_z, variable_B):
    inputs, softplus = make_problem(seqlen, torch.float32, has_D, has_z, True, True, variable_B)
    out_ref, last_ref = call(scan, inputs, softplus)
    out, last_state = call(scan_with_short_log2e, inputs, softplus)
    # mamba_ssm's check lets the bug through ...
    assert torch.allclose(out, out_ref, rtol=RTOL, atol=ATOL)
    assert torch.allclose(last_state, last_ref, rtol=RTOL, atol=ATOL)
    # ... touchstone does not.
    report = touchstone.diff(ALGO, touchstone_inputs(inputs, softplus),
                             {"out": out, "last_state": last_state})
    assert report.verdict == "FAIL", report.text
    with pytest.raises(AssertionError, match="outside the bound"):
        assert_matches_oracle(ALGO, touchstone_inputs(inputs, softplus),
                              {"out": out, "last_state": last_state})
