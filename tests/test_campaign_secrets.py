"""The secrets campaign: a quick HIL run finds no spelling of its passwords anywhere, and
its search does find each spelling when one is planted."""

from __future__ import annotations

import base64
import html
import json
import time
from urllib.parse import quote_plus

from campaigns import secrets as campaign
from campaigns.model import Context

VALUE = "p@ss-Wörd€-ü"


def test_quick_run_leaves_no_spelling_of_a_secret_in_any_file(tmp_path):
    result = campaign.run(Context(quick=True, work_dir=tmp_path, deadline=time.monotonic() + 240))
    assert result.passed, result.failures
    assert result.figures["occurrences"] == 0
    assert result.figures["files_scanned"] >= 5  # junit.xml, report.html, a serial log, stdout, stderr
    assert [row["secret"] for row in result.rows] == ["wifi_password", "broker_password"]
    assert all(row["masks_seen"] > 0 and row["kind"] == "non-ASCII" for row in result.rows)
    assert result.not_reached == len(campaign.CASES) - 1


def test_search_finds_every_planted_spelling(tmp_path):
    planted = {
        "junit.xml": f'<property value="{html.escape(json.dumps(VALUE))}"/>',
        "report.html": "data:text/plain;charset=utf-8;base64," + base64.b64encode(VALUE.encode()).decode(),
        "serial/vnode.log": f"12:00 {ascii(VALUE)}\n12:01 {VALUE.encode()!r}\n",
        "stdout.txt": f"{quote_plus(VALUE)} {json.dumps(VALUE, ensure_ascii=False)}",
        "clean.txt": "nothing here but *** and p@ss",
    }
    for name, text in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    files = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    total, where = campaign.scan(files, [VALUE], tmp_path)
    assert where == {"junit.xml": 1, "report.html": 1, "serial/vnode.log": 2, "stdout.txt": 2}
    assert total == 6


def test_a_probe_that_passes_or_a_test_that_fails_is_reported(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase name="test_boot"><failure message="x"/></testcase>'
                     f'<testcase name="{campaign.PROBE_TEST}"/></testsuite></testsuites>')
    problem = campaign._outcome_problem(1, tmp_path)
    assert "test_boot" in problem and campaign.PROBE_TEST in problem
    assert "without writing junit.xml" in campaign._outcome_problem(4, tmp_path / "missing")
