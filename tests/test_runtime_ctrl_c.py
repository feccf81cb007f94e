"""CTRL-C never kills the board's interpreter (issue 13).

The unix port turns SIGINT into a pending KeyboardInterrupt and calls exit(1) when a
second SIGINT arrives before the first was handled (ports/unix/unix_mphal.c sighandler);
with the handler disarmed SIGINT has its default action. A real ESP8266 only ever sets
the pending interrupt again, or queues the byte as input. Bursts of CTRL-C while boot.py
runs a long computation in C (where the VM checks for no pending exception) used to kill
the interpreter: the host then rebooted the chip through the ROM.
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
BURST_GAP_S = 0.06  # the old guard spaced SIGINTs 50 ms apart: slower bursts got through


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
