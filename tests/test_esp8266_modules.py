"""The ESP8266 modules inside the real MicroPython interpreter, against a real World."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.esp8266_harness import MAC, MpProgram, run
from nodemcu_hil.sim.world import World

JOIN_DELAY_S = 0.4


@pytest.fixture
def world():
    w = World(join_delay_s=JOIN_DELAY_S)
    w.start()
    w.wifi.add_ap("lab", "secret")
    yield w
    w.close()


def values(lines: list[str]) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition("=") for line in lines if "=" in line)}


def test_machine_pins_errors_and_identity(tmp_path, world):
    out = values(run(tmp_path, """
import machine
from machine import Pin
def err(f):
    try:
        f()
    except Exception as e:
        return '%s: %s' % (type(e).__name__, e)
print('pin6=', err(lambda: Pin(6)))
print('pin17=', err(lambda: Pin(17)))
print('pull16=', err(lambda: Pin(16, Pin.IN, Pin.PULL_UP)))
print('irq16=', err(lambda: Pin(16).irq(lambda p: 0)))
print('hard=', err(lambda: Pin(4).irq(lambda p: 0, hard=True)))
print('freq=', err(lambda: machine.freq(100000000)))
print('repr=', repr(Pin(2)), Pin(9) is Pin(9))
print('consts=', Pin.IN, Pin.OUT, Pin.OPEN_DRAIN, Pin.PULL_UP, Pin.IRQ_RISING, Pin.IRQ_FALLING)
print('resets=', machine.PWRON_RESET, machine.WDT_RESET, machine.SOFT_RESET, machine.DEEPSLEEP_RESET, machine.HARD_RESET, machine.DEEPSLEEP)
print('uid=', machine.unique_id().hex())
print('cause=', machine.reset_cause())
machine.freq(160000000)
print('f=', machine.freq())
""", world, reset_cause=4))
    assert out["pin6"] == "ValueError: invalid pin"
    assert out["pin17"] == "ValueError: invalid pin"
    assert out["pull16"] == "ValueError: Pin(16) doesn't support pull"
    assert out["irq16"] == "OSError: pin does not have IRQ capabilities"
    assert out["hard"] == "ValueError: hard IRQ not supported"
    assert out["freq"] == "ValueError: frequency can only be either 80Mhz or 160MHz"
    assert out["repr"] == "Pin(2) True"
    assert out["consts"] == "0 1 2 1 1 2"
    assert out["resets"] == "0 1 4 5 6 4"
    assert out["uid"] == bytes((MAC[5], MAC[4], MAC[3], 0)).hex()
    assert out["cause"] == "4"
    assert out["f"] == "160000000"


def test_outputs_land_in_history_and_driven_edges_reach_irq(tmp_path, world):
    prog = MpProgram(tmp_path, """
import time
from machine import Pin
led = Pin(2, Pin.OUT, value=1)
btn = Pin(4, Pin.IN, Pin.PULL_UP)
seen = []
btn.irq(lambda p: seen.append(p.value()), Pin.IRQ_FALLING)
for v in (0, 1, 0):
    led.value(v)
print('READY')
t0 = time.ticks_ms()
while not seen and time.ticks_diff(time.ticks_ms(), t0) < 5000:
    time.sleep_ms(20)
print('SEEN', seen, btn.value())
""", world)
    try:
        prog.expect("READY")
        t_mark = time.monotonic_ns()
        world.gpio.drive(4, 0)
        assert prog.expect("SEEN") == "[0] 0"
    finally:
        prog.close()
    led = [(c.level, c.source) for c in world.gpio.history(pin=2)]
    # GPIO2 idles high (NodeMCU pull-up), so value=1 at Pin() is no change: three edges
    assert led == [(0, "firmware"), (1, "firmware"), (0, "firmware")]
    stamps = [c.t_ns for c in world.gpio.history(pin=2)]
    assert stamps == sorted(stamps) and stamps[-1] < t_mark
    assert [(c.level, c.source) for c in world.gpio.history(pin=4)] == [(1, "firmware"), (0, "test")]


WIFI_PROGRAM = """
import network, time
sta = network.WLAN(network.STA_IF)
ap = network.WLAN(network.AP_IF)
print('fresh=', ap.active(), sta.active(), ap.ifconfig()[:2], ap.config('essid'), sta.status())
sta.active(True)
def join(ssid, key):
    t0 = time.ticks_ms()
    sta.connect(ssid, key)
    first = sta.status()
    while sta.status() == network.STAT_CONNECTING:
        time.sleep_ms(20)
    return '%d %d %d %s' % (first, sta.status(), time.ticks_diff(time.ticks_ms(), t0), sta.isconnected())
print('wrong=', join('lab', 'nope'))
print('absent=', join('elsewhere', 'x'))
print('right=', join('lab', 'secret'))
print('ifconfig=', sta.ifconfig())
print('scan=', [s[0] for s in sta.scan()])
print('mac=', sta.config('mac').hex(), ap.config('mac').hex())
"""


def test_wifi_outcomes(tmp_path, world):
    out = values(run(tmp_path, WIFI_PROGRAM, world))
    assert out["fresh"] == "True False ('192.168.4.1', '255.255.255.0') MicroPython-0a0b0c 0"
    for key, final, connected in (("wrong", 2, "False"), ("absent", 3, "False"), ("right", 5, "True")):
        first, status, ms, isconn = out[key].split()
        assert (int(first), int(status), isconn) == (1, final, connected), key
        assert int(ms) >= JOIN_DELAY_S * 1000 * 0.9, f"{key} finished after only {ms} ms"
    assert out["ifconfig"].startswith("('192.168.0.100', '255.255.255.0'")
    assert out["scan"] == "[b'lab']"
    assert out["mac"].split() == [MAC.hex(), bytes([MAC[0] | 2]).hex() + MAC[1:].hex()]
    assert world.counters["wifi_joins"] == 1


@pytest.fixture
def peer():
    """A host TCP server that records what reaches it and whether its peer closed."""
    server = socket.create_server(("127.0.0.1", 0))
    state = {"conns": [], "data": b"", "eof": False, "eofs": 0}

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            state["conns"].append(conn)
            threading.Thread(target=pump, args=(conn,), daemon=True).start()

    def pump(conn):
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                state["eof"] = True
                state["eofs"] += 1
                conn.close()
                return
            state["data"] += chunk
            conn.sendall(chunk.upper())

    threading.Thread(target=serve, daemon=True).start()
    state["port"] = server.getsockname()[1]
    yield state
    server.close()
    for conn in state["conns"]:
        conn.close()


SOCKET_PROGRAM = """
import network, socket, time
def err(f):
    try:
        return f()
    except OSError as e:
        return 'OSError %d' % e.args[0]
print('nowifi=', err(lambda: socket.socket().connect(('127.0.0.1', PORT))))
print('dns_nowifi=', err(lambda: socket.getaddrinfo('localhost', 80)))
sta = network.WLAN(network.STA_IF); sta.active(True); sta.connect('lab', 'secret')
while not sta.isconnected():
    time.sleep_ms(20)
print('gai=', socket.getaddrinfo('127.0.0.1', PORT))
print('refused=', err(lambda: socket.socket().connect(('127.0.0.1', CLOSED))))
s = socket.socket()
s.connect(socket.getaddrinfo('127.0.0.1', PORT)[0][-1])
s.write(b'ping')
print('echo=', s.read(4))
print('READY')
s.settimeout(0.3)
t0 = time.ticks_ms()
print('held=', err(lambda: s.recv(10)))
print('HOLD_DONE')
s.settimeout(5)
s.write(b'more')
print('late=', s.read(4), time.ticks_diff(time.ticks_ms(), t0))
print('DROP?')
while sta.isconnected():
    time.sleep_ms(20)
print('after_drop=', err(lambda: s.recv(10)), sta.status())
while not sta.isconnected():
    time.sleep_ms(20)
s2 = socket.socket()
s2.connect(('127.0.0.1', PORT))
s2.write(b'back')
print('again=', s2.read(4))
"""


def test_sockets_through_the_network_path(tmp_path, world, peer):
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    source = SOCKET_PROGRAM.replace("CLOSED", str(closed_port)).replace("PORT", str(peer["port"]))
    prog = MpProgram(tmp_path, source, world)
    try:
        assert prog.expect("nowifi=") == "OSError 113"  # EHOSTUNREACH: no route without an address
        assert prog.expect("dns_nowifi=") == "OSError -2"
        assert prog.expect("gai=") == f"[(2, 1, 0, '', ('127.0.0.1', {peer['port']}))]"
        assert prog.expect("refused=") == "OSError 104"  # RST -> ECONNRESET, as lwIP maps it
        assert prog.expect("echo=") == "b'PING'"
        prog.expect("READY")
        world.net.set_blackhole(True)
        assert prog.expect("held=") == "OSError 110"  # the socket timeout, lwIP's ETIMEDOUT
        prog.expect("HOLD_DONE")
        time.sleep(0.3)  # the device model's own time passes while the path stays silent
        assert peer["data"] == b"ping" and not peer["eof"], "blackholed bytes or a FIN reached the peer"
        world.net.set_latency(150)
        world.net.set_blackhole(False)
        late, ms = prog.expect("late=").rsplit(" ", 1)
        assert late == "b'MORE'" and int(ms) >= 300
        prog.expect("DROP?")
        world.net.set_latency(0)
        world.wifi.set_link(False)
        assert prog.expect("after_drop=") == "OSError 103 3"  # ECONNABORTED, STAT_NO_AP_FOUND
        assert not peer["eof"], "the peer saw a FIN or RST from a board whose Wi-Fi vanished"
        world.wifi.set_link(True)  # the SDK re-joins by itself
        assert prog.expect("again=") == "b'BACK'"
    finally:
        prog.close()
    assert world.counters["tcp_connections"] == 2
    assert world.counters["wifi_joins"] == 2


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def test_close_sends_fin_but_a_chip_reset_leaves_the_peer_half_open(tmp_path, world, peer):
    prog = MpProgram(tmp_path, """
import network, socket, time
sta = network.WLAN(network.STA_IF); sta.active(True); sta.connect('lab', 'secret')
while not sta.isconnected():
    time.sleep_ms(20)
a = socket.socket(); a.connect(('127.0.0.1', PORT))
b = socket.socket(); b.connect(('127.0.0.1', PORT))
b.write(b'x'); b.read(1)
a.close()
print('READY')
time.sleep(60)
""".replace("PORT", str(peer["port"])), world)
    try:
        prog.expect("READY")
        wait_until(lambda: peer["eofs"] == 1, 5, "the peer sees the FIN of close()")
    finally:
        prog.close()  # the interpreter dies as with a chip reset
    states = lambda: [c["state"] for c in world.net.connections()]  # noqa: E731
    try:
        wait_until(lambda: states() == ["closed", "frozen"], 5, "the relay notices the dead chip")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {states()}") from None

    assert peer["eofs"] == 1, "the peer saw a FIN from a chip that was reset"


def test_esp_flash_and_os(tmp_path, world):
    out = values(run(tmp_path, """
import esp, os, time
print('id=', hex(esp.flash_id()), esp.flash_size(), hex(esp.flash_user_start()))
esp.flash_erase(1000)
esp.flash_write(1000 * 4096, b'\\x12\\x34\\x56\\x78')
print('read=', esp.flash_read(1000 * 4096, 4).hex())
try:
    esp.flash_write(0, b'abc')
except ValueError as e:
    print('len=', e)
print('fw=', esp.check_fw())
print('uname=', os.uname().sysname, os.uname().machine)
print('epoch=', time.time() < 10 ** 9, len(time.localtime()), time.gmtime(0)[:3])
import usocket, socket, uselect, select, umachine, machine
print('aliases=', usocket is socket, uselect is select, umachine is machine)
""", world))
    assert out["id"] == "0x1640ef 4194304 0x100000"
    assert out["read"] == "12345678"
    assert out["len"] == "len must be multiple of 4"
    assert out["fw"] == "False"  # erased flash holds no firmware
    assert out["uname"] == "esp8266 ESP module with ESP8266"
    assert out["epoch"] == "True 8 (2000, 1, 1)"
    assert out["aliases"] == "True True True"
    data = (tmp_path / "flash.bin").read_bytes()
    assert data[1000 * 4096:1000 * 4096 + 4] == bytes.fromhex("12345678")


def test_timers_run_while_sleeping_and_the_watchdog_reboots(tmp_path, world):
    lines = run(tmp_path, """
import machine, time
ticks = []
t = machine.Timer(-1)
t.init(period=50, mode=machine.Timer.PERIODIC, callback=lambda tm: ticks.append(1))
once = []
machine.Timer(-1).init(period=30, mode=machine.Timer.ONE_SHOT, callback=lambda tm: once.append(1))
def boom(tm):
    raise ValueError('boom')
machine.Timer(-1).init(period=10, mode=machine.Timer.ONE_SHOT, callback=boom)
time.sleep_ms(320)
t.deinit()
print('ticks=', 5 <= len(ticks) <= 7, len(once))
rtc = machine.RTC()
rtc.memory(b'kept')
print('rtc=', rtc.memory(), len(rtc.datetime()))
wdt = machine.WDT(timeout=5000)
wdt.feed()
print('ARMED')
while True:
    time.sleep_ms(100)
""", world, timeout=15)
    out = values(lines)
    assert out["ticks"] == "True 1"
    assert "Uncaught exception in IRQ callback handler" in lines and "ValueError: boom" in lines
    assert out["rtc"] == "b'kept' 8"
    assert lines[-1] == "VBOARD_RESET wdt"  # _vboard.request_reset: the chip reboots, WDT_RESET


@pytest.mark.parametrize("call, kind", [("machine.reset()", "hard"), ("machine.deepsleep(100)", "deepsleep")])
def test_resets_go_through_the_runtime(tmp_path, world, call, kind):
    lines = run(tmp_path, "import machine\n" + call + "\nprint('still running')\n", world)
    assert lines[-1] == f"VBOARD_RESET {kind}"


def test_check_fw_on_a_real_image_layout(tmp_path, world):
    from nodemcu_hil.sim.mpimage import make_image

    make_image(tmp_path / "fw.bin", "v1.28.0")
    image = (tmp_path / "fw.bin").read_bytes()
    flash = image + b"\xff" * (4 * 1024 * 1024 - len(image))
    lines = run(tmp_path / "board", "import esp\nprint('ok=', esp.check_fw())\n", world, flash=flash)
    size = int.from_bytes(image[0x8FFC:0x9000], "little")
    assert lines[0] == f"size: {size}"
    assert lines[1] == "md5: " + image[size:size + 16].hex()
    assert values(lines)["ok"] == "True"


def test_a_soft_reset_closes_the_previous_runs_sockets(tmp_path, world, peer):
    source = """
import network, socket, time
sta = network.WLAN(network.STA_IF); sta.active(True); sta.connect('lab', 'secret')
while not sta.isconnected():
    time.sleep_ms(20)
s = socket.socket(); s.connect(('127.0.0.1', PORT))
print('READY')
time.sleep(60)
""".replace("PORT", str(peer["port"]))
    first = MpProgram(tmp_path / "run1", source, world)
    try:
        first.expect("READY")
        second = MpProgram(tmp_path / "run2", "print('booted')\n", world)  # the next run says hello
        try:
            second.expect("booted")
            wait_until(lambda: peer["eofs"] == 1, 5, "the peer gets the FIN of the soft reset")
        finally:
            second.close()
    finally:
        first.close()
