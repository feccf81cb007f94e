"""The unmodified tools against a whole virtual board (`hil sim`): esptool flashes the
image, then mpremote, ampy, pyboard.py and a terminal work on the PTY as on a NodeMCU
(protocol doc B §8)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from nodemcu_hil.sim.control import ControlClient
from nodemcu_hil.sim.mpimage import make_image
from nodemcu_hil.sim.runtime.console import ByteConsole

pytest.importorskip("micropython_run")

BIN = Path(sys.executable).parent
READY_RE = re.compile(r"READY (\S+) pty=(\S+) control=(\S+)")
PROMPT = b">>> "
BANNER = b"MicroPython v1.28.0 on 2026-04-06; ESP module with ESP8266\r\n"
TOOL_TIMEOUT = 60
PROMPT_POLL_S = 0.3


class SimBoard:
    """`hil sim` in a subprocess, with its PTY, RFC2217 URL and control client."""

    def __init__(self, tmp: Path, *options: str):
        self.tmp = tmp
        self.link = tmp / "ttyVB0"
        self.proc = subprocess.Popen(
            [str(BIN / "hil"), "sim", "--pty", str(self.link), "--state-dir", str(tmp / "state"),
             "--name", "tools", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        found = READY_RE.search(line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"hil sim did not get ready: {line!r}")
        self.url, self.link_path, control = found.groups()
        # mpremote reads a /dev/pts/N name with blocking reads and polls any other name
        # (like the symlink) with 10 ms sleeps: same bytes, the real name is just faster.
        self.pty = os.path.realpath(self.link_path)
        self.control = ControlClient(control)

    def tool(self, *argv: str, timeout: float = TOOL_TIMEOUT, check: bool = True) -> str:
        result = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                                timeout=timeout, cwd=self.tmp)
        if check and result.returncode:
            raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def esptool(self, *args: str) -> str:
        """esptool on the PTY: no modem lines, so hold FLASH and tap RST first."""
        self.control.enter_download_mode()
        return self.tool("esptool", "--port", self.pty, "--before", "no-reset",
                         "--after", "no-reset", *args)

    def reset(self) -> None:
        self.control.reset()

    def wait_for_prompt(self, since_resets: int, timeout: float = 15) -> None:
        """After a reboot the chip drops what it receives until its REPL runs: wait for
        the reboot to be counted, then for a prompt in answer to CR."""
        deadline = time.monotonic() + timeout
        while self.control.state()["reset_count"] <= since_resets:
            if time.monotonic() > deadline:
                raise AssertionError("the board did not reboot")
            time.sleep(0.05)
        term = Terminal(self.pty)
        try:
            while PROMPT not in term.log.unread():
                if time.monotonic() > deadline:
                    raise AssertionError(f"no prompt after reboot: {term.log.text[-300:]!r}")
                term.send(b"\r")
                term.port.timeout = PROMPT_POLL_S
                term.log.feed(term.port.read(4096))
        finally:
            term.close()

    def close(self) -> None:
        self.control.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Terminal:
    """picocom's view: the PTY, opened raw, every byte logged."""

    def __init__(self, path: str):
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.log = ByteConsole()

    def pump_until(self, pattern: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while pattern not in self.log.unread() and time.monotonic() < deadline:
            self.log.feed(self.port.read(4096))
        return self.log.expect(pattern, timeout=0.01)

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def close(self) -> None:
        self.port.close()


def flashed_sim(tmp) -> SimBoard:
    """A `hil sim` with a PTY, flashed with a MicroPython image by esptool, at its prompt."""
    board = SimBoard(tmp)
    image = make_image(tmp / "ESP8266_GENERIC-20260406-v1.28.0.bin", "v1.28.0")
    board.esptool("write-flash", "--flash-size", "detect", "0", str(image))
    board.image = image
    resets = board.control.state()["reset_count"]
    board.reset()
    board.wait_for_prompt(resets)
    return board


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    board = flashed_sim(tmp_path_factory.mktemp("tools"))
    yield board
    board.close()


def _terminal(sim) -> Terminal:
    term = Terminal(sim.pty)
    term.send(b"\x03\x02")
    term.pump_until(b'Type "help()" for more information.\r\n>>> ')
    return term


def test_terminal_session_shows_banner_runs_print_tab_and_history(sim):
    term = _terminal(sim)
    try:
        sim.reset()
        term.pump_until(BANNER + b'Type "help()" for more information.\r\n>>> ')
        term.send(b"print('hello esp8266!')\r")
        assert term.pump_until(b"\r\nhello esp8266!\r\n>>> ") == b"print('hello esp8266!')\r\nhello esp8266!\r\n>>> "
        term.send(b"import machine\rmachine.unique_\t")
        assert term.pump_until(b"machine.unique_id").endswith(b"machine.unique_id")
        term.send(b"\x03")
        term.pump_until(PROMPT)
        term.send(b"\x1b[A\x1b[A")  # back past 'import machine' to the print
        assert term.pump_until(b"print('hello esp8266!')")
        term.send(b"\r")
        assert term.pump_until(b"hello esp8266!\r\n>>> ")
    finally:
        term.close()


def test_mpremote_ls_cp_exec_run_soft_reset_reset(sim):
    src = sim.tmp / "hello.py"
    src.write_text("print('from file', 6 * 7)\n")
    out = sim.tool("mpremote", "connect", sim.link_path, "fs", "cp", str(src), ":hello.py",
                   "+", "fs", "ls")
    assert "hello.py" in out and "boot.py" in out
    assert sim.tool("mpremote", "connect", sim.pty, "exec", "import hello").strip() == "from file 42"
    assert sim.tool("mpremote", "connect", sim.pty, "run", str(src)).strip() == "from file 42"
    sim.tool("mpremote", "connect", sim.pty, "soft-reset")
    back = sim.tmp / "back.py"
    sim.tool("mpremote", "connect", sim.pty, "fs", "cp", ":hello.py", str(back))
    assert back.read_text() == src.read_text()
    resets = sim.control.state()["reset_count"]
    sim.tool("mpremote", "connect", sim.pty, "reset")
    sim.wait_for_prompt(resets)
    out = sim.tool("mpremote", "connect", sim.pty, "exec",
                   "import machine; print(machine.reset_cause())")
    assert out.strip() == "4"  # machine.SOFT_RESET: mpremote reset is machine.reset()


def test_mpremote_cp_100kb_survives_hard_reset(sim):
    blob = sim.tmp / "blob.bin"
    blob.write_bytes(os.urandom(100 * 1024))
    sim.tool("mpremote", "connect", sim.pty, "fs", "cp", str(blob), ":blob.bin")
    sim.reset()
    back = sim.tmp / "blob_back.bin"
    sim.tool("mpremote", "connect", sim.pty, "fs", "cp", ":blob.bin", str(back))
    assert back.read_bytes() == blob.read_bytes()
    sim.tool("mpremote", "connect", sim.pty, "fs", "rm", ":blob.bin")


def test_ampy_put_get_ls_rm_run(sim):
    src = sim.tmp / "amp.py"
    src.write_text("for i in range(3):\n    print('ampy', i)\n")
    ampy = ("ampy", "--port", sim.pty)
    sim.tool(*ampy, "put", str(src), "amp.py")
    assert "/amp.py" in sim.tool(*ampy, "ls").split()
    sim.tool(*ampy, "get", "amp.py", str(sim.tmp / "amp_back.py"))
    assert (sim.tmp / "amp_back.py").read_text() == src.read_text()
    assert sim.tool(*ampy, "run", str(src)).replace("\r\n", "\n") == "ampy 0\nampy 1\nampy 2\n"
    sim.tool(*ampy, "rm", "amp.py")
    assert "/amp.py" not in sim.tool(*ampy, "ls").split()


def test_pyboard_py_exec(sim):
    from ampy.pyboard import Pyboard

    board = Pyboard(sim.pty)
    try:
        board.enter_raw_repl()
        assert board.exec_("print(sum(range(10)))").strip() == b"45"
        board.exit_raw_repl()
    finally:
        board.close()


def test_ctrl_c_proof_loop_needs_an_rts_hard_reset(sim):
    sim.tool("mpremote", "connect", sim.pty, "exec", "--no-follow",
             "import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n")
    term = Terminal(sim.pty)
    try:
        term.send(b"\x03\x03")
        term.log.feed(term.port.read(4096))
        assert b"KeyboardInterrupt" not in term.log.unread()
        assert sim.control.state()["mode"] == "application"
    finally:
        term.close()
    rfc = serial.serial_for_url(sim.url, baudrate=115200, timeout=0.1, do_not_open=True)
    rfc.dtr = False
    rfc.rts = False
    rfc.open()
    try:
        rfc.rts = True  # esptool's hard_reset: RTS pulls EN low while DTR is released
        rfc.rts = False
        log = ByteConsole()
        deadline = time.monotonic() + 10
        while PROMPT not in log.text and time.monotonic() < deadline:
            log.feed(rfc.read(4096))
        assert BANNER in log.text
    finally:
        rfc.close()
    out = sim.tool("mpremote", "connect", sim.pty, "exec",
                   "import machine; print(machine.reset_cause())")
    assert out.strip() == "6"  # machine.HARD_RESET


def test_erase_flash_wipes_the_filesystem(sim):
    sim.tool("mpremote", "connect", sim.pty, "exec", "open('keep.txt','w').write('x')")
    sim.esptool("erase-flash")
    sim.esptool("write-flash", "--flash-size", "detect", "0", str(sim.image))
    term = Terminal(sim.pty)
    try:
        sim.reset()
        out = term.pump_until(PROMPT)
        assert b"Performing initial setup\r\n" in out
    finally:
        term.close()
    out = sim.tool("mpremote", "connect", sim.pty, "fs", "ls")
    assert "keep.txt" not in out and "boot.py" in out


def test_ampy_cuts_a_blocking_boot_py_short_with_its_ctrl_c(sim):
    blocking = sim.tmp / "blocking_boot.py"
    blocking.write_text("import time\nprint('waiting in boot.py')\nwhile True:\n    time.sleep(0.05)\n")
    ampy = ("ampy", "--port", sim.pty)
    original = sim.tmp / "boot_original.py"
    sim.tool(*ampy, "get", "boot.py", str(original))
    sim.tool(*ampy, "put", str(blocking), "boot.py")
    try:
        assert "/boot.py" in sim.tool(*ampy, "ls").split()
    finally:
        sim.tool(*ampy, "put", str(original), "boot.py")
    assert sim.tool(*ampy, "get", "boot.py").startswith("# This file is executed on every boot")
