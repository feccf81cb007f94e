"""The virtual board's runtime: `hil sim` start to first prompt, soft reset to prompt,
`mpremote cp` of 100 KB; each beside the same operation on the bare unix MicroPython (on
a PTY behind a relay, as a tool sees a serial port) where one exists. Virtual boards only;
reported, no targets (the former bench/bench_runtime.py).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import serial

from bench.model import Context, Result, median
from nodemcu_hil.sim.mpimage import build_image

NAME = "runtime"
SUMMARY = "virtual board: start and soft reset to prompt, mpremote cp 100 KB, beside the bare unix port"
IN_QUICK = False

BIN = Path(sys.executable).parent
PROMPT = b">>> "
READY_RE = re.compile(r"READY (\S+) pty=(\S+) control=(\S+)")
FLASH_SIZE = 4 * 1024 * 1024
POKE_S = 0.02
DEADLINE_S = 30
BLOB = 100 * 1024


def _wait_prompt(port: serial.Serial, poke: bool = True) -> None:
    """Poke CR until a prompt answers (a prompt printed before the port opened is lost)."""
    seen = b""
    deadline = time.monotonic() + DEADLINE_S
    while PROMPT not in seen:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no prompt: {seen[-200:]!r}")
        if poke:
            port.write(b"\r")
        seen += port.read(4096)


class Relay:
    """The bare interpreter on one PTY, a second PTY for the tool, bytes copied between."""

    def __init__(self, argv: list[str], cwd: str):
        self.chip_master, chip_slave = os.openpty()
        tty.setraw(chip_slave)
        self.tool_master, tool_slave = os.openpty()
        tty.setraw(tool_slave)
        self.path = os.ttyname(tool_slave)
        self._tool_slave = tool_slave
        self.proc = subprocess.Popen(argv, stdin=chip_slave, stdout=chip_slave, stderr=chip_slave,
                                     cwd=cwd, start_new_session=True)
        os.close(chip_slave)
        self._stop = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        pairs = {self.chip_master: self.tool_master, self.tool_master: self.chip_master}
        while not self._stop:
            ready, _, _ = select.select(list(pairs), [], [], 0.2)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    return
                os.write(pairs[fd], data)

    def close(self) -> None:
        self._stop = True
        self.proc.kill()
        self.proc.wait()
        self._thread.join()
        for fd in (self.chip_master, self.tool_master, self._tool_slave):
            os.close(fd)


class Sim:
    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        flash = workdir / "flash.bin"
        if not flash.exists():
            image = build_image()
            flash.write_bytes(image + b"\xff" * (FLASH_SIZE - len(image)))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BIN / "hil"), "sim", "--pty", str(workdir / "tty"), "--flash", str(flash),
             "--state-dir", str(workdir / "state")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = READY_RE.search(self.proc.stdout.readline())
        if not found:
            self.close()
            raise RuntimeError("hil sim did not start")
        self.path = found.group(2)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def time_to_prompt_sim(workdir: Path) -> float:
    sim = Sim(workdir)
    try:
        with serial.Serial(sim.path, 115200, timeout=POKE_S) as port:
            _wait_prompt(port)
        return time.monotonic() - sim.started
    finally:
        sim.close()


def time_to_prompt_bare(workdir: Path) -> float:
    started = time.monotonic()
    relay = Relay([str(BIN / "micropython")], str(workdir))
    try:
        with serial.Serial(relay.path, 115200, timeout=POKE_S) as port:
            _wait_prompt(port)
        return time.monotonic() - started
    finally:
        relay.close()


def soft_reset_sim(workdir: Path, repeat: int) -> list[float]:
    sim = Sim(workdir)
    times = []
    try:
        with serial.Serial(sim.path, 115200, timeout=POKE_S) as port:
            _wait_prompt(port)
            for _ in range(repeat):
                port.reset_input_buffer()
                started = time.monotonic()
                port.write(b"\x04")
                seen = b""
                while b"soft reboot" not in seen or not seen.endswith(PROMPT):
                    seen += port.read(4096)
                    if time.monotonic() - started > DEADLINE_S:
                        raise RuntimeError(f"no soft reboot: {seen[-200:]!r}")
                times.append(time.monotonic() - started)
    finally:
        sim.close()
    return times


def _port_name(path: str, via_link: bool, workdir: Path) -> str:
    """mpremote reads /dev/pts/N with blocking reads; any other name (a symlink, like
    /dev/ttyUSB0) it polls with 10 ms sleeps. Measure both, sim and bare alike."""
    real = os.path.realpath(path)
    if not via_link:
        return real
    link = workdir / "ttyLINK"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(real)
    return str(link)


def cp_sim(workdir: Path, blob: Path, repeat: int, via_link: bool) -> list[float]:
    return _cp_through(Sim(workdir), workdir, blob, repeat, via_link)


def cp_bare(workdir: Path, blob: Path, repeat: int, via_link: bool) -> list[float]:
    root = workdir / "bare_root"
    root.mkdir(exist_ok=True)
    return _cp_through(Relay([str(BIN / "micropython")], str(root)), workdir, blob, repeat, via_link)


def _cp_through(endpoint, workdir: Path, blob: Path, repeat: int, via_link: bool) -> list[float]:
    """mpremote cp timings through `endpoint` (its `.path` is a PTY), closed afterwards."""
    try:
        with serial.Serial(endpoint.path, 115200, timeout=POKE_S) as port:
            _wait_prompt(port)
        name = _port_name(endpoint.path, via_link, workdir)
        return [_mpremote_cp(name, blob) for _ in range(repeat)]
    finally:
        endpoint.close()


def _mpremote_cp(path: str, blob: Path) -> float:
    started = time.monotonic()
    subprocess.run([str(BIN / "mpremote"), "connect", path, "resume", "fs", "cp", "--force", str(blob),
                    ":blob.bin"], check=True, capture_output=True, timeout=300)
    return time.monotonic() - started


def _figure(result: Result, name: str, sim: list[float], bare: list[float] | None, note: str = "") -> None:
    if bare:
        result.ratio(f"{name}: sim / bare unix port", median(sim), median(bare), "", note)
    else:
        result.add(f"{name}: sim", median(sim), "s", "", note or "no bare counterpart")


def run(ctx: Context) -> Result:
    result = Result(NAME)
    if ctx.target.kind == "hardware":
        result.notes.append("virtual boards only: these figures are the simulator's")
        return result
    repeat = ctx.repeat(3, 1)
    work = ctx.work_dir
    blob = work / "blob.bin"
    blob.write_bytes(os.urandom(BLOB))
    time_to_prompt_sim(work / "boot")  # first boot creates the filesystem
    boot_sim = [time_to_prompt_sim(work / "boot") for _ in range(repeat)]
    boot_bare = [time_to_prompt_bare(work) for _ in range(repeat)]
    _figure(result, "hil sim start -> first prompt", boot_sim, boot_bare, "bare: process start")
    _figure(result, "soft reset (CTRL-D) -> prompt", soft_reset_sim(work / "soft", repeat), None,
            "the unix port exits on CTRL-D")
    _figure(result, "mpremote cp 100 KB (/dev/pts/N)", cp_sim(work / "cp", blob, repeat, False),
            cp_bare(work, blob, repeat, False))
    _figure(result, "mpremote cp 100 KB (symlink)", cp_sim(work / "cp", blob, repeat, True),
            cp_bare(work, blob, repeat, True), "mpremote polls, 10 ms sleeps")
    return result
