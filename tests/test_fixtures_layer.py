"""This repository's layer (fixtures/) says what firmware_under_test really does: its topic
names and GPIO commands, checked against the firmware's own modules under MicroPython."""

from __future__ import annotations

import json

from fixtures import topics
from tests.test_firmware_logic import pytestmark, run_mpy  # noqa: F401  (skip without MicroPython)

BASE = "lab/gw0/5ccf7f000001"


def test_the_topics_are_the_firmwares():
    out = run_mpy("import json, messages\nt = messages.Topics('lab/gw0', '5ccf7f000001')\n"
                  "print(json.dumps([t.status, t.telemetry, t.error, t.gpio_set, t.gpio_state(5),"
                  " t.gpio_pin(t.base + 'gpio/13/set'), messages.STATUS_ONLINE.decode(),"
                  " messages.STATUS_OFFLINE.decode(), sorted(json.loads(messages.telemetry(1, 2, 3, 4, 'v')))]))")
    status, telemetry, error, gpio_set, gpio_state, pin, online, offline, keys = json.loads(out)
    assert (status, telemetry, error) == tuple(f"{BASE}/{suffix}" for suffix in
                                               (topics.STATUS, topics.TELEMETRY, topics.ERROR))
    assert gpio_set == f"{BASE}/{topics.gpio_set('+')}" and gpio_state == f"{BASE}/{topics.gpio_state(5)}"
    assert pin == "13" and f"{BASE}/{topics.gpio_set(13)}".endswith("gpio/13/set")
    assert (online.encode(), offline.encode()) == (topics.STATUS_ONLINE, topics.STATUS_OFFLINE)
    assert set(keys) == topics.TELEMETRY_KEYS
    assert topics.base_of(status) == BASE and topics.status_of_any("lab/gw0") == "lab/gw0/+/status"


def test_the_gpio_commands_are_the_firmwares():
    payloads = ", ".join(repr(command.encode()) for command in topics.GPIO_COMMANDS)
    out = run_mpy(f"import gpiocmd\nprint([gpiocmd.parse_payload(p) for p in ({payloads},)])")
    assert out.strip() == "[1, 0, 1, 0, 2]"
