"""Latency samples on a virtual (or real) board, taken by pytest through the harness's fixtures.

Run by `bench.latency` (`pytest bench/latency_probe.py`, with BENCH_LATENCY_OUT naming the
JSON file for the samples and BENCH_LATENCY_SAMPLES how many of each); not part of the
test suites, and it asserts nothing about time: every sample is written, the benchmark
computes p50/p95.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.hil

PIN = 5
SAMPLES = int(os.environ.get("BENCH_LATENCY_SAMPLES", "20"))
OUT = Path(os.environ.get("BENCH_LATENCY_OUT", "latency.json"))


def record(name: str, samples: list[float]) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[name] = samples
    OUT.write_text(json.dumps(data))


def online(message) -> bool:
    return message.payload == b"online"


def back_online(broker, device, since: float, timeout: float, what: str):
    """The firmware's next `online` as the broker received it (its own record: no
    subscriber that has to reconnect first, and no retained replay to tell apart)."""
    return broker.messages.wait_for(device.topic("status"), online, since=since, timeout=timeout, what=what)


def changed_at(pins, level: int, sent: float, seen: float) -> float:
    """When the pin changed: the virtual board stamps each change with the host's monotonic
    clock (its history); a probe board is only polled, so there it is when the poll saw it."""
    history = getattr(pins, "history", None)
    if history is None:
        return seen
    changes = [c["t_ns"] / 1e9 for c in history(PIN) if c["level"] == level and c["source"] == "firmware"
               and c["t_ns"] / 1e9 >= sent]
    return min(changes) if changes else seen


def test_gpio_set_to_pin_change(deployed, device, mqtt, hil_settings):
    samples = []
    for index in range(SAMPLES + 1):
        level = index % 2
        sent = time.monotonic()
        mqtt.publish(device.topic(f"gpio/{PIN}/set"), str(level))
        seen = deployed.pins.wait_for_level(PIN, level, timeout=hil_settings.mqtt_timeout, board=deployed.name)
        if index:   # the first only puts the pin at a known level
            samples.append(changed_at(deployed.pins, level, sent, seen) - sent)
    record("gpio_set_to_pin", samples)


def test_broker_restart_to_online(device, broker, hil_settings):
    samples = []
    for _ in range(max(3, SAMPLES // 2)):
        broker.restart()
        restarted = time.monotonic()
        back = back_online(broker, device, restarted, hil_settings.mqtt_timeout * 2, "online after broker restart")
        samples.append(back.at - restarted)
    record("broker_restart_to_online", samples)


def test_wifi_drop_to_online(deployed, device, broker, hil_settings):
    if deployed.wifi is None:
        pytest.skip("no controllable network path on this rig")
    samples = []
    for _ in range(max(3, SAMPLES // 2)):
        mark = deployed.console.mark()
        deployed.wifi.set_link(False)
        try:
            deployed.console.expect(r"mqtt: link lost", timeout=hil_settings.mqtt_keepalive * 3, since=mark,
                                    what="firmware noticing the Wi-Fi loss")
        finally:
            deployed.wifi.set_link(True)
        restored = time.monotonic()
        back = back_online(broker, device, restored, hil_settings.mqtt_timeout * 2, "online after Wi-Fi returns")
        samples.append(back.at - restored)
    record("wifi_drop_to_online", samples)
