"""Publish: retained online status, telemetry schema and period, offline last will."""

from __future__ import annotations

import json
import time

import pytest

from nodemcu_hil.mqtt import MqttClient

pytestmark = pytest.mark.hil

TELEMETRY_KEYS = {"uptime_s", "heap_free", "rssi", "reconnects", "version", "seq", "dropped"}


def test_online_status_is_retained(device, broker):
    with MqttClient(broker.host, broker.port, "late-subscriber") as late:
        late.subscribe(device.topic("status"))
        status = late.wait_for(device.topic("status"), timeout=5, what="retained status")
    assert status.payload == b"online" and status.retain


def test_telemetry_schema_and_period(device, mqtt, hil_settings, record_property):
    since = time.monotonic()
    period = hil_settings.telemetry_period
    first = mqtt.wait_for(device.topic("telemetry"), since=since, timeout=period * 2 + 5, what="telemetry")
    second = mqtt.wait_for(device.topic("telemetry"), since=first.at + 0.001, timeout=period * 2 + 5,
                           what="second telemetry")
    for message in (first, second):
        payload = json.loads(message.payload)
        assert TELEMETRY_KEYS <= set(payload), f"telemetry lacks {TELEMETRY_KEYS - set(payload)}"
        assert 0 < payload["heap_free"] < 40 * 1024
    assert json.loads(second.payload)["uptime_s"] > json.loads(first.payload)["uptime_s"]
    assert json.loads(second.payload)["seq"] == json.loads(first.payload)["seq"] + 1
    measured = second.at - first.at
    record_property("telemetry_period_s", round(measured, 3))
    assert period * 0.5 <= measured <= period * 1.5 + 1, f"telemetry every {measured:.1f} s, configured {period} s"


def test_offline_last_will_while_held_in_reset(deployed, device, mqtt, broker, hil_settings, record_property):
    """The board dies without a DISCONNECT: the broker publishes its will after the keepalive."""
    since = time.monotonic()
    will_deadline = hil_settings.mqtt_keepalive * 2 + hil_settings.mqtt_timeout
    with deployed.held_in_reset():
        offline = mqtt.wait_for(device.topic("status"), lambda m: m.payload == b"offline" and not m.retain, since=since,
                                timeout=will_deadline, what="offline last will while the board is in reset")
        with MqttClient(broker.host, broker.port, "late-subscriber") as late:
            late.subscribe(device.topic("status"))
            retained = late.wait_for(device.topic("status"), timeout=5, what="retained status")
        assert (retained.payload, retained.retain) == (b"offline", True)
    record_property("will_after_s", round(offline.at - since, 3))
    mqtt.wait_for(device.topic("status"), lambda m: m.payload == b"online" and not m.retain, since=offline.at,
                  timeout=hil_settings.wifi_timeout + hil_settings.mqtt_timeout, what="online again after boot")


FLOOD = 1000  # as many as the user sent


def test_a_command_flood_costs_no_telemetry(device, mqtt, broker, hil_settings, record_property):
    """QoS 1 commands as fast as the broker takes them: every one answered, and the
    telemetry made meanwhile arrives whole (no seq lost or repeated, nothing dropped)."""
    since = time.monotonic()
    mqtt.publish_burst(device.topic("gpio/5/set"), ["toggle"] * FLOOD, qos=1,
                       timeout=hil_settings.mqtt_timeout + FLOOD * 0.2)
    sent = time.monotonic()

    def states() -> int:
        return len(broker.messages.matching(device.topic("gpio/5/state"), since=since))

    broker.messages.wait_count(device.topic("gpio/5/state"), FLOOD, since=since,
                               timeout=hil_settings.mqtt_timeout + FLOOD * 0.2, what=f"{FLOOD} state replies")
    done = time.monotonic()
    record_property("flood_answered_s", round(done - since, 3))
    period = hil_settings.telemetry_period
    last = mqtt.wait_for(device.topic("telemetry"), lambda m: m.at > max(done, sent) + period,
                         timeout=period * 3 + 5, what="telemetry after the flood")
    seqs = [json.loads(m.payload)["seq"] for m in broker.messages.matching(
        device.topic("telemetry"), lambda m: not m.retain, since=device.online_at)]
    assert states() == FLOOD
    assert sorted(set(seqs)) == list(range(seqs[0], seqs[-1] + 1)), f"telemetry lost: {seqs}"
    assert len(seqs) == len(set(seqs)), f"telemetry repeated: {seqs}"
    assert json.loads(last.payload)["dropped"] == 0
