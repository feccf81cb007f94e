"""The session broker on a running board (issue 15): the firmware logs in with the
credentials the session made for it, and those credentials open its own namespace only.

Each xdist worker has its own broker, so "another board's namespace" is the one a board of
another worker would use (`<topic_prefix>/<other worker>/`), tried on this worker's broker."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from nodemcu_hil.mqtt import ConnectionRefused, MqttClient, SubscriptionRefused

pytestmark = pytest.mark.hil


def other_namespace(hil_settings, hil_topic_prefix) -> str:
    own_worker = hil_topic_prefix.rsplit("/", 1)[1]
    return f"{hil_settings.topic_prefix}/{'gw1' if own_worker != 'gw1' else 'gw0'}"


def with_board_credentials(broker, client_id: str) -> MqttClient:
    board = broker.security.board()
    return MqttClient(broker.host, broker.port, client_id, username=board.username, password=board.password)


def test_the_firmware_logs_in_with_its_own_credentials(device, broker, hil_timeline):
    assert device.client_id in broker.connected_clients()
    with pytest.raises(ConnectionRefused):
        MqttClient(broker.host, broker.port, "anonymous-visitor", anonymous=True)
    assert any("refused anonymous-visitor" in event.text for event in hil_timeline.events()), \
        "the refusal is not on the timeline"


def test_the_boards_credentials_open_its_namespace_only(device, broker, mqtt, hil_settings, hil_topic_prefix):
    other = other_namespace(hil_settings, hil_topic_prefix)
    with with_board_credentials(broker, "borrowed-board-credentials") as borrowed:
        borrowed.subscribe(f"{hil_topic_prefix}/#")  # its own namespace: granted
        for topic_filter in ("#", f"{hil_settings.topic_prefix}/#", f"{other}/#",
                             f"{hil_settings.topic_prefix}/+/+/status"):
            with pytest.raises(SubscriptionRefused):
                borrowed.subscribe(topic_filter)
        with MqttClient(broker.host, broker.port, "harness-watcher") as watcher:
            watcher.subscribe(f"{other}/#")
            borrowed.publish(f"{other}/victim/gpio/2/set", b"1")
            borrowed.publish(f"{hil_topic_prefix}/borrowed/probe", b"own")
            mqtt.wait_for(f"{hil_topic_prefix}/borrowed/probe", timeout=hil_settings.mqtt_timeout)
            # The harness may publish there: once its marker, sent after the board's try, has
            # reached the watcher, the board's message would have reached it first.
            mqtt.publish(f"{other}/marker", b"after")
            watcher.wait_for(f"{other}/marker", timeout=hil_settings.mqtt_timeout, what="the harness's marker")
            assert [m.topic for m in watcher.messages] == [f"{other}/marker"], \
                "a board's credentials published into another namespace"


def test_an_impostor_cannot_take_the_boards_client_id(device, broker, mqtt, hil_settings):
    answered, codes = threading.Event(), []

    def on_connect(client, userdata, flags, reason, properties):
        codes.append(reason.value)
        client.disconnect()  # else paho's loop, refused, waits a second to reconnect before loop_stop returns
        answered.set()

    impostor = paho.Client(CallbackAPIVersion.VERSION2, client_id=device.client_id)
    impostor.on_connect = on_connect
    impostor.connect(broker.host, broker.port)
    impostor.loop_start()
    answered.wait(hil_settings.mqtt_timeout)
    impostor.disconnect()
    impostor.loop_stop()
    assert codes, f"no CONNACK for the impostor within {hil_settings.mqtt_timeout:g} s"
    assert codes[0] != 0, "an anonymous client was admitted"
    since = time.monotonic()
    mqtt.publish(device.topic("gpio/2/set"), b"1")  # the firmware still holds its session and subscription
    state = mqtt.wait_for(device.topic("gpio/2/state"), since=since, timeout=hil_settings.mqtt_timeout,
                          what="the firmware's answer after the impostor was refused")
    assert state.payload == b"1"
    assert not mqtt.messages.matching(device.topic("status"), lambda m: m.payload == b"offline" and m.at > since)
