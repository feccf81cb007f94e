"""The firmware's MQTT link (firmware_under_test/mqttlink.py) on the wire: it logs in to a
secured broker as the session makes it, is refused without its credentials, and sends each
packet in one socket write. Same rig as test_firmware_mqtt: the firmware under the
MicroPython unix port, the real umqtt.simple2 and the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from nodemcu_hil.broker import HilBroker
from nodemcu_hil.mqtt import MqttClient
from tests.test_firmware_logic import FIRMWARE, MICROPYTHON, pytestmark  # noqa: F401
from tests.test_firmware_mqtt import broker, observer, start_firmware, umqtt_root  # noqa: F401


@pytest.fixture
def secured_broker():
    """A broker as the session makes it (issue 15): no anonymous client, the board's user
    (with a non-ASCII password) under `fw/#` only."""
    from nodemcu_hil.broker_security import session_security
    from nodemcu_hil.secrets import Secret

    actions: list[str] = []
    security = session_security({"fw": "fw"}, user="board-ü", password=Secret("pässwört-€"))
    with HilBroker(security=security, on_action=actions.append) as running:
        running.actions = actions
        yield running


def test_the_firmware_logs_in_publishes_and_reconnects_across_restarts_of_a_secured_broker(umqtt_root,
                                                                                          secured_broker):
    board = secured_broker.security.board()
    process = start_firmware(umqtt_root, secured_broker.port, broker_user=board.username,
                             broker_password=board.password.reveal())
    try:
        with MqttClient(secured_broker.host, secured_broker.port, "observer") as observer:  # the harness's user
            observer.subscribe("fw/#")
            observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
            observer.wait_for("fw/f00d/telemetry", timeout=5)
        for restart in (1, 2):  # the broker's own log spans its restarts
            restarted = time.monotonic()
            secured_broker.restart()
            secured_broker.messages.wait_for("fw/f00d/telemetry",
                                             lambda m, n=restart: json.loads(m.payload)["reconnects"] >= n,
                                             since=restarted, timeout=15, what=f"telemetry after restart {restart}")
        assert not [text for text in secured_broker.actions if "refused" in text]
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("credentials", [{}, {"broker_password": "wrong"}], ids=["anonymous", "wrong-password"])
def test_the_firmware_without_its_credentials_is_refused(umqtt_root, secured_broker, credentials):
    process = start_firmware(umqtt_root, secured_broker.port,
                             broker_user=secured_broker.security.board().username if credentials else "",
                             **credentials)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("refused f00d" in t for t in secured_broker.actions):
            time.sleep(0.1)
        assert any("refused f00d" in text for text in secured_broker.actions), secured_broker.actions
        assert not secured_broker.messages.matching("fw/#")
        assert "f00d" not in secured_broker.connected_clients()
    finally:
        process.kill()
        process.wait()


ONE_WRITE_SCRIPT = """
import mqttlink
class Counting:  # the real socket, its writes counted
    def __init__(self, sock): self.sock, self.writes = sock, []
    def write(self, *args):
        n = self.sock.write(*args)
        self.writes.append(n)
        return n
    def __getattr__(self, name): return getattr(self.sock, name)
got = []
c = mqttlink.Link('w1', '127.0.0.1', port=%(port)d, keepalive=10)
c.set_callback(lambda topic, msg, retained, dup: got.append(msg))
c.connect()
c.sock = w = Counting(c.sock)
c.publish('fw/w1/a', 'x' * 20)
c.publish('fw/w1/b', 'y', qos=1)
c.subscribe('fw/w1/cmd', qos=1)
print('SENT', len(w.writes))
while not got:
    c.wait_msg()
print('AFTER', len(w.writes), got)
"""


def test_each_packet_leaves_in_one_socket_write(umqtt_root, broker, observer):
    """umqtt writes a PUBLISH in 4-5 pieces and a PUBACK in 2; with Nagle on the board's
    side each later piece could wait for the broker's delayed ACK (a command flood was
    answered at a few dozen per second). Two publishes and a subscribe: three writes; the
    PUBACK of a QoS 1 message: one more."""
    observer.publish("fw/w1/cmd", b"on", qos=1, retain=True)
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{umqtt_root}")
    done = subprocess.run([str(MICROPYTHON), "-c", ONE_WRITE_SCRIPT % {"port": broker.port}], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SENT 3" in done.stdout and "AFTER 4 [b'on']" in done.stdout, done.stdout
