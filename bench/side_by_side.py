"""How many virtual boards one machine carries side by side before the suite slows by 2x.

k independent suite runs at once, k = 1, 2, 3, ...: k pytest processes started together,
each on its own virtual board (its own `hil sim`, broker, lease, report and temp
directories), as k CI jobs or k developers sharing one runner would. Not `-n k`: xdist
splits ONE suite among k boards, so a suite's wall time shrinks with k (that is the
speed-up figure of `bench.suite`); here every board runs the whole subset, and the figure
is what sharing the machine costs each of them.

The subset (`SUBSET`, fixed: 8 of the suite's 27 tests) keeps the full run within its 10
minutes (the whole suite at k = 1..6 alone would take about four): the session bring-up
(flash, deploy), a hard reset and soft resets, GPIO round trips, a 10 KB command, telemetry,
a broker restart and the CPU-bound command flood. Its CPU share at k = 1 is in the figure's
detail, to set beside the full suite's (`bench.suite`): in two full runs the subset used
0.34 and 0.43 cores, the suite 0.36 both times, so the subset loads the machine about as the
suite does (a little more, so the figure errs, if at all, low). The ratio of k is the slowest of the k runs over the k = 1 run; it stops
after the first k above 2x, at K_MAX, when a run fails, or when the next k would not fit the
benchmark's or the whole run's budget. Reported, no target. Virtual boards only; full run only.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.model import Context, Figure, Result
from bench.targets import ROOT

NAME = "side_by_side"
SUMMARY = "virtual boards side by side (k suite runs at once) before one suite takes 2x its time alone"
IN_QUICK = False

SUBSET = (
    "tests_hil/test_boot.py",
    "tests_hil/test_gpio.py::test_set_on_and_off_moves_the_pin",
    "tests_hil/test_gpio.py::test_an_oversized_command_is_refused_and_the_session_kept",
    "tests_hil/test_publish.py::test_telemetry_schema_and_period",
    "tests_hil/test_publish.py::test_a_command_flood_costs_no_telemetry",
    "tests_hil/test_reconnect.py::test_broker_restart",
)
SLOWDOWN_LIMIT = 2.0
K_MAX = 6
RUN_TIMEOUT_S = 600
GROWTH_GUESS = 1.25  # the next k's slowest run, guessed from this one's, to decide whether it fits


@dataclass
class Run:
    seconds: float
    passed: bool
    summary: str


def suite_command(work: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", *SUBSET, "-p", "no:cacheprovider", "-q", "-n", "0",
            "--basetemp", str(work / "tmp"), "--hil-report-dir", str(work / "reports")]


def one_run(work: Path, runs: list, index: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HIL_LEASE_DIR=str(work / "leases"))
    env.pop("HIL_REPORT_DIR", None)
    started = time.monotonic()
    try:
        done = subprocess.run(suite_command(work), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
        elapsed = time.monotonic() - started
        (work / "pytest.log").write_text(done.stdout + done.stderr)
        lines = done.stdout.strip().splitlines() or ["(no output)"]
        runs[index] = Run(elapsed, done.returncode == 0, lines[-1])
    except subprocess.TimeoutExpired:
        runs[index] = Run(time.monotonic() - started, False, f"timed out after {RUN_TIMEOUT_S} s")


def side_by_side(work_dir: Path, k: int) -> list[Run]:
    """k suite runs started together, each on its own board; their wall times."""
    runs: list = [None] * k
    threads = [threading.Thread(target=one_run, args=(work_dir / f"k{k}" / f"board{i}", runs, i)) for i in range(k)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def cpu_share(work_dir: Path) -> tuple[Run, float]:
    """The k = 1 run, and the CPU it and its children (board, tools) used per second of wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    (run,) = side_by_side(work_dir, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return run, cpu / run.seconds if run.seconds else 0.0


def run(ctx: Context) -> Result:
    result = Result(NAME)
    if ctx.target.kind == "hardware":
        result.notes.append("virtual boards only: a rig's boards do not share this machine's CPU")
        return result
    alone, share = cpu_share(ctx.work_dir)
    steps = [f"k=1: {alone.seconds:.1f} s, CPU {share:.2f} cores"]
    largest, stop = 1, f"cap k={K_MAX} reached (the figure is a lower bound)"
    if not alone.passed:
        result.failures.append(f"the subset failed on one board alone: {alone.summary}")
        return result
    slowest = alone.seconds
    for k in range(2, K_MAX + 1):
        if time.monotonic() + slowest * GROWTH_GUESS > min(ctx.deadline, ctx.run_deadline):
            stop = f"k={k} would not fit the time budget"
            break
        runs = side_by_side(ctx.work_dir, k)
        slowest = max(r.seconds for r in runs)
        ratio = slowest / alone.seconds
        failed = [r.summary for r in runs if not r.passed]
        mean = sum(r.seconds for r in runs) / k
        result.add(f"side by side, k={k}: slowest suite / alone", ratio, "x", "",
                   f"slowest {slowest:.1f} s, mean {mean:.1f} s, alone {alone.seconds:.1f} s"
                   + (f"; {len(failed)} of {k} FAILED: {failed[0]}" if failed else ""))
        steps.append(f"k={k}: {ratio:.2f}x")
        if failed:
            stop = f"a run failed at k={k}"
            break
        if ratio > SLOWDOWN_LIMIT:
            stop = f"k={k} above {SLOWDOWN_LIMIT:g}x"
            break
        largest = k
    result.figures.insert(0, Figure(f"virtual boards side by side before the suite slows by {SLOWDOWN_LIMIT:g}x",
                                    float(largest), " boards", "", f"{'; '.join(steps)}; stopped: {stop}"))
    result.notes.append(f"subset of tests_hil ({len(SUBSET)} entries, pytest -n 0 per board): {', '.join(SUBSET)}")
    return result
