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

from nodemcu_hil import packages
from nodemcu_hil.broker import HilBroker
from nodemcu_hil.errors import HilError
from nodemcu_hil.mqtt import MqttClient
from tests.test_firmware_logic import FIRMWARE, MICROPYTHON, pytestmark  # noqa: F401

CLIENT_ID = "f00d"
BOARD_SCRIPT = """
import mqttlink, time, service, app  # the largest first, as main.py does
class Sta:
    def isconnected(self): return True
    def status(self, what=None): return -55
class Pin:
    def __init__(self, n): self.v = 0
    def value(self, v=None):
        if v is None: return self.v
        self.v = v
cfg = {'topic_prefix': 'fw', 'gpio_allow': [2], 'keepalive_s': 2, 'telemetry_s': 1,
       'backoff_base_ms': 200, 'backoff_cap_ms': 1000, 'outbox_limit': 5,
       'broker_host': '127.0.0.1', 'broker_port': %(port)d}
cfg.update(%(extra)r)
service.Service(cfg, '%(cid)s', app.client_factory(cfg, '%(cid)s'), Pin, Sta(), lambda: None, 'test').run()
"""
ESP8266_HEAP = "38wK"  # the chip's 38 KB in 64-bit words (see test_firmware_logic)


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
        self.sent_up = bytearray()  # what the firmware sent on its first connection
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
            threading.Thread(target=self._pump, args=(client, upstream, self.connections == 1),
                             daemon=True).start()

    def _pump(self, a, b, record=False):
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
                if record and sock is a:
                    self.sent_up += data
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


def start_firmware(umqtt_root, port: int, **extra) -> subprocess.Popen:
    """The firmware's service under MicroPython with an ESP8266-sized heap; `extra` goes
    into its config (e.g. broker_user, broker_password, outbox_limit)."""
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{umqtt_root}")
    code = BOARD_SCRIPT % {"cid": CLIENT_ID, "port": port, "extra": extra}
    return subprocess.Popen([str(MICROPYTHON), "-X", f"heapsize={ESP8266_HEAP}", "-c", code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def firmware(umqtt_root, broker):
    started: list[subprocess.Popen] = []

    def start(port: int = broker.port, **extra) -> subprocess.Popen:
        started.append(start_firmware(umqtt_root, port, **extra))
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


# --- issue 11: non-ASCII input, oversized messages, command floods ---------------------

def connect_fields(packet: bytes) -> dict:
    """The length-prefixed fields of an MQTT 3.1.1 CONNECT packet, as sent."""
    assert packet[0] == 0x10, f"not a CONNECT: {packet[:8]!r}"
    index, shift, remaining = 1, 0, 0
    while True:
        byte = packet[index]
        index += 1
        remaining |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = packet[index:index + remaining]
    assert len(body) == remaining, "CONNECT shorter than its remaining length"
    flags, pos, fields = body[7], 10, {}

    def field() -> bytes:
        nonlocal pos
        size = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
        pos += size
        return bytes(body[pos - size:pos])

    fields["client_id"] = field()
    if flags & 0x04:
        fields["will_topic"], fields["will_message"] = field(), field()
    if flags & 0x80:
        fields["user"] = field()
    if flags & 0x40:
        fields["password"] = field()
    assert pos == remaining, f"CONNECT fields end at {pos}, packet at {remaining}"
    return fields


def onlines(broker, since: float = 0.0) -> int:
    return len(broker.messages.matching("fw/f00d/status", lambda m: m.payload == b"online" and not m.will,
                                        since=since))


def telemetry_bodies(broker, since: float = 0.0) -> list[dict]:
    return [json.loads(m.payload) for m in broker.messages.matching("fw/f00d/telemetry", since=since)]


def test_non_ascii_broker_password_is_sent_as_utf8_and_connects(firmware, broker, observer):
    relay = Relay(broker.port)
    try:
        firmware(relay.port, broker_user="hüb", broker_password="grüße-ü")
        observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
        fields = connect_fields(bytes(relay.sent_up))
        assert fields["user"].decode() == "hüb" and fields["password"].decode() == "grüße-ü"
        observer.wait_for("fw/f00d/telemetry", timeout=5)
        assert relay.connections == 1, "the firmware reconnected: its CONNECT was refused"
    finally:
        relay.close()


def test_non_ascii_commands_get_valid_json_errors_and_the_session_lives_on(firmware, broker, observer):
    firmware()
    observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
    since = time.monotonic()
    observer.publish("fw/f00d/gpio/\u0663/set", b"1")          # ARABIC-INDIC DIGIT THREE
    observer.publish("fw/f00d/gpio/2/set", "\u00fcber".encode())       # a non-ASCII payload
    observer.publish("fw/f00d/gpio/2/set", b"1")                 # queued behind them
    state = observer.wait_for("fw/f00d/gpio/2/state", since=since, timeout=5, what="the command behind")
    assert state.payload == b"1"
    errors = [json.loads(m.payload) for m in broker.messages.matching("fw/f00d/error", since=since)]
    assert errors == [{"error": "bad pin", "topic": "fw/f00d/gpio/\u0663/set", "payload": "1"},
                      {"error": "bad payload", "topic": "fw/f00d/gpio/2/set", "payload": "\u00fcber"}]
    assert onlines(broker) == 1, "the firmware lost its session"


def test_oversized_messages_are_refused_and_the_session_and_heap_kept(firmware, broker, observer):
    firmware()
    observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
    before = json.loads(observer.wait_for("fw/f00d/telemetry", timeout=5).payload)
    since = time.monotonic()
    long_topic = "fw/f00d/gpio/" + "7" * 8000 + "/set"
    for size in (6 * 1024, 10 * 1024):
        observer.publish("fw/f00d/gpio/2/set", b"x" * size)
    observer.publish(long_topic, b"1")
    observer.publish("fw/f00d/gpio/2/set", b"1")                 # queued behind them
    assert observer.wait_for("fw/f00d/gpio/2/state", since=since, timeout=10).payload == b"1"
    errors = [json.loads(m.payload) for m in broker.messages.matching("fw/f00d/error", since=since)]
    qos1 = 2 + 2  # topic length and packet id: the size is the PUBLISH's remaining length
    assert [(e["error"], e["size"]) for e in errors] == [
        ("too large", qos1 + 18 + 6 * 1024), ("too large", qos1 + 18 + 10 * 1024),
        ("too large", qos1 + len(long_topic) + 1)]
    assert errors[0]["payload"] == "x" * 64 and errors[2]["topic"] == long_topic[:64]
    after = json.loads(observer.wait_for("fw/f00d/telemetry", lambda m: json.loads(m.payload)["uptime_s"] >
                                         before["uptime_s"] + 1, since=since, timeout=10).payload)
    assert after["reconnects"] == 0 and onlines(broker) == 1
    assert after["heap_free"] >= 0.9 * before["heap_free"], (before["heap_free"], after["heap_free"])


def test_a_retained_oversized_command_is_refused_once_not_in_a_reconnect_loop(firmware, broker, observer):
    observer.publish("fw/f00d/gpio/2/set", b"y" * 10 * 1024, retain=True)
    firmware()
    first = observer.wait_for("fw/f00d/error", timeout=10)
    assert json.loads(first.payload)["error"] == "too large"
    since = first.at + 1.0  # the loop seen by the user: refused, dropped, reconnected, refused...
    later = observer.wait_for("fw/f00d/telemetry", lambda m: json.loads(m.payload)["uptime_s"] >= 4,
                              since=since, timeout=10)
    assert json.loads(later.payload)["reconnects"] == 0 and onlines(broker) == 1
    # amqtt 0.12 hands a new client the retained messages of every filter anyone holds
    # (QoS 0, on connect) and then again on its own SUBSCRIBE: two deliveries, two answers
    refusals = broker.messages.matching("fw/f00d/error")
    assert 1 <= len(refusals) <= 2 and all(m.at < since for m in refusals), "refused again and again"


FLOOD = 300


def test_a_command_flood_costs_no_telemetry(firmware, broker, observer):
    firmware()
    observer.wait_for("fw/f00d/status", lambda m: m.payload == b"online", timeout=10)
    first = observer.wait_for("fw/f00d/telemetry", timeout=5).at
    for _ in range(FLOOD):
        observer.publish("fw/f00d/gpio/2/set", b"toggle", qos=1)
    end = time.monotonic()
    answered = observer.wait_for("fw/f00d/gpio/2/state", lambda m: len(
        broker.messages.matching("fw/f00d/gpio/2/state", since=first)) >= FLOOD, since=first, timeout=60)
    # two more telemetry periods after the last answer: whatever was queued has gone out
    observer.wait_for("fw/f00d/telemetry", lambda m: m.at > max(answered.at, end) + 2, timeout=10)
    seqs = [t["seq"] for t in telemetry_bodies(broker)]
    assert len(broker.messages.matching("fw/f00d/gpio/2/state", since=first)) == FLOOD
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1)), f"telemetry lost: {seqs}"
    assert len(seqs) == len(set(seqs)), f"telemetry duplicated: {seqs}"
    assert telemetry_bodies(broker)[-1]["dropped"] == 0 and onlines(broker) == 1
