"""Issue 15: the broker passwords a session generates (the harness's and the board's) appear
in no report, log or JUnit file of the run, though its probe pushes them into every sink."""

from __future__ import annotations

import time

from campaigns import secrets as campaign
from campaigns.model import Context


def test_generated_broker_passwords_leave_no_trace_in_a_runs_files(tmp_path, monkeypatch):
    generated_case = next(case for case in campaign.CASES if case[0] == "generated")
    assert "HIL_BROKER_PASSWORD" not in generated_case[2]  # so the board's password is made by the session
    monkeypatch.setattr(campaign, "CASES", (generated_case,))
    result = campaign.run(Context(quick=True, work_dir=tmp_path, deadline=time.monotonic() + 240))
    assert result.passed, result.failures
    assert result.figures["generated_secrets"] == 2  # the harness's and the board's, both distinct
    assert result.figures["generated_occurrences"] == 0
    assert result.figures["files_scanned"] >= 5 and all(row["masks_seen"] > 0 for row in result.rows)
