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
    ("\u0663", "1", "pin"),        # a non-ASCII digit: its error event once broke the session
    (PIN, "\u00fcber", "payload"),
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


def test_an_oversized_command_is_refused_and_the_session_kept(deployed, device, mqtt, broker, hil_settings):
    command(mqtt, device, PIN, "0")
    deployed.pins.wait_for_level(PIN, 0, timeout=hil_settings.mqtt_timeout, board=deployed.name)
    since = time.monotonic()
    command(mqtt, device, PIN, "x" * 10 * 1024)     # more than the ESP8266 can hold whole
    command(mqtt, device, PIN, "1")                  # queued behind it
    deployed.pins.wait_for_level(PIN, 1, timeout=hil_settings.mqtt_timeout, board=deployed.name)
    error = json.loads(mqtt.wait_for(device.topic("error"), since=since, timeout=hil_settings.mqtt_timeout,
                                     what="error event for the 10 KB command").payload)
    assert error["error"] == "too large" and error["size"] > 10 * 1024 and error["payload"] == "x" * 64
    telemetry = mqtt.wait_for(device.topic("telemetry"), since=time.monotonic(),
                              timeout=hil_settings.telemetry_period * 2 + 5, what="telemetry after it")
    assert json.loads(telemetry.payload)["reconnects"] == 0
    assert not broker.messages.matching(device.topic("status"), lambda m: m.payload == b"online",
                                        since=device.online_at + 0.001), "the firmware reconnected"
