"""Run fault campaigns, print one table each, write every result as JSON.

The campaigns are listed in one table (`CAMPAIGNS`), each a module of this package with
`NAME`, `SUMMARY` and `run(ctx)`. A campaign that raises is recorded as failed with the
error, so one broken campaign never hides the others' figures.
"""

from __future__ import annotations

import importlib
import json
import platform
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from campaigns.model import Context, Result
from nodemcu_hil.table import format_records

CAMPAIGNS = (  # module names in this package; each module's NAME is its file name
    "images",
    "flash_interrupted",
    "busy_port",
    "hung_firmware",
    "broker_restarts",
    "hostile_mqtt",
    "secrets",
)
BUDGET_S = {True: 90.0, False: 300.0}  # per campaign: quick, full


def load(names: list[str] | None = None) -> list:
    """The campaign modules asked for (all by default), imported only when asked for."""
    unknown = sorted(set(names or ()) - set(CAMPAIGNS))
    if unknown:
        raise SystemExit(f"campaigns: unknown {', '.join(unknown)}; known: {', '.join(CAMPAIGNS)}")
    return [importlib.import_module(f"campaigns.{name}") for name in (names or CAMPAIGNS)]


def run_one(module, *, quick: bool, work_dir: Path, budget_s: float) -> Result:
    ctx = Context(quick=quick, work_dir=work_dir, deadline=time.monotonic() + budget_s)
    started = time.monotonic()
    try:
        result = module.run(ctx)
    except Exception as exc:  # a campaign's own crash is a finding, reported like any other
        result = Result(name=module.NAME)
        result.fail(f"the campaign itself failed: {type(exc).__name__}: {exc}")
        result.figures["traceback"] = traceback.format_exc(limit=8)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def report(result: Result) -> str:
    verdict = "passed" if result.passed else "FAILED"
    figures = ", ".join(f"{key}={value}" for key, value in result.figures.items() if key != "traceback")
    lines = [f"== {result.name}: {verdict} in {result.seconds} s" +
             (f" ({result.not_reached} cases not reached in time)" if result.not_reached else ""),
             _indented(format_records(result.rows, empty="(no rows)")), f"  figures: {figures or '-'}"]
    lines += [f"  failure: {sentence}" for sentence in result.failures]
    return "\n".join(lines)


def write_json(results: list[Result], path: Path, *, quick: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": quick,
                "machine": {"python": platform.python_version(), "system": platform.platform(),
                            "cpus": __import__("os").cpu_count()},
                "campaigns": [{**asdict(result), "passed": result.passed} for result in results]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def run_all(names: list[str] | None, *, quick: bool, json_path: Path, out=print) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="hil-campaigns-") as scratch:
        for module in load(names):
            out(f"-- {module.NAME}: {module.SUMMARY}")
            work_dir = Path(scratch) / module.NAME
            work_dir.mkdir()
            result = run_one(module, quick=quick, work_dir=work_dir, budget_s=BUDGET_S[quick])
            results.append(result)
            out(report(result))
    write_json(results, json_path, quick=quick)
    out(f"campaigns: {sum(r.passed for r in results)} passed, {sum(not r.passed for r in results)} failed; "
        f"JSON in {json_path}")
    return results
