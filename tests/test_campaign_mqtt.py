"""The MQTT fault campaigns, quick, on a virtual board: hostile commands and broker restarts.

Each runs the way `python3 -m campaigns --quick` runs it (the runner's `run_one`, its
budget), and the test asserts the campaign's verdict and the figures it rests on.
"""

from __future__ import annotations

import pytest

from campaigns import broker_restarts, hostile_mqtt
from campaigns.runner import BUDGET_S, report, run_one
from tests.test_firmware_logic import MICROPYTHON

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not MICROPYTHON.exists(), reason="the virtual board needs the [sim] extra")]


def quick(module, tmp_path):
    result = run_one(module, quick=True, work_dir=tmp_path, budget_s=BUDGET_S[True])
    assert result.passed, report(result)
    assert result.not_reached == 0, report(result)
    return result.figures


def test_hostile_mqtt_quick(tmp_path):
    figures = quick(hostile_mqtt, tmp_path)
    assert figures["sent"] == 60
    assert figures["answerable"] == 50  # 11 kinds dealt in turn: the two silent ones are the last, 5 each
    assert figures["answered"] == figures["answerable"] and figures["unmatched"] == 0
    assert figures["reconnects"] == 0 and figures["executed"] == 0
    assert figures["heap_ratio"] >= 0.9 and figures["heap_after"] > 0


def test_broker_restarts_quick(tmp_path):
    figures = quick(broker_restarts, tmp_path)
    assert figures["restarts"] == 5
    assert figures["lost"] == 0 and figures["dropped"] == 0
    assert figures["telemetry_sent"] >= figures["restarts"]
    assert figures["received"] == figures["telemetry_sent"] + figures["duplicates"]


def test_hostile_answers_are_matched_by_their_echo():
    # The matcher on its own: a cut character, a repr, a wrong payload, a duplicate.
    cases = [hostile_mqtt.Case("x", "p/gpio/5/set", b"\xff\xfe"),
             hostile_mqtt.Case("x", "p/gpio/5/set", b"a" + "\u00fc".encode() * 40),
             hostile_mqtt.Case("x", "p/gpio/5/set", b"same"),
             hostile_mqtt.Case("x", "p/gpio/5/set", b"same")]
    events = [{"topic": "p/gpio/5/set", "payload": "a" + "\u00fc" * 31},
              {"topic": "p/gpio/5/set", "payload": "b'\\xff\\xfe'"},
              {"topic": "p/gpio/5/set", "payload": "same"},
              {"topic": "p/gpio/5/set", "payload": "sam"},
              {"topic": "p/gpio/6/set", "payload": "same"}]
    leftovers = hostile_mqtt.match_answers(cases, events)
    assert [case.answer is not None for case in cases] == [True, True, True, False]
    assert leftovers == events[3:]
