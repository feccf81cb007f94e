"""The world around a virtual board: Wi-Fi state machine, GPIO, control commands, world
files, and umqtt.simple2 on the board's MicroPython riding out link drop and blackhole."""

from __future__ import annotations

import errno
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodemcu_hil.broker import HilBroker
from nodemcu_hil.errors import PackageUnavailable
from nodemcu_hil.packages import Requirement, fetch, read_manifest
from tests.esp8266_harness import MpProgram
from nodemcu_hil.sim.control import ControlError
from nodemcu_hil.sim.netpath import NetPath
from nodemcu_hil.sim.world import World
from nodemcu_hil.sim.world_client import World as WorldFacade
from nodemcu_hil.sim.world_client import WorldClient
from nodemcu_hil.sim.world_control import WorldFileError
from nodemcu_hil.sim.world_wifi import (DEFAULT_JOIN_DELAY_S, STAT_CONNECTING, STAT_GOT_IP, STAT_IDLE,
                                      STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD, WifiWorld)

BIN = Path(sys.executable).parent


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_join_outcomes_take_the_join_delay():
    clock = Clock()
    wifi = WifiWorld(clock=clock)
    wifi.add_ap("lab", "secret")
    wifi.set_active(0, True)
    assert 1.0 <= DEFAULT_JOIN_DELAY_S <= 2.0
    for ssid, key, outcome in (("lab", "secret", STAT_GOT_IP), ("lab", "bad", STAT_WRONG_PASSWORD),
                               ("gone", "x", STAT_NO_AP_FOUND)):
        assert wifi.connect(ssid, key)
        assert wifi.status() == STAT_CONNECTING
        clock.t += DEFAULT_JOIN_DELAY_S - 0.01
        assert wifi.status() == STAT_CONNECTING
        clock.t += 0.02
        assert wifi.status() == outcome, ssid


def test_link_drop_and_restore_rejoin_by_themselves_unless_disconnected():
    clock, lost = Clock(), []
    wifi = WifiWorld(clock=clock, on_link_lost=lambda: lost.append(clock.t))
    wifi.add_ap("lab", "")
    wifi.set_active(0, True)
    wifi.connect("lab", None)
    clock.t += 2
    assert wifi.status() == STAT_GOT_IP
    wifi.set_link(False)
    assert wifi.status() == STAT_NO_AP_FOUND and lost
    wifi.set_link(True)
    assert wifi.status() == STAT_CONNECTING
    clock.t += 2
    assert wifi.status() == STAT_GOT_IP
    wifi.set_present("lab", False)
    wifi.disconnect()
    wifi.set_present("lab", True)
    clock.t += 2
    assert wifi.status() == STAT_IDLE
    assert wifi.connect("lab", None) and not WifiWorld().connect("lab", None)  # STA inactive


def test_chip_reset_rejoins_the_saved_ap():
    clock = Clock()
    wifi = WifiWorld(clock=clock)
    wifi.add_ap("lab", "pw")
    wifi.set_active(0, True)
    wifi.connect("lab", "pw")
    clock.t += 2
    wifi.chip_reset()
    assert wifi.status() == STAT_CONNECTING
    clock.t += 2
    assert wifi.status() == STAT_GOT_IP


@pytest.fixture
def control(served_world):
    world, address = served_world
    client = WorldClient(address)
    yield world, client
    client.close()


def test_control_commands_drive_the_world(control):
    world, client = control
    client.call("gpio.drive", pin=5, value=1)
    assert client.call("gpio.read", pin=5)["level"] == 1
    hist = client.call("gpio.history", pin=5)
    assert [(c["pin"], c["level"], c["source"]) for c in hist["changes"]] == [(5, 1, "test")]
    assert hist["changes"][0]["t_ns"] <= hist["now_ns"]
    with pytest.raises(ControlError, match="GPIO7 does not exist"):
        client.call("gpio.drive", pin=7, value=1)
    client.call("wifi.ap.add", ssid="lab", password="pw")
    with pytest.raises(ControlError, match="unknown access point fields"):
        client.call("wifi.ap.add", ssid="x", colour="red")
    client.call("wifi.link", up=False)
    client.call("net.blackhole", on=True)
    client.call("net.latency", ms=40)
    state = client.call("world.state")
    assert state["wifi"]["link_up"] is False and state["wifi"]["aps"] == [{"ssid": "lab", "present": True}]
    assert state["net"]["blackhole"] is True and state["net"]["latency_ms"] == 40
    client.call("wifi.ap.remove", ssid="lab")
    assert client.counters() == {"wifi_joins": 0, "tcp_connections": 0, "wifi_link_losses": 0}


def test_the_join_delay_is_set_over_the_control_channel(control):
    """A harness may make joins quicker than the 1-2 s of a real ESP8266; a bad value is refused."""
    world, client = control
    WorldFacade(client).set_join_delay(0.25)
    assert world.wifi.join_delay_s == 0.25 and client.call("world.state")["wifi"]["join_delay_s"] == 0.25
    world.wifi.add_ap("lab", "pw")
    world.wifi.set_active(0, True)
    started = time.monotonic()
    world.wifi.connect("lab", "pw")
    while world.wifi.status() != STAT_GOT_IP and time.monotonic() - started < 5:
        time.sleep(0.01)
    assert 0.25 <= time.monotonic() - started < 1.0, "the join did not take the delay set"
    for bad in (-1, "soon", float("nan")):
        with pytest.raises(ControlError, match="join_delay"):
            client.call("wifi.join_delay", s=bad)
    assert world.wifi.join_delay_s == 0.25


def test_world_client_helpers(control):
    world, client = control
    client.drive(12, 1)
    client.add_ap("lab", "pw", rssi=-40)
    client.set_ap_present("lab", False)
    client.wifi_link(False)
    client.blackhole(True)
    client.latency(15)
    assert client.level(12) == 1 and client.history(pin=12)[0]["level"] == 1
    state = client.world_state()
    assert state["wifi"]["aps"] == [{"ssid": "lab", "present": False}] and not state["wifi"]["link_up"]
    assert (state["net"]["blackhole"], state["net"]["latency_ms"]) == (True, 15)
    client.remove_ap("lab")
    client.drive(12, None)
    assert client.level(12) == 0 and world.gpio.describe(12)["driven"] is None


def test_world_file(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text('[wifi]\njoin_delay_s = 0.5\nlink = "down"\n[[wifi.ap]]\nssid = "lab"\npassword = "pw"\n'
                    '[[wifi.ap]]\nssid = "far"\npresent = false\n[net]\nlatency_ms = 25\n[gpio.inputs]\n4 = 0\n')
    world = World().load(path)
    assert world.wifi.join_delay_s == 0.5 and not world.wifi.link_up
    assert [(a.ssid, a.password, a.present) for a in world.wifi.access_points()] == [("lab", "pw", True),
                                                                                       ("far", "", False)]
    assert world.net.latency_ms == 25 and world.gpio.level(4) == 0
    path.write_text('[[wifi.ap]]\npassword = "no ssid"\n')
    with pytest.raises(WorldFileError, match="needs an ssid"):
        World().load(path)
    path.write_text("[wifi\n")
    with pytest.raises(WorldFileError, match="not valid TOML"):
        World().load(path)


@pytest.mark.parametrize("text, named", [
    ('[[access_point]]\nssid = "lab"\n', "unknown table 'access_point'"),
    ('[wifi]\nlinks = "up"\n', "unknown key 'wifi.links'"),
    ('[[wifi.ap]]\nssid = "lab"\nkey = "pw"\n', "unknown key 'wifi.ap.key'"),
    ('[net]\nblack_hole = true\n', "unknown key 'net.black_hole'"),
    ('[gpio]\noutputs = {}\n', "unknown key 'gpio.outputs'"),
    ('wifi = 1\n', "'wifi' must be a table"),
    ('[wifi]\nap = {ssid = "lab"}\n', "'wifi.ap' must be an array of tables"),
    ('[wifi]\njoin_delay_s = -1\n', "join_delay_s must be 0 or more seconds"),
    ('[wifi]\njoin_delay_s = "soon"\n', "join_delay_s must be a number of seconds"),
])
def test_world_file_with_an_unknown_table_or_key_names_file_and_key(tmp_path, text, named):
    path = tmp_path / "world.toml"
    path.write_text(text)
    with pytest.raises(WorldFileError) as refused:
        World().load(path)
    assert str(path) in str(refused.value) and named in str(refused.value)


UMQTT_PROGRAM = """
import network, time
from umqtt.simple2 import MQTTClient
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect('lab', 'secret')
while not sta.isconnected():
    time.sleep_ms(20)
KEEPALIVE = 2

def session():
    c = MQTTClient('vboard', '127.0.0.1', port=PORT, keepalive=KEEPALIVE, socket_timeout=1)
    c.set_callback(lambda *a: None)
    c.connect()
    return c

def run(c, label):
    # ping every second; no PINGRESP for 2*KEEPALIVE s means the path is dead
    c.publish(b'vb/state', label.encode())
    print('UP', label)
    last = time.ticks_ms()
    while True:
        try:
            c.ping()
            for _ in range(10):
                c.check_msg()
                time.sleep_ms(100)
        except OSError as e:
            print('LOST', label, 'OSError', e.args[0])
            return
        except Exception as e:
            print('LOST', label, type(e).__name__, e.args)
            return
        if time.ticks_diff(time.ticks_ms(), c.last_cpacket) > 2 * KEEPALIVE * 1000:
            print('LOST', label, 'ping timeout')
            return

for label in ('first', 'after-drop', 'after-blackhole'):
    while True:
        try:
            c = session()
            break
        except Exception as e:
            print('RETRY', type(e).__name__, e.args)
            time.sleep_ms(200)
    run(c, label)
    try:
        c.sock.close()
    except Exception:
        pass
print('DONE')
"""


@pytest.mark.slow
def test_umqtt_simple2_rides_out_link_drop_and_blackhole(tmp_path):
    wanted = {r.key: r for r in read_manifest()}
    try:
        lib = fetch(wanted.get("micropython-umqtt-simple2") or Requirement("micropython-umqtt.simple2", "2.2.0"))
    except PackageUnavailable as exc:
        pytest.skip(f"umqtt.simple2 cannot be fetched: {exc}")
    world = World(join_delay_s=0.3)
    world.start()
    world.wifi.add_ap("lab", "secret")
    broker = HilBroker()
    address = broker.start()
    prog = MpProgram(tmp_path, UMQTT_PROGRAM.replace("PORT", str(address.port)), world, extra_path=[lib.root])
    try:
        prog.expect("UP first", timeout=20)
        broker.messages.wait_for("vb/state", lambda m: m.payload == b"first", timeout=5)
        world.wifi.set_link(False)
        assert prog.expect("LOST first", timeout=10) == "OSError 103"  # ECONNABORTED
        assert "vboard" in broker.connected_clients(), "the broker saw the dead board leave"
        world.wifi.set_link(True)
        prog.expect("UP after-drop", timeout=20)
        broker.messages.wait_for("vb/state", lambda m: m.payload == b"after-drop", timeout=5)
        world.net.set_blackhole(True)
        assert prog.expect("LOST after-drop", timeout=15) == "ping timeout"
        world.net.set_blackhole(False)
        prog.expect("UP after-blackhole", timeout=20)
        broker.messages.wait_for("vb/state", lambda m: m.payload == b"after-blackhole", timeout=5)
    finally:
        prog.close()
        broker.close()
        world.close()
    assert world.counters["wifi_joins"] == 2
    assert world.counters["tcp_connections"] >= 3
    assert [m.payload for m in broker.messages.matching("vb/state")] == [b"first", b"after-drop",
                                                                          b"after-blackhole"]


BOARD_WORLD = """
[wifi]
join_delay_s = 0.5
[[wifi.ap]]
ssid = "lab"
password = "pw"
"""


@pytest.fixture
def sim_board(tmp_path):
    """`hil sim --world FILE` on a flash that holds a MicroPython image, with its PTY."""
    pytest.importorskip("micropython_run")
    from nodemcu_hil.sim.mpimage import make_image

    image, flash = tmp_path / "fw.bin", tmp_path / "flash.bin"
    make_image(image, "v1.28.0")
    data = image.read_bytes()
    flash.write_bytes(data + b"\xff" * (4 * 1024 * 1024 - len(data)))
    (tmp_path / "world.toml").write_text(BOARD_WORLD)
    proc = subprocess.Popen([str(BIN / "hil"), "sim", "--flash", str(flash), "--pty", str(tmp_path / "tty"),
                             "--state-dir", str(tmp_path / "state"), "--world", str(tmp_path / "world.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    found = re.search(r"pty=(\S+) control=(\S+)", line)
    if not found:
        proc.kill()
        pytest.fail(f"hil sim did not get ready: {line!r}")
    client = WorldClient(found.group(2))
    yield found.group(1), client
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


def mpremote(pty: str, *args: str) -> str:
    out = subprocess.run([str(BIN / "mpremote"), "connect", pty, *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def mpremote_when_up(pty: str, code: str, timeout: float = 20) -> str:
    """mpremote exec once the rebooting chip's REPL answers (the ROM text comes first)."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([str(BIN / "mpremote"), "connect", pty, "exec", code], capture_output=True,
                             text=True, timeout=60)
        if out.returncode == 0:
            return out.stdout
        assert time.monotonic() < deadline, out.stdout + out.stderr


JOIN = """
import network, time, machine
sta = network.WLAN(network.STA_IF)
if not sta.active():
    sta.active(True)
    sta.connect('lab', 'pw')
t0 = time.ticks_ms()
while sta.status() == network.STAT_CONNECTING and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    time.sleep_ms(50)
print('status', sta.status(), machine.reset_cause())
"""


@pytest.mark.slow
def test_world_behind_hil_sim_survives_soft_reset_and_rejoins_after_machine_reset(sim_board):
    pty, client = sim_board
    assert mpremote(pty, "exec", JOIN + "machine.Pin(2, machine.Pin.OUT).off()").split() == ["status", "5", "0"]
    assert [(c["pin"], c["level"], c["source"]) for c in client.history(pin=2)] == [(2, 0, "firmware")]
    assert client.counters()["wifi_joins"] == 1
    # mpremote soft-resets before each command: the association survives, as on the chip
    assert mpremote(pty, "exec", "import network; print(network.WLAN(0).isconnected())").strip() == "True"
    resets = client.state()["reset_count"]
    mpremote(pty, "reset")  # machine.reset(): a full reboot through the ROM
    deadline = time.monotonic() + 15
    while client.state()["reset_count"] == resets:
        assert time.monotonic() < deadline, "machine.reset() did not reboot the chip"
        time.sleep(0.05)
    assert mpremote_when_up(pty, JOIN).split() == ["status", "5", "4"]  # SOFT_RESET, re-joined by the SDK
    assert client.counters()["wifi_joins"] == 2
    assert client.history(pin=2)[-1]["level"] == 1  # after the reset GPIO2 floats up again


def relay_connect(net: NetPath, relay: tuple[str, int], dst: tuple[str, int]) -> socket.socket:
    """What the firmware's socket module does: present the token, then await the status."""
    sock = socket.create_connection(relay, timeout=5)
    sock.sendall(net.admit(dst).encode() + b"\n")
    return sock


def test_relay_status_bytes_latency_and_syn_give_up():
    server = socket.create_server(("127.0.0.1", 0))
    net = NetPath(upstream_giveup_s=0.5)
    relay = net.start()
    try:
        address = server.getsockname()
        ok = relay_connect(net, relay, address)
        assert ok.recv(1) == b"\x00"
        peer, _ = server.accept()
        net.set_latency(200)
        t0 = time.monotonic()
        ok.sendall(b"hi")
        peer.settimeout(5)
        assert peer.recv(2) == b"hi" and time.monotonic() - t0 >= 0.2
        net.set_latency(0)
        server.close()
        refused = relay_connect(net, relay, address)
        assert refused.recv(1) == bytes([errno.ECONNRESET])
        net.set_blackhole(True)
        lost = relay_connect(net, relay, ("127.0.0.1", 9))
        t0 = time.monotonic()
        assert lost.recv(1) == bytes([errno.ECONNABORTED]) and time.monotonic() - t0 >= 0.4
        assert [c["state"] for c in net.connections()] == ["open", "refused", "refused"]
    finally:
        net.close()
        server.close()
