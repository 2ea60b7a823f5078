"""pytest plugin (entry point pytest11 "touchstone", loaded once the package is installed).

- fixture ``touchstone_oracle``: ``.diff(algorithm, inputs, outputs, **kw)`` -> Report and
  ``.assert_matches(algorithm, inputs, outputs, **kw)`` (touchstone.testing.assert_matches_oracle).
- marker ``touchstone_fast``: the fixture judges with ``oracle="fast"``, core's certified fast
  tier ([CORE-DIFF-TIERS]: touchstone's cpu-f64 backend's enclosure, MPFR only where it cannot
  settle an element); without it the fixture leaves core's default tier.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pytest

from . import Report, diff
from .testing import assert_matches_oracle


class Oracle:
    def __init__(self, oracle: Optional[str] = None):
        self.oracle = oracle

    def _kw(self, kwargs: dict) -> dict:
        if self.oracle is not None:
            kwargs.setdefault("oracle", self.oracle)
        return kwargs

    def diff(self, algorithm: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
             **kwargs: Any) -> Report:
        return diff(algorithm, inputs, outputs, **self._kw(kwargs))

    def assert_matches(self, algorithm: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                       **kwargs: Any) -> Report:
        return assert_matches_oracle(algorithm, inputs, outputs, **self._kw(kwargs))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "touchstone_fast: the touchstone_oracle fixture judges with oracle='fast', the certified "
        "fast oracle tier (spec/core.md [CORE-DIFF-TIERS])")


@pytest.fixture
def touchstone_oracle(request: pytest.FixtureRequest) -> Oracle:
    """touchstone's judge for this test (oracle='fast' under @pytest.mark.touchstone_fast)."""
    fast = request.node.get_closest_marker("touchstone_fast") is not None
    return Oracle("fast" if fast else None)
