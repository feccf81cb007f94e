"""Issue 13, item 6: machine, socket and select as the ESP8266 port has them, each as an
upstream test (micropython tests/extmod) found it different, in the real interpreter."""

from __future__ import annotations

import socket as host_socket

from tests.esp8266_harness import run


def values(lines: list[str]) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition("=") for line in lines if "=" in line)}


ERR = """
def err(f):
    try:
        f()
        return 'ok'
    except Exception as e:
        return '%s: %s' % (type(e).__name__, e)
"""


def free_udp_port() -> int:
    with host_socket.socket(host_socket.AF_INET, host_socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mem_objects_as_machine_mem_c(tmp_path):
    """extmod/machine1.py: repr, alignment and type errors; one address space."""
    out = values(run(tmp_path, ERR + """
import machine
print('repr=', repr(machine.mem8), repr(machine.mem16), repr(machine.mem32))
print('align=', err(lambda: machine.mem16[1]))
def store(): machine.mem32[2] = 1
print('store=', err(store))
def delete(): del machine.mem8[0]
print('del=', err(delete))
print('slice=', err(lambda: machine.mem8[0:1]))
print('str=', err(lambda: machine.mem8['hello']))
machine.mem32[0x3FF00050] = 0x11223344
print('bytes=', hex(machine.mem8[0x3FF00050]), hex(machine.mem16[0x3FF00052]))
""", None))
    assert out["repr"] == "<8-bit memory> <16-bit memory> <32-bit memory>"
    assert out["align"] == "ValueError: address 00000001 is not aligned to 2 bytes"
    assert out["store"] == "ValueError: address 00000002 is not aligned to 4 bytes"
    assert out["del"].startswith("TypeError")
    assert out["slice"].startswith("TypeError") and out["str"].startswith("TypeError")
    assert out["bytes"] == "0x44 0x1122"


def test_spi_reports_the_baudrate_it_can_make(tmp_path):
    """ports/esp8266/machine_spi.c: HSPI repr; 80 MHz over prediv x an even cntdiv
    (3 MHz asked: 40 MHz // 3 MHz = 13 = prediv, cntdiv 2, 80 MHz / 26)."""
    out = values(run(tmp_path, ERR + """
from machine import SPI, SoftSPI, Pin
print('hspi=', SPI(1, baudrate=1000000))
print('default=', SPI(1))
print('odd=', SPI(1, baudrate=3000000, polarity=1))
print('bad=', err(lambda: SPI(0)), err(lambda: SPI(1, baudrate=50000000)))
print('soft=', SoftSPI(baudrate=100000, sck=Pin(14), mosi=Pin(13), miso=Pin(12)))
print('nopins=', err(lambda: SoftSPI()))
""", None))
    assert out["hspi"] == "HSPI(id=1, baudrate=1000000, polarity=0, phase=0)"
    assert out["default"] == "HSPI(id=1, baudrate=80000000, polarity=0, phase=0)"
    assert out["odd"] == "HSPI(id=1, baudrate=3076923, polarity=1, phase=0)"
    assert out["bad"] == "ValueError:  ValueError: impossible baudrate"
    assert out["soft"] == "SoftSPI(baudrate=100000, polarity=0, phase=0, firstbit=0, sck=14, mosi=13, miso=12)"
    assert out["nopins"] == "ValueError: must specify all of sck/mosi/miso"


def test_buses_take_the_time_of_the_wire(tmp_path):
    """extmod/machine_uart_tx.py and machine_spi_rate.py: write + flush last as long as
    the bits take at the set rate (was: at once)."""
    out = values(run(tmp_path, """
import time
from machine import UART, SPI
for baud in (2400, 9600):
    u = UART(1, baudrate=baud)
    t = time.ticks_us()
    u.write('Hello World')
    u.flush()
    print('uart%d=' % baud, time.ticks_diff(time.ticks_us(), t) // 1000, u.txdone())
s = SPI(1, baudrate=100000)
t = time.ticks_ms()
s.write(bytes(1000))
print('spi=', time.ticks_diff(time.ticks_ms(), t))
""", None))
    # The wire's time is the floor; the ceiling only tells "paced" from "sent twice over",
    # with room for a loaded CI machine (a timing figure belongs in bench/, not here).
    uart2400, uart9600, spi = int(out["uart2400"].split()[0]), int(out["uart9600"].split()[0]), int(out["spi"])
    assert 44 <= uart2400 < 2 * 44 and out["uart2400"].endswith("True")
    assert 11 <= uart9600 < uart2400
    assert 78 <= spi < 2 * 78


def test_hard_timer_callbacks_run_with_the_heap_locked(tmp_path):
    """extmod/machine_hard_timer.py: allocation in a hard callback raises MemoryError."""
    out = values(run(tmp_path, """
import time
from machine import Timer
seen = []
def cb(t):
    try:
        bytearray(1)
        seen.append('unlocked')
    except MemoryError:
        seen.append('locked')
for hard in (False, True):
    t = Timer(0)
    t.init(mode=Timer.ONE_SHOT, period=20, hard=hard, callback=cb)
    time.sleep_ms(60)
print('seen=', seen)
print('after=', len(bytearray(4)))
""", None))
    assert out["seen"] == "['unlocked', 'locked']"
    assert out["after"] == "4"


def test_sockets_and_ipoll_as_modlwip(tmp_path):
    """extmod/socket_badconstructor.py, socket_udp_nonblock.py (it hung), socket_fileno.py
    (modlwip's socket has no fileno: the upstream test skips on the chip) and
    select_ipoll.py (the one-shot flag)."""
    port = free_udp_port()
    out = values(run(tmp_path, ERR + """
import socket, select, time
print('ctor=', err(lambda: socket.socket(None)), '/', err(lambda: socket.socket(socket.AF_INET, None)),
      '/', err(lambda: socket.socket(socket.AF_INET, 123456)), '/',
      err(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, None)))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(socket.getaddrinfo('127.0.0.1', %d)[0][-1])
print('fileno=', hasattr(socket.socket, 'fileno'))
s.settimeout(0)
t = time.ticks_ms()
print('recv=', err(lambda: s.recv(1)), time.ticks_diff(time.ticks_ms(), t) < 500)
p = select.poll()
p.register(s)
print('ipoll=', [ev for _, ev in p.ipoll(0)], [ev for _, ev in p.ipoll(0, 1)], [ev for _, ev in p.ipoll(0)])
p.register(s)
print('again=', [ev for _, ev in p.ipoll(0)])
""" % port, None))
    assert out["ctor"] == ("TypeError: can't convert NoneType to int / TypeError: can't convert NoneType to int"
                           " / OSError: [Errno 22] EINVAL / TypeError: can't convert NoneType to int")
    assert out["fileno"] == "False"
    assert out["recv"] == "OSError: [Errno 11] EAGAIN True"
    assert out["ipoll"] == "[4] [4] []"
    assert out["again"] == "[4]"


def test_asyncio_sleeps_with_the_heap_locked(tmp_path):
    """extmod/asyncio_heaplock.py: asyncio's wait (select ipoll with nothing registered)
    allocates nothing on the port; here it raised 'heap is locked'."""
    out = values(run(tmp_path, """
import asyncio, micropython, time
async def main():
    t = time.ticks_ms()
    micropython.heap_lock()
    await asyncio.sleep_ms(5)
    await asyncio.sleep_ms(50)
    micropython.heap_unlock()
    print('slept=', time.ticks_diff(time.ticks_ms(), t) >= 55)
asyncio.run(main())
""", None))
    assert out["slept"] == "True"
