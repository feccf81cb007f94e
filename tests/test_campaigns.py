"""The campaign runner, and the busy-port and hung-firmware campaigns (quick) on virtual boards."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from campaigns import busy_port, hung_firmware, runner
from campaigns.model import Context, Result

GENEROUS_S = 600.0  # a bound on the campaign, not a performance assertion
ROOT = Path(__file__).resolve().parents[1]


def context(tmp_path) -> Context:
    return Context(quick=True, work_dir=tmp_path, deadline=time.monotonic() + GENEROUS_S)


def _broken(ctx):
    raise RuntimeError("boom")


def _fine(ctx):
    result = Result(name="fine", rows=[{"case": "a", "ok": "yes"}], figures={"cases": 1})
    return result


def test_a_crashing_campaign_is_a_failure_and_the_others_still_report(tmp_path):
    broken = runner.run_one(SimpleNamespace(NAME="broken", run=_broken), quick=True, work_dir=tmp_path,
                            budget_s=5)
    fine = runner.run_one(SimpleNamespace(NAME="fine", run=_fine), quick=True, work_dir=tmp_path, budget_s=5)
    assert not broken.passed and "RuntimeError: boom" in broken.failures[0]
    assert fine.passed
    path = tmp_path / "out.json"
    runner.write_json([broken, fine], path, quick=True)
    document = json.loads(path.read_text())
    assert [c["passed"] for c in document["campaigns"]] == [False, True]
    assert document["campaigns"][1]["rows"] == [{"case": "a", "ok": "yes"}]
    assert "FAILED" in runner.report(broken) and "case  ok" in runner.report(fine)


def test_unknown_campaign_names_are_refused_with_the_known_ones():
    result = subprocess.run([sys.executable, "-m", "campaigns", "nonsense"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "unknown nonsense" in result.stderr and "busy_port" in result.stderr


@pytest.mark.slow
def test_a_second_run_on_a_held_board_is_refused_naming_the_holder(tmp_path):
    result = busy_port.run(context(tmp_path))
    assert result.passed, result.failures
    assert result.figures["cases"] == 6 == result.figures["names_holder"]
    assert result.figures["flash_changed"] == 0
    assert {row["contender"] for row in result.rows} >= {"hil flash --board", "hil flash --port"}


@pytest.mark.slow
def test_hung_firmware_at_session_start_is_recovered_by_the_right_rung(tmp_path):
    result = hung_firmware.run(context(tmp_path))
    assert result.passed, result.failures
    assert {row["case"]: row["recovered by"] for row in result.rows} == {
        "busy main.py": "reset", "CTRL-C-proof main.py": "reflash"}
