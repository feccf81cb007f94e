"""What a benchmark returns: figures, each with its target and whether it met it.

A figure is a ratio against the bare tool on the same board in the same run, a latency
distribution (p50/p95 over at least 20 samples), or, for trend only, a wall time. Figures
are printed and written, never asserted: a figure above target is a finding, not a crash.
"""

from __future__ import annotations

import operator
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass
class Target:
    """The boards a run measures: virtual ones it starts, or the real ones boards.toml lists."""

    kind: str                          # "virtual" or "hardware"
    boards: list = field(default_factory=list)   # BoardRecords (hardware only)
    image: Path | None = None          # the MicroPython image to flash (hardware: firmware_image)


@dataclass
class Context:
    quick: bool
    work_dir: Path
    deadline: float
    target: Target
    facts: dict = field(default_factory=dict)   # e.g. the board's MicroPython version, for the JSON
    run_deadline: float = float("inf")          # the whole run's: a benchmark with open-ended cases stops by it

    def repeat(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str = ""                     # "x" for ratios, "s", "ms"
    target: str = ""                   # "<= 0.2", ">= 1.6", "" (reported only)
    detail: str = ""                   # how it was taken: the two sides of a ratio, the samples

    @property
    def met(self) -> bool | None:
        if not self.target or self.value is None:
            return None
        op, threshold = self.target.split()
        return OPS[op](self.value, float(threshold))


@dataclass
class Result:
    name: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # what was left out, and why
    failures: list[str] = field(default_factory=list)  # the benchmark itself broke
    seconds: float = 0.0

    def add(self, name: str, value: float | None, unit: str = "", target: str = "", detail: str = "") -> Figure:
        figure = Figure(name, None if value is None else round(value, 4), unit, target, detail)
        self.figures.append(figure)
        return figure

    def ratio(self, name: str, ours: float, bare: float, target: str = "", what: str = "") -> Figure:
        return self.add(name, ours / bare if bare > 0 else None, "x", target,
                        f"{ours:.2f} s / {bare:.2f} s" + (f" ({what})" if what else ""))

    def latency(self, name: str, samples_s: list[float], p50: float | None = None, p95: float | None = None) -> None:
        """p50 and p95 in ms of at least 20 samples (fewer are reported as such)."""
        ms = sorted(s * 1000 for s in samples_s)
        if not ms:
            self.add(name + " p50", None, "ms", f"<= {p50}" if p50 else "", "no samples")
            return
        note = f"{len(ms)} samples" + ("" if len(ms) >= 20 else " (fewer than 20)")
        self.add(name + " p50", percentile(ms, 50), "ms", f"<= {p50}" if p50 else "", note)
        self.add(name + " p95", percentile(ms, 95), "ms", f"<= {p95}" if p95 else "", note)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)
