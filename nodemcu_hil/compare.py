"""Test runs side by side, test by test, from their JUnit XML, bench or campaign JSON files.

A virtual-board run against a rig run, or a release candidate against the previous
release: for each test its outcome in A and in B and each numeric property both recorded
(`reconnect_seconds`, `free_heap` ...) with the ratio B/A. A regression is a test that
passed in A and failed or errored in B, a test of A missing from B, or a watched figure
(`Figure`) worse in B than in A by more than the tolerance factor. A benchmark's figure
with a target (`<= 0.2`) is watched in the target's direction without being asked for.

More than two runs (`trends`) are judged pair by pair, each against the one before it:
a release history, oldest first, the run under judgement last.
"""

from __future__ import annotations

import json
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
JUDGED = (REGRESSION, MISSING, WORSE)  # the verdicts that make a regression


class ReportUnreadable(HilError):
    """A file given to `hil compare` is missing or is not a JUnit XML report."""


@dataclass(frozen=True)
class TestResult:
    test_id: str
    outcome: str
    figures: dict[str, float] = field(default_factory=dict)
    better: dict[str, str] = field(default_factory=dict)  # figure -> which way is better, when the run says
    missed: frozenset[str] = frozenset()  # figures that missed their target in this run


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
    """Every test of a run by id: JUnit test cases (`classname::name`), benchmarks
    (`bench::NAME`, from bench/results/*.json) or campaigns (`campaign::NAME`)."""
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        raise ReportUnreadable(f"{path}: no such file", hint="give the JUnit XML of a run (reports/junit.xml)") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ReportUnreadable(f"{path}: not a JUnit XML file ({exc})",
                               hint="give the file pytest wrote with --junitxml") from None
    if text.lstrip()[:1] == b"{":
        return _load_json(path, text)
    return _load_junit(path, text)


def _load_junit(path: Path, text: bytes) -> dict[str, TestResult]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
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


def _load_json(path: Path, text: bytes) -> dict[str, TestResult]:
    hint = "give a JUnit XML file, bench/results/*.json or reports/campaigns/*.json"
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportUnreadable(f"{path}: not a JSON file ({exc})", hint=hint) from None
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
        return {f"bench::{b.get('name')}": _bench(b) for b in data["benchmarks"] if isinstance(b, dict)}
    if isinstance(data, dict) and isinstance(data.get("campaigns"), list):
        return {f"campaign::{c.get('name')}": _campaign(c) for c in data["campaigns"] if isinstance(c, dict)}
    raise ReportUnreadable(f"{path}: neither bench nor campaign results (no benchmarks or campaigns list)", hint=hint)


def _bench(bench: dict) -> TestResult:
    figures, better, missed = {}, {}, set()
    for figure in bench.get("figures") or []:
        value = _number(str(figure.get("value")))
        if value is None:
            continue
        name = str(figure.get("name"))
        figures[name] = value
        target = str(figure.get("target") or "")
        if target.startswith(("<", ">")):
            better[name] = LOWER_IS_BETTER if target.startswith("<") else HIGHER_IS_BETTER
        if figure.get("met") is False:
            missed.add(name)
    outcome = FAILED if bench.get("failures") else PASSED
    return TestResult(f"bench::{bench.get('name')}", outcome, figures, better, frozenset(missed))


def _campaign(campaign: dict) -> TestResult:
    figures = {str(name): float(value) for name, value in (campaign.get("figures") or {}).items()
               if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    outcome = PASSED if campaign.get("passed") and not campaign.get("failures") else FAILED
    return TestResult(f"campaign::{campaign.get('name')}", outcome, figures)


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
            figure = watch.get(name) or _hinted(name, right)
            worse = (figure is not None and value_a is not None and value_b is not None
                     and figure.is_worse(value_a, value_b, tolerance))
            figure_rows.append(FigureRow(name, value_a, value_b, worse))
        rows.append(Row(test_id, left, right, _verdict(left, right, tuple(figure_rows)), tuple(figure_rows)))
    return rows


def _hinted(name: str, result: TestResult | None) -> Figure | None:
    """A figure the run itself says which way is better (a benchmark's target)."""
    better = result.better.get(name) if result is not None else None
    return Figure(name, better) if better else None


def regressions(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.verdict in JUDGED]


def summary(rows: list[Row]) -> str:
    counts = {verdict: sum(row.verdict == verdict for row in rows)
              for verdict in (REGRESSION, MISSING, WORSE, FIXED, NEW, SAME)}
    return ", ".join(f"{count} {verdict}" for verdict, count in counts.items())


@dataclass(frozen=True)
class FigureTrend:
    name: str
    values: tuple[float | None, ...]  # per run; None: not recorded
    worse: tuple[bool, ...]  # per run: worse than the run before (a watched or target-bearing figure)
    missed: tuple[bool, ...]  # per run: missed its target


@dataclass(frozen=True)
class Trend:
    test_id: str
    outcomes: tuple[str | None, ...]  # per run; None: not in that run
    verdicts: tuple[str, ...]  # per run: its verdict against the run before ("" for the first)
    figures: tuple[FigureTrend, ...]


def trends(runs: list[dict[str, TestResult]], *, watched: tuple[Figure, ...] = (),
           tolerance: float = DEFAULT_TOLERANCE) -> list[Trend]:
    """Each test across runs (oldest first), judged pair by pair as `compare_runs` does."""
    pairs = [{row.test_id: row for row in compare_runs(a, b, watched=watched, tolerance=tolerance)}
             for a, b in zip(runs, runs[1:])]
    out = []
    for test_id in dict.fromkeys(test_id for run in runs for test_id in run):
        results = [run.get(test_id) for run in runs]
        rows = [pair.get(test_id) for pair in pairs]
        figures = []
        for name in dict.fromkeys(name for result in results if result for name in result.figures):
            worse = (False, *(row is not None and any(f.name == name and f.worse for f in row.figures) for row in rows))
            figures.append(FigureTrend(name, tuple(r.figures.get(name) if r else None for r in results), worse,
                                       tuple(bool(r and name in r.missed) for r in results)))
        out.append(Trend(test_id, tuple(r.outcome if r else None for r in results),
                         ("", *(row.verdict if row else "" for row in rows)), tuple(figures)))
    return out


def run_facts_of(path: Path) -> dict[str, str]:
    """What a run says about itself: a JUnit file's `hil.*` testsuite properties (settings
    left out), a JSON file's time, board kind and harness version."""
    text = Path(path).read_bytes()
    if text.lstrip()[:1] == b"{":
        data = json.loads(text)
        versions = data.get("versions") or {}
        facts = {"when": data.get("when"), "mode": data.get("board_kind"), "harness_version": versions.get("nodemcu-hil"),
                 "micropython": versions.get("board_micropython")}
        return {name: str(value) for name, value in facts.items() if value}
    facts: dict[str, str] = {}
    for suite in ET.fromstring(text).iter("testsuite"):
        facts.setdefault("when", suite.get("timestamp") or "")
        for prop in suite.findall("properties/property"):
            name = prop.get("name") or ""
            if name.startswith("hil.") and not name.startswith(("hil.setting.", "hil.board.")):
                facts.setdefault(name[4:], prop.get("value") or "")
    return {name: value for name, value in facts.items() if value}
