"""The image and interrupted-flash fault campaigns, quick, each against its own virtual board."""

from __future__ import annotations

import time

from campaigns import flash_interrupted, images
from campaigns.model import Context

GENEROUS_S = 600.0  # a bound on the campaign, not a performance assertion


def context(tmp_path, *, seconds: float = GENEROUS_S) -> Context:
    return Context(quick=True, work_dir=tmp_path, deadline=time.monotonic() + seconds)


def test_image_matrix_is_refused_before_erase(tmp_path):
    result = images.run(context(tmp_path))
    assert result.passed, result.failures
    figures = result.figures
    assert figures["cases"] == len(result.rows) >= 10 and result.not_reached == 0
    assert figures["refused"] == figures["cases"] and figures["flash_changed"] == 0
    cases = {row["case"] for row in result.rows}
    assert {"empty", "random bytes", "ESP32 image", "oversize", "oversize, inventory says 16MB"} <= cases
    assert sum("cut at" in case for case in cases) == 6
    assert all(row["flash unchanged"] == "yes" for row in result.rows)


def test_image_matrix_past_its_deadline_counts_what_it_did_not_reach(tmp_path):
    result = images.run(context(tmp_path, seconds=0))
    assert result.rows == [] and result.not_reached >= 10 and result.passed


def test_flash_killed_mid_write_is_noticed_and_rewritten(tmp_path):
    result = flash_interrupted.run(context(tmp_path))
    assert result.passed, result.failures
    assert result.figures == {"kills": 1, "recovered": 1}
    [row] = result.rows
    assert row["flash held image after kill"] == "no" and row["next run"] == "rewrote" and row["boots"] == "yes"
