"""Issue 13: the virtual NodeMCU as the tools see a real one on /dev/ttyUSB0 (no lost
output, esptool on the PTY through the auto-reset circuit, the port's streams, soft
reset). One `hil sim` with a PTY, flashed once, driven by the unmodified tools."""

from __future__ import annotations

import os
import select
import time

import pytest
import serial

from tests.test_repl_tools import SimBoard, flashed_sim

pytest.importorskip("micropython_run")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    board = flashed_sim(tmp_path_factory.mktemp("fidelity"))
    yield board
    board.close()


def test_mpremote_exec_delivers_every_byte_of_300_kb(sim):
    """An unpaced board printing faster than the reader reads waits for it (was: 30,180
    of 300,300 bytes, the rest dropped past a 16 KB backlog)."""
    out = sim.tool("mpremote", "connect", sim.pty, "exec",
                   "for i in range(300):\n    print('%03d' % i + 'x' * 996)\n")
    lines = out.replace("\r\n", "\n").splitlines()
    assert len(out.replace("\r\n", "\n")) == 300 * 1000
    assert [line[:3] for line in lines] == ["%03d" % i for i in range(300)]


def _at_friendly_prompt(port, timeout: float = 10) -> None:
    """CTRL-C, CTRL-B, then read until the friendly prompt (the board may be mid-boot)."""
    port.write(b"\x03\x02")
    seen = b""
    deadline = time.monotonic() + timeout
    while not seen.endswith(b">>> ") and time.monotonic() < deadline:
        seen += port.read(4096)
    assert seen.endswith(b">>> "), f"no friendly prompt within {timeout:g} s: {seen[-200:]!r}"


def _paused_reader_gets_every_line(port) -> None:
    _at_friendly_prompt(port)
    port.reset_input_buffer()
    port.write(b"for i in range(100): print('%03d' % i + 'y' * 996)\r\r")
    time.sleep(1.5)  # the terminal reads nothing for a while: the chip waits
    data = b""
    deadline = time.monotonic() + 30
    while b"099" + b"y" * 996 + b"\r\n>>> " not in data and time.monotonic() < deadline:
        data += port.read(65536)
    body = [line for line in data.split(b"\r\n") if line.endswith(b"y" * 996)]
    assert [line[:3] for line in body] == [b"%03d" % i for i in range(100)]


def test_terminal_that_pauses_reading_loses_nothing(sim):
    with serial.Serial(sim.pty, 115200, timeout=0.2) as port:
        _paused_reader_gets_every_line(port)


def test_rfc2217_client_that_pauses_reading_loses_nothing(sim):
    with serial.serial_for_url(sim.url, 115200, timeout=0.2) as port:
        _paused_reader_gets_every_line(port)


def _wait_mode(sim, mode: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while (state := sim.control.state())["mode"] != mode:
        assert time.monotonic() < deadline, f"board stayed {state['mode']!r}, wanted {mode!r}"
        time.sleep(0.05)
    return state


def test_esptool_on_the_pty_resets_into_the_loader_and_boots_the_firmware_after(sim):
    """As on /dev/ttyUSB0 of a NodeMCU: no buttons, esptool's defaults; was: "No serial
    data received" from the running MicroPython."""
    assert sim.control.state()["mode"] == "application"
    resets = sim.control.state()["reset_count"]
    out = sim.tool("esptool", "--port", sim.pty, "flash-id")
    assert "Chip type:          ESP8266EX" in out or "ESP8266EX" in out
    assert "Detected flash size: 4MB" in out
    state = _wait_mode(sim, "application")
    assert state["reset_count"] == resets + 2
    assert [r["mode"] for r in state["resets"][-2:]] == ["download", "flash"]
    sim.wait_for_prompt(resets + 1)
    assert sim.tool("mpremote", "connect", sim.pty, "exec", "print(6*7)").strip() == "42"


def test_esptool_after_no_reset_stays_in_the_loader(sim):
    sim.tool("esptool", "--port", sim.pty, "--after", "no-reset", "chip-id")
    time.sleep(0.6)
    assert sim.control.state()["mode"] == "download"
    resets = sim.control.state()["reset_count"]
    sim.reset()
    sim.wait_for_prompt(resets)


def test_no_auto_reset_board_keeps_the_chip_running(tmp_path):
    board = SimBoard(tmp_path, "--no-auto-reset")
    try:
        board.control.enter_download_mode()
        board.tool("esptool", "--port", board.pty, "--after", "no-reset", "chip-id")
        board.control.reset()
        _wait_mode(board, "halted")  # erased flash: the ROM finds no image
        resets = board.control.state()["reset_count"]
        board.tool("esptool", "--port", board.pty, "--connect-attempts", "1", "chip-id", check=False)
        assert board.control.state()["reset_count"] == resets
        assert board.control.state()["mode"] == "halted"
    finally:
        board.close()


def test_mpremote_mount_imports_reads_and_writes_through_remote(sim, tmp_path):
    """Item 4: a user VFS mounted with os.mount at /remote (was: ImportError from the
    package, then TypeError: write() takes 2 positional arguments)."""
    local = tmp_path / "mnt"
    (local / "pkg").mkdir(parents=True)
    (local / "pkg" / "__init__.py").write_text("NAME = 'pkg'\n")
    (local / "mod13.py").write_text("V = 13\n")
    (local / "data.txt").write_text("héllo\n")
    out = sim.tool("mpremote", "connect", sim.pty, "mount", str(local), "exec",
                   "import os, mod13, pkg\n"
                   "print(os.getcwd(), mod13.V, pkg.NAME, open('data.txt').read().strip())\n"
                   "with open('made.txt', 'w') as f:\n    f.write('from board ' + str(6 * 7))\n"
                   "print(os.stat('made.txt')[6], sorted(os.listdir())[:2])\n")
    lines = [line for line in out.splitlines() if "is mounted at" not in line]
    assert lines == ["/remote 13 pkg héllo", "13 ['data.txt', 'made.txt']"]
    assert (local / "made.txt").read_text() == "from board 42"


def test_output_made_while_the_pty_is_closed_is_not_held_for_its_next_client(sim):
    """A closed /dev/ttyUSB0 drops what the chip sends. Held for the next PTY client, an
    RFC2217 session's output reached it after its input flush (mpremote then read the
    board's raw-paste reply as command output: UnicodeDecodeError on byte 0x80)."""
    with serial.serial_for_url(sim.url, 115200, timeout=0.2) as port:
        _at_friendly_prompt(port)
        port.write(b"for i in range(40): print('stale%03d' % i + 'z' * 500)\r\r")
        seen = b""
        deadline = time.monotonic() + 20
        while b"stale039" not in seen and time.monotonic() < deadline:
            seen += port.read(65536)
        assert b"stale039" in seen
    fd = os.open(sim.pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)  # no input flush on open
    try:
        late = b""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], 0.1)
            if readable:
                late += os.read(fd, 65536)
    finally:
        os.close(fd)
    assert b"stale" not in late
