"""Assertions for test suites: touchstone's verdict where a test would use allclose."""

from __future__ import annotations

from typing import Any, Mapping

from . import Report, diff


def failure_message(report: Report) -> str:
    """The AssertionError text: a one-line summary, the elements outside the bound (index, theirs,
    exact, bound), then the full report as `touchstone diff` prints it."""
    state = "PASS but SUSPECT" if report.verdict == "PASS" and report.suspect else report.verdict
    lines = [f"touchstone: {report.algorithm} outputs are {state} "
             f"(judged as {report.format}, {report.problem})"]
    for o in report.outputs.values():
        if o.outside:
            lines.append(f"  {o.name}: {o.outside} of {o.count} element(s) outside the bound; first ones:")
            for index, theirs, exact, bound in o.first_failures:
                lines.append(f"    {o.name}{list(index)}: theirs {theirs:.9g}, exact {exact:.9g}, "
                             f"|error| {abs(theirs - exact):.3g} > bound {bound:.3g}")
        elif o.unjudged:
            lines.append(f"  {o.name}: {o.unjudged} of {o.count} element(s) unjudged (no finite bound), "
                         f"first at {list(o.first_unjudged_index or ())}")
    return "\n".join(lines) + "\n\n" + report.text


def assert_matches_oracle(algorithm: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                          *, allow_inconclusive: bool = False, strict: bool = False,
                          **kwargs: Any) -> Report:
    """Raise AssertionError with the report unless `touchstone.diff(algorithm, inputs, outputs,
    **kwargs)` is PASS (INCONCLUSIVE passes only with `allow_inconclusive`; with `strict`, a
    SUSPECT PASS fails too, as `touchstone diff --strict` does). Returns the report."""
    report = diff(algorithm, inputs, outputs, **kwargs)
    if strict and report.verdict == "PASS" and report.suspect:
        raise AssertionError(failure_message(report))
    if report.verdict == "PASS" or (allow_inconclusive and report.verdict == "INCONCLUSIVE"):
        return report
    raise AssertionError(failure_message(report))
