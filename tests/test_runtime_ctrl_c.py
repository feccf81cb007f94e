"""CTRL-C never kills or wedges the board's interpreter (issue 13).

The unix build raises KeyboardInterrupt from inside its SIGINT handler, wherever the C code
is: one signal inside a garbage collection left the heap locked for the rest of the boot
(MemoryError "heap is locked", then FATAL at the REPL). A real ESP8266 only sets the
pending interrupt, and its VM raises it at the next check. Bursts of CTRL-C while boot.py
runs a long computation in C (where the VM checks nothing) used to kill or wedge the
interpreter: the host then rebooted the chip through the ROM.
"""

from __future__ import annotations

import time

import pytest

from nodemcu_hil.sim.runtime.console import boot_runtime

pytest.importorskip("micropython_run")

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY = b'Type "help()" for more information.\r\n>>> '
# Each str() of a 17,000-digit number is some 0.2 s inside C, with no check for a pending
# exception: a CTRL-C that arrives then stays pending until it ends.
SLOW_BOOT = b"for i in range(8):\n    s = str(7 ** 20000)\n"
BURST_S = 1.5
BURST_GAP_S = 0.06  # an earlier guard spaced SIGINTs 50 ms apart: slower bursts got through


@pytest.fixture
def board(tmp_path):
    resets: list[str] = []
    runtime, console = boot_runtime(tmp_path, on_reset=resets.append)
    console.expect(FRIENDLY, 30)
    yield runtime, console, resets
    runtime.stop()


def raw_exec(runtime, console, source: bytes) -> bytes:
    runtime.receive(b"\r\x03\x03\x01")
    console.expect(RAW_PROMPT)
    runtime.receive(source + b"\x04")
    console.expect(b"OK")
    out = console.expect(b"\x04")[:-1]
    console.expect(b"\x04>")
    return out


def burst(runtime, seconds: float, gap: float, chunk: bytes) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runtime.receive(chunk)
        time.sleep(gap)


@pytest.mark.parametrize("gap, chunk", [(BURST_GAP_S, b"\x03"), (0.01, b"\x03" * 8)],
                         ids=["spaced", "bunched"])
def test_ctrl_c_bursts_during_soft_reset_leave_the_interpreter_alive(board, gap, chunk):
    runtime, console, resets = board
    pid = runtime.pid
    raw_exec(runtime, console, b"with open('boot.py', 'w') as f:\n    f.write(%r)\n" % SLOW_BOOT)
    for _ in range(2):
        runtime.receive(b"\x04")  # soft reset from the raw REPL: boot.py runs again
        console.expect(b"soft reboot\r\n")
        burst(runtime, BURST_S, gap, chunk)
        out = raw_exec(runtime, console, b"print('alive')")
        assert out == b"alive\r\n"
    assert resets == [] and runtime.pid == pid, console.text[-600:]
    assert b"KeyboardInterrupt" in console.text  # the CTRL-Cs did interrupt boot.py


def start_exec(runtime, console, source: bytes) -> None:
    """Run `source` in the raw REPL without waiting for it to end."""
    runtime.receive(b"\r\x03\x03\x01")
    console.expect(RAW_PROMPT)
    runtime.receive(source + b"\x04")
    console.expect(b"OK")


def test_ctrl_c_wakes_a_sleeping_program(board):
    runtime, console, _ = board
    start_exec(runtime, console, b"import time\nprint('asleep')\ntime.sleep(60)\n")
    console.expect(b"asleep\r\n")
    runtime.receive(b"\x03")
    assert b"KeyboardInterrupt" in console.expect(b"\x04>")


def test_ctrl_c_during_c_code_still_wakes_the_wait_that_follows(board):
    """Pending during the conversions (the VM checks only at branches: there are none
    here), then the program calls straight into a read of the UART: the chip's receive
    loop raises it, and so must the board (the port's read does not look first)."""
    runtime, console, _ = board
    start_exec(runtime, console,
               b"import sys\nprint('busy')\n" + b"s = str(7 ** 20000)\n" * 4
               + b"sys.stdin.read(1)\n")
    console.expect(b"busy\r\n")
    runtime.receive(b"\x03")
    assert b"KeyboardInterrupt" in console.expect(b"\x04>", timeout=20)
