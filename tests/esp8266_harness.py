"""Run a MicroPython program with the virtual board's ESP8266 modules against a World.

The program runs in the real unix-port interpreter (`.venv/bin/micropython`) with
nodemcu_hil/sim/esp8266/ first on its path and a `_vboard` module like the one the runtime
generates at each boot, so the modules see exactly what they see on the virtual board.
Its stdout is read line by line with deadlines.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from nodemcu_hil.sim.world import World

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = Path(sys.executable).parent / "micropython"
ESP_DIR = ROOT / "nodemcu_hil" / "sim" / "esp8266"
MAC = bytes.fromhex("5ccf7f0a0b0c")
FLASH_SIZE = 4 * 1024 * 1024

VBOARD = """\
MAC = {mac!r}
FLASH_SIZE = {size}
FLASH_PATH = {flash!r}
FS_START = 0
RESET_CAUSE = {cause}
VERSION = 'v1.28.0'
BUILD_DATE = '2026-04-06'
WORLD = {world!r}
_f = open(FLASH_PATH, 'r+b')
def flash():
    return _f
def request_reset(kind):
    print('VBOARD_RESET', kind)
    raise SystemExit
"""


# What the runtime's _vboot does at each boot before user code: load every ESP8266 module.
PREIMPORT = "for _n in {names!r}:\n    __import__(_n)\ndel _n\n"


def esp_modules() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in ESP_DIR.glob("*.py")))


class MpProgram:
    def __init__(self, tmp: Path, source: str, world: World | None, extra_path: list[Path] = (),
                 reset_cause: int = 0, flash: bytes | None = None):
        tmp.mkdir(parents=True, exist_ok=True)
        flash_path = tmp / "flash.bin"
        if not flash_path.exists():
            flash_path.write_bytes(flash if flash is not None else b"\xff" * FLASH_SIZE)
        (tmp / "_vboard.py").write_text(VBOARD.format(
            mac=MAC, size=FLASH_SIZE, flash=str(flash_path), cause=reset_cause,
            world=world.endpoint if world else None))
        (tmp / "prog.py").write_text(PREIMPORT.format(names=esp_modules()) + source)
        path = [str(ESP_DIR), str(tmp)] + [str(p) for p in extra_path] + [".frozen"]
        env = dict(os.environ, MICROPYPATH=os.pathsep.join(path))
        self.proc = subprocess.Popen([str(MICROPYTHON), str(tmp / "prog.py")], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=tmp)
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self._q.put(raw.decode(errors="replace").rstrip("\r\n"))
        self._q.put(None)

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        """The next line starting with `prefix` (earlier lines are kept in .lines)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._q.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(f"no line {prefix!r} within {timeout} s; got {self.lines[-20:]}") from None
            if line is None:
                raise AssertionError(f"program ended before {prefix!r}; output {self.lines[-30:]}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def output(self, timeout: float = 20.0) -> list[str]:
        """Everything until the program ends."""
        self.proc.wait(timeout=timeout)
        while True:
            line = self._q.get(timeout=5)
            if line is None:
                return self.lines
            self.lines.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


def run(tmp: Path, source: str, world: World | None, timeout: float = 20.0, **kw) -> list[str]:
    prog = MpProgram(tmp, source, world, **kw)
    try:
        return prog.output(timeout)
    finally:
        prog.close()
