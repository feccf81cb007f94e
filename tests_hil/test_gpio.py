"""GPIO over MQTT: the pin really moves (observed on the pin), state is reported, bad input refused."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.hil

PIN = 5
FLASH_PIN = 7


def command(mqtt, device, pin, payload):
    mqtt.publish(device.topic(f"gpio/{pin}/set"), payload)


def test_set_on_and_off_moves_the_pin(deployed, device, mqtt, hil_settings):
    for payload, level in (("1", 1), ("off", 0), ("on", 1), ("0", 0)):
        since = time.monotonic()
        command(mqtt, device, PIN, payload)
        deployed.pins.wait_for_level(PIN, level, timeout=hil_settings.mqtt_timeout, board=deployed.name)
        state = mqtt.wait_for(device.topic(f"gpio/{PIN}/state"), since=since, timeout=hil_settings.mqtt_timeout,
                              what=f"state after {payload!r}")
        assert state.payload == str(level).encode()


def test_toggle_inverts_the_pin(deployed, device, mqtt, hil_settings):
    command(mqtt, device, PIN, "0")
    deployed.pins.wait_for_level(PIN, 0, timeout=hil_settings.mqtt_timeout, board=deployed.name)
    command(mqtt, device, PIN, "toggle")
    deployed.pins.wait_for_level(PIN, 1, timeout=hil_settings.mqtt_timeout, board=deployed.name)
    command(mqtt, device, PIN, "toggle")
    deployed.pins.wait_for_level(PIN, 0, timeout=hil_settings.mqtt_timeout, board=deployed.name)


@pytest.mark.parametrize("pin, payload, reason", [
    (FLASH_PIN, "1", "pin"),
    (PIN, "banana", "payload"),
    ("x", "1", "pin"),
])
def test_bad_commands_give_error_events_and_the_firmware_lives_on(deployed, device, mqtt, hil_settings,
                                                                 pin, payload, reason):
    since = time.monotonic()
    command(mqtt, device, pin, payload)
    error = mqtt.wait_for(device.topic("error"), since=since, timeout=hil_settings.mqtt_timeout,
                          what=f"error event for gpio/{pin}/set {payload!r}")
    event = json.loads(error.payload)
    assert reason in event["error"] and event["payload"] == payload
    command(mqtt, device, PIN, "1")
    deployed.pins.wait_for_level(PIN, 1, timeout=hil_settings.mqtt_timeout, board=deployed.name)
