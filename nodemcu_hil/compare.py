"""Two test runs side by side, test by test, from their JUnit XML files.

A virtual-board run against a rig run, or a release candidate against the previous
release: for each test its outcome in A and in B and each numeric property both recorded
(`reconnect_seconds`, `free_heap` ...) with the ratio B/A. A regression is a test that
passed in A and failed or errored in B, a test of A missing from B, or a watched figure
(`Figure`) worse in B than in A by more than the tolerance factor.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from nodemcu_hil.errors import HilError

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
BROKEN = (FAILED, ERROR)
LOWER_IS_BETTER, HIGHER_IS_BETTER = "lower", "higher"
DEFAULT_TOLERANCE = 1.5

# Verdicts of one test, worst first (the order of the summary).
REGRESSION, MISSING, WORSE, FIXED, NEW, SAME = ("regression", "missing in B", "figure worse",
                                                "fixed", "new in B", "same")


class ReportUnreadable(HilError):
    """A file given to `hil compare` is missing or is not a JUnit XML report."""


@dataclass(frozen=True)
class TestResult:
    test_id: str
    outcome: str
    figures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    """A watched property: worse in B than A by more than `tolerance` is a regression."""

    name: str
    better: str = LOWER_IS_BETTER

    @classmethod
    def parse(cls, text: str) -> "Figure":
        name, _, better = text.partition(":")
        better = better or LOWER_IS_BETTER
        if not name or better not in (LOWER_IS_BETTER, HIGHER_IS_BETTER):
            raise ValueError(f"expected NAME, NAME:{LOWER_IS_BETTER} or NAME:{HIGHER_IS_BETTER}, got {text!r}")
        return cls(name, better)

    def is_worse(self, a: float, b: float, tolerance: float) -> bool:
        if self.better == LOWER_IS_BETTER:
            return b > a * tolerance
        return b * tolerance < a


@dataclass(frozen=True)
class FigureRow:
    name: str
    a: float | None
    b: float | None
    worse: bool = False

    @property
    def ratio(self) -> float | None:
        if self.a is None or self.b is None or self.a == 0:
            return None
        return self.b / self.a


@dataclass(frozen=True)
class Row:
    test_id: str
    a: TestResult | None
    b: TestResult | None
    verdict: str
    figures: tuple[FigureRow, ...] = ()


def _outcome(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    if "failure" in tags:
        return FAILED
    if "error" in tags:
        return ERROR
    if "skipped" in tags:
        return SKIPPED
    return PASSED


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _figures(case: ET.Element) -> dict[str, float]:
    figures: dict[str, float] = {}
    seen: dict[str, int] = {}
    for prop in case.iter("property"):
        name = prop.get("name") or ""
        seen[name] = seen.get(name, 0) + 1
        value = _number(prop.get("value"))
        if value is not None:
            figures[name if seen[name] == 1 else f"{name}#{seen[name]}"] = value
    return figures


def load_run(path: Path) -> dict[str, TestResult]:
    """Every test case of a JUnit XML file by id (`classname::name`)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise ReportUnreadable(f"{path}: no such file", hint="give the JUnit XML of a run (reports/junit.xml)") from None
    except (ET.ParseError, IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ReportUnreadable(f"{path}: not a JUnit XML file ({exc})",
                               hint="give the file pytest wrote with --junitxml") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportUnreadable(f"{path}: not a JUnit XML file (root element <{root.tag}>)",
                               hint="give the file pytest wrote with --junitxml") from None
    results: dict[str, TestResult] = {}
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        results[test_id] = TestResult(test_id, _outcome(case), _figures(case))
    return results


def _verdict(a: TestResult | None, b: TestResult | None, figures: tuple[FigureRow, ...]) -> str:
    if b is None:
        return MISSING
    if a is None:
        return NEW
    if a.outcome == PASSED and b.outcome in BROKEN:
        return REGRESSION
    if a.outcome in BROKEN and b.outcome == PASSED:
        return FIXED
    if any(row.worse for row in figures):
        return WORSE
    return SAME


def compare_runs(a: dict[str, TestResult], b: dict[str, TestResult], *, watched: tuple[Figure, ...] = (),
                 tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """One row per test of either run, in A's order then B's new tests."""
    watch = {figure.name: figure for figure in watched}
    rows = []
    for test_id in dict.fromkeys([*a, *b]):
        left, right = a.get(test_id), b.get(test_id)
        names = dict.fromkeys([*(left.figures if left else {}), *(right.figures if right else {})])
        figure_rows = []
        for name in names:
            value_a = left.figures.get(name) if left else None
            value_b = right.figures.get(name) if right else None
            worse = (name in watch and value_a is not None and value_b is not None
                     and watch[name].is_worse(value_a, value_b, tolerance))
            figure_rows.append(FigureRow(name, value_a, value_b, worse))
        rows.append(Row(test_id, left, right, _verdict(left, right, tuple(figure_rows)), tuple(figure_rows)))
    return rows


def regressions(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.verdict in (REGRESSION, MISSING, WORSE)]


def summary(rows: list[Row]) -> str:
    counts = {verdict: sum(row.verdict == verdict for row in rows)
              for verdict in (REGRESSION, MISSING, WORSE, FIXED, NEW, SAME)}
    return ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
