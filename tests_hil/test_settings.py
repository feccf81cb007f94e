"""Settings reach the firmware: a test's `hil_settings` marker, and the session's after it."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.hil

MARKED_TELEMETRY_S = 3
MARKED_KEEPALIVE_S = 7


def board_config(board, settings) -> dict:
    """config.json as the board holds it, read once main.py runs (past boot.py's imports)."""
    board.console.expect(r"main: waiting for wifi", timeout=settings.boot_timeout, since=board.last_boot)
    with board.repl() as repl:
        return json.loads(repl.get("config.json"))


@pytest.mark.hil_settings(telemetry_period=MARKED_TELEMETRY_S, mqtt_keepalive=MARKED_KEEPALIVE_S)
def test_a_marker_reaches_the_firmware_config(deployed, hil_settings, hil_session_settings):
    assert (MARKED_TELEMETRY_S, MARKED_KEEPALIVE_S) != (hil_session_settings.telemetry_period,
                                                        hil_session_settings.mqtt_keepalive)
    config = board_config(deployed, hil_settings)
    assert (config["telemetry_s"], config["keepalive_s"]) == (MARKED_TELEMETRY_S, MARKED_KEEPALIVE_S)


def test_the_next_test_gets_the_session_settings_back(deployed, hil_session_settings):
    config = board_config(deployed, hil_session_settings)
    assert (config["telemetry_s"], config["keepalive_s"]) == (hil_session_settings.telemetry_period,
                                                              hil_session_settings.mqtt_keepalive)
