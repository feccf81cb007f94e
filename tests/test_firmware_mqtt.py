"""The firmware's MQTT service with the real umqtt.simple2 against a real amqtt broker.

The firmware runs under the MicroPython unix port with only the radio stood in for (a
station that is always up); sockets, the MQTT library and the broker are the real ones.
A small TCP relay between them can go silent (a half-open link) to test the keepalive.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from fixtures import packages
from fixtures.broker import HilBroker
from fixtures.errors import HilError
from fixtures.mqtt import MqttClient
from tests.test_firmware_logic import FIRMWARE, MICROPYTHON, pytestmark  # noqa: F401

CLIENT_ID = "f00d"
BOARD_SCRIPT = """
import time, service
from umqtt.simple2 import MQTTClient
class Sta:
    def isconnected(self): return True
    def status(self, what=None): return -55
class Pin:
    def __init__(self, n): self.v = 0
    def value(self, v=None):
        if v is None: return self.v
        self.v = v
cfg = {'topic_prefix': 'fw', 'gpio_allow': [2], 'keepalive_s': 2, 'telemetry_s': 1,
       'backoff_base_ms': 200, 'backoff_cap_ms': 1000, 'outbox_limit': 5}
make = lambda k, t: MQTTClient('%(cid)s', '127.0.0.1', %(port)d, keepalive=k, socket_timeout=t)
service.Service(cfg, '%(cid)s', make, Pin, Sta(), lambda: None, 'test').run()
"""


@pytest.fixture(scope="module")
def umqtt_root():
    try:
        return packages.fetch_all()[0].root
    except HilError as exc:
        pytest.skip(f"umqtt.simple2 unavailable (offline and not cached): {exc}")


class Relay:
    """TCP relay on 127.0.0.1 to the broker: it can go silent without closing (a half-open
    path) or go down (connections cut, new ones refused), as a broker that went away."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.silent = threading.Event()
        self.down = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        peers = {a: b, b: a}
        while not self.closed:
            ready, _, _ = select.select(list(peers), [], [], 0.05)
            for sock in ready:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data or self.down.is_set():
                    a.close()
                    b.close()
                    return
                if not self.silent.is_set():
                    peers[sock].sendall(data)

    def close(self):
        self.closed = True
        self.listener.close()


@pytest.fixture
def broker():
    with HilBroker() as running:
        running.start()
        yield running


@pytest.fixture
def observer(broker):
    with MqttClient(broker.host, broker.port, "observer") as client:
        client.subscribe("fw/#")
        yield client


def start_firmware(umqtt_root, port: int) -> subprocess.Popen:
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{umqtt_root}")
    code = BOARD_SCRIPT % {"cid": CLIENT_ID, "port": port}
    return subprocess.Popen([str(MICROPYTHON), "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def firmware(umqtt_root, broker):
    started: list[subprocess.Popen] = []

    def start(port: int = broker.port) -> subprocess.Popen:
        started.append(start_firmware(umqtt_root, port))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_online_telemetry_gpio_and_error_events(firmware, observer):
    firmware()
    observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
    telemetry = json.loads(observer.wait_for("fw/f00d/telemetry", timeout=5).payload)
    assert set(telemetry) >= {"uptime_s", "heap_free", "rssi", "reconnects", "version"}
    observer.publish("fw/f00d/gpio/2/set", b"on")
    assert observer.wait_for("fw/f00d/gpio/2/state", timeout=5).payload == b"1"
    observer.publish("fw/f00d/gpio/2/set", b"toggle")
    assert observer.wait_for("fw/f00d/gpio/2/state", lambda m: m.payload == b"0", timeout=5)
    observer.publish("fw/f00d/gpio/9/set", b"1")
    observer.publish("fw/f00d/gpio/2/set", b"blink")
    errors = [json.loads(observer.wait_for("fw/f00d/error", lambda m, w=w: w in m.payload, timeout=5).payload)
              for w in (b"not allowed", b"bad payload")]
    assert errors[0]["topic"] == "fw/f00d/gpio/9/set" and errors[1]["payload"] == "blink"


def test_status_is_retained_and_the_will_says_offline(firmware, broker, observer):
    process = firmware()
    observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
    with MqttClient(broker.host, broker.port, "late") as late:
        late.subscribe("fw/f00d/status")
        retained = late.wait_for("fw/f00d/status", timeout=5)
        assert retained.payload == b"online" and retained.retain
    since = time.monotonic()
    os.killpg(process.pid, signal.SIGKILL)   # the board dies without a DISCONNECT
    will = observer.wait_for("fw/f00d/status", lambda m: m.payload == b"offline", timeout=10, since=since)
    assert will.payload == b"offline"


def test_broker_loss_reconnects_with_backoff_and_delivers_buffered_telemetry(firmware, broker, observer):
    relay = Relay(broker.port)
    try:
        firmware(relay.port)
        first = json.loads(observer.wait_for("fw/f00d/telemetry", timeout=10).payload)
        relay.down.set()
        cut = time.monotonic()
        time.sleep(3.0)   # the broker stays away long enough for telemetry to pile up
        relay.down.clear()
        back = time.monotonic()
        observer.wait_for("fw/f00d/telemetry", lambda m: json.loads(m.payload)["reconnects"] >= 1, timeout=10)
        uptimes = sorted({json.loads(m.payload)["uptime_s"] for m in observer.messages.matching("fw/f00d/telemetry")})
        made_while_down = [u for u in uptimes if first["uptime_s"] + 1 <= u <= first["uptime_s"] + (back - cut) - 0.5]
        assert len(made_while_down) >= 2, f"telemetry made while the broker was away was lost: {uptimes}"
        assert relay.connections >= 2
    finally:
        relay.close()


def test_silent_broker_is_detected_by_keepalive(firmware, broker, observer):
    relay = Relay(broker.port)
    try:
        firmware(relay.port)
        observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
        assert relay.connections == 1
        relay.silent.set()
        since = time.monotonic()
        deadline = since + 10
        while relay.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        detected = time.monotonic() - since
        relay.silent.clear()
        assert relay.connections >= 2, "the firmware never noticed the silent broker"
        assert detected < 6
        observer.wait_for("fw/f00d/telemetry", lambda m: json.loads(m.payload)["reconnects"] >= 1, timeout=10)
    finally:
        relay.close()
