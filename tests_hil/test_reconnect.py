"""Reconnect: the firmware comes back after the broker or the network goes away.

Each test records the time from the fault's end to the firmware's next `online` as a
property, so runs can be compared (`hil compare`).
"""

from __future__ import annotations

import time

import pytest

from nodemcu_hil.mqtt import MqttClient

pytestmark = pytest.mark.hil


def live(payload: bytes):
    """A status published now: retained copies replayed on subscribe carry the retain flag."""
    return lambda message: message.payload == payload and not message.retain


def back_online(mqtt, device, since, timeout, what):
    return mqtt.wait_for(device.topic("status"), live(b"online"), since=since, timeout=timeout, what=what)


def reconnect_budget(settings) -> float:
    return settings.mqtt_keepalive * 2 + settings.wifi_timeout + settings.mqtt_timeout


def network(deployed):
    if deployed.wifi is None:
        pytest.skip(f"no controllable network path to {deployed.name} on this rig "
                    "(link drop and blackhole need the virtual board's world)")
    return deployed.wifi


def test_broker_restart(device, broker, mqtt, hil_settings, record_property):
    broker.restart()
    restarted = time.monotonic()
    with MqttClient(broker.host, broker.port, "after-restart") as watcher:
        watcher.subscribe(device.topic("status"))
        back = watcher.wait_for(device.topic("status"), live(b"online"), since=restarted,
                                timeout=reconnect_budget(hil_settings), what="online after broker restart")
    record_property("reconnect_s", round(back.at - restarted, 3))


def test_broker_kicks_the_client(device, broker, mqtt, hil_settings, record_property):
    kicked = time.monotonic()
    broker.kick(device.client_id)
    offline = mqtt.wait_for(device.topic("status"), live(b"offline"), since=kicked, timeout=hil_settings.mqtt_timeout,
                            what="the firmware's last will after the broker dropped it")
    will = broker.messages.wait_for(device.topic("status"), lambda m: m.will, since=kicked, timeout=5,
                                    what="the will in the broker's record")
    assert will.sender == device.client_id
    back = back_online(mqtt, device, offline.at, reconnect_budget(hil_settings), "online after being kicked")
    record_property("reconnect_s", round(back.at - kicked, 3))


def test_wifi_link_drop_and_return(deployed, device, mqtt, hil_settings, record_property):
    world = network(deployed)
    mark = deployed.console.mark()  # before the drop: the firmware may notice at once
    world.set_link(False)
    try:
        deployed.console.expect(r"mqtt: link lost", timeout=reconnect_budget(hil_settings), since=mark,
                                what="firmware noticing the Wi-Fi loss")
    finally:
        world.set_link(True)
    restored = time.monotonic()
    back = back_online(mqtt, device, restored, reconnect_budget(hil_settings), "online after Wi-Fi returns")
    record_property("reconnect_s", round(back.at - restored, 3))


def test_silent_blackhole_is_detected_by_keepalive(deployed, device, mqtt, hil_settings, record_property):
    world = network(deployed)
    mark = deployed.console.mark()
    started = time.monotonic()
    world.blackhole(True)
    try:
        deployed.console.expect(r"mqtt: link lost", timeout=hil_settings.mqtt_keepalive * 3 + 5, since=mark,
                                what="keepalive noticing the silent broker")
        record_property("detect_s", round(time.monotonic() - started, 3))
    finally:
        world.blackhole(False)
    restored = time.monotonic()
    back = back_online(mqtt, device, restored, reconnect_budget(hil_settings), "online after the blackhole")
    record_property("reconnect_s", round(back.at - restored, 3))
