"""What a fault campaign is: a bounded run of hostile inputs whose outcome is a table.

Every campaign module in this package exposes `NAME`, `SUMMARY` and `run(ctx) -> Result`.
A campaign is bounded twice: by the number of cases (`ctx.cases(full, quick)`) and by
time (`ctx.deadline`, checked between cases); what it did not reach is reported, never
silently dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Context:
    quick: bool
    work_dir: Path  # scratch space of this campaign only
    deadline: float  # time.monotonic() value after which no new case is started

    def cases(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline


@dataclass
class Result:
    """One campaign's outcome: a row per case (or per group of cases) and its figures.

    `rows` are flat dicts with the same keys, printed as a table; `figures` are the named
    numbers the closing note and JSON quote (e.g. lost=0, duplicates=3); `failures` are
    human sentences, one per broken expectation. The campaign passed when there are none.
    """

    name: str
    rows: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    not_reached: int = 0  # cases skipped because the deadline passed
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def fail(self, sentence: str) -> None:
        self.failures.append(sentence)
