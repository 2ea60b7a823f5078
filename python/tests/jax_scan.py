"""A float32 selective scan in JAX (jax.lax.scan over time; mamba_ssm's selective_scan_ref
semantics, spec/mamba.md [MAMBA-SCAN-DEF]), judged by touchstone.diff with the JAX arrays passed
as they are (read through __array__). Run by test_jax.py in a venv that has jax; not collected by
pytest itself (no test_ prefix).

Prints one JSON object: jax's version, the problem's shapes, and for the right scan and each
deliberately wrong variant its verdict and worst error/bound.
Usage: python jax_scan.py SIZE SEED
"""
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import touchstone

jax.config.update("jax_enable_x64", False)  # float32 throughout, as on an accelerator


def per_channel(X, b, d, n, L):
    """B or C as (L, b, d, n) from (d, n), (b, n, L) or (b, groups, n, L)."""
    if X.ndim == 2:
        return jnp.broadcast_to(X[None, None], (L, b, d, n))
    if X.ndim == 3:
        return jnp.broadcast_to(jnp.transpose(X, (2, 0, 1))[:, :, None, :], (L, b, d, n))
    X = jnp.repeat(X, d // X.shape[1], axis=1)  # (b, d, n, L)
    return jnp.transpose(X, (3, 0, 1, 2))


def selective_scan(inputs, wrong=None):
    """out, last_state of the scan in float32; `wrong` names a deliberate bug."""
    f = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in inputs.items() if k != "delta_softplus"}
    u, delta, A = f["u"], f["delta"], f["A"]
    b, d, L = u.shape
    n = A.shape[1]
    if "delta_bias" in f:
        delta = delta + f["delta_bias"][:, None]
    if float(np.asarray(inputs.get("delta_softplus", 0)).reshape(-1)[0]) != 0:
        delta = jnp.where(delta <= 20.0, jnp.log1p(jnp.exp(delta)), delta)
    Bt, Ct = per_channel(f["B"], b, d, n, L), per_channel(f["C"], b, d, n, L)
    dt = jnp.transpose(delta, (2, 0, 1))[..., None]  # (L, b, d, 1)
    ut = jnp.transpose(u, (2, 0, 1))[..., None]
    dA = dt * A
    if wrong == "exp2":  # exp(x) as exp2(x * 1.4428): log2(e) = 1.44269504... to five digits, as in
        # python/examples/test_selective_scan_example.py
        decay = jnp.exp2(dA * jnp.float32(1.4428))
    else:
        decay = jnp.exp(dA)

    def step(h, xs):
        a, bu, c = xs
        h = a * h + bu
        return h, jnp.sum(h * c, axis=-1)

    h0 = f["h0"] if "h0" in f else jnp.zeros((b, d, n), jnp.float32)
    last, ys = jax.lax.scan(step, h0, (decay, dt * Bt * ut, Ct))
    out = jnp.transpose(ys, (1, 2, 0))  # (b, d, L)
    if "D" in f:
        out = out + u * f["D"][:, None]
    if "z" in f:
        z = f["z"]
        out = out * (z * jax.nn.sigmoid(z))
    if wrong == "scaled":
        out = out * jnp.float32(1.001)
    return {"out": out, "last_state": last}


def main():
    size, seed = sys.argv[1], int(sys.argv[2])
    inputs = touchstone.generate("mamba.selective_scan", size, "float32", seed=seed)
    result = {"jax": jax.__version__, "numpy": np.__version__,
              "shapes": {k: list(np.shape(v)) for k, v in inputs.items()}}
    for variant in (None, "exp2", "scaled"):
        outputs = selective_scan(inputs, variant)
        assert all(isinstance(v, jax.Array) and v.dtype == jnp.float32 for v in outputs.values())
        report = touchstone.diff("mamba.selective_scan", inputs, outputs)
        result[variant or "right"] = {
            "verdict": report.verdict,
            "worst_ratio": max(o.max_err_over_bound for o in report.outputs.values()),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
