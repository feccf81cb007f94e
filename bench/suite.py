"""The HIL suite itself: its wall time on one virtual board (the one absolute figure, kept
for its trend), and `-n 2` on two virtual boards against `-n 1`. Full run only (each
suite run takes tens of seconds); on real boards it runs on the boards boards.toml lists
(`-n 2` needs two). Figures are reported whether or not the suite passed; a failing suite
is noted."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from bench.model import Context, Result
from bench.targets import ROOT

NAME = "suite"
SUMMARY = "tests_hil wall time on one board; -n 2 on two boards / -n 1"
IN_QUICK = False


def suite_run(ctx: Context, *workers: str) -> tuple[float, str]:
    """Wall time and pytest's last line; the summary also gives the CPU the run used (it and its
    children: boards, tools) per second of wall time, to set beside side_by_side's subset."""
    env = dict(os.environ, HIL_LEASE_DIR=os.environ.get("HIL_LEASE_DIR", str(ctx.work_dir / "leases")))
    env.pop("HIL_REPORT_DIR", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "tests_hil", "-p", "no:cacheprovider", "-q", *workers],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return elapsed, f"{summary}; CPU {cpu / elapsed:.2f} cores"


def run(ctx: Context) -> Result:
    result = Result(NAME)
    if ctx.target.kind == "hardware" and len(ctx.target.boards) < 2:
        one, summary = suite_run(ctx, "-n", "0")
        result.add("HIL suite on one board, wall time", one, "s", "<= 30", summary)
        result.notes.append("one real board: -n 2 needs two")
        return result
    n1, summary1 = suite_run(ctx, "-n", "1")    # one xdist worker, one board: also the one-board wall time
    result.add("HIL suite on one board, wall time", n1, "s", "<= 30", f"-n 1: {summary1}")
    n2, summary2 = suite_run(ctx, "-n", "2")
    result.add("tests_hil -n 1 / -n 2 (speed-up)", n1 / n2, "x", ">= 1.6",
               f"{n1:.1f} s ({summary1}) / {n2:.1f} s ({summary2})")
    return result
