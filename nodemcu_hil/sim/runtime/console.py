"""A byte log with `expect()`, for driving a Runtime in-process (tests, bench).

The runtime's output callback appends; `expect(pattern)` waits (with a deadline) until
the pattern appears after the read mark and moves the mark past it.
"""

from __future__ import annotations

import threading
import time


class ExpectTimeout(AssertionError):
    """The pattern did not arrive in time; the message shows what did."""


class ByteConsole:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._mark = 0
        self._cond = threading.Condition()

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._buf += data
            self._cond.notify_all()

    @property
    def text(self) -> bytes:
        """Everything received so far."""
        with self._cond:
            return bytes(self._buf)

    def unread(self) -> bytes:
        with self._cond:
            return bytes(self._buf[self._mark:])

    def expect(self, pattern: bytes, timeout: float = 10.0) -> bytes:
        """Wait for `pattern`; return the bytes up to and including it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                idx = self._buf.find(pattern, self._mark)
                if idx != -1:
                    end = idx + len(pattern)
                    out = bytes(self._buf[self._mark:end])
                    self._mark = end
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ExpectTimeout(
                        f"waited {timeout:.1f} s for {pattern!r}; "
                        f"got {bytes(self._buf[self._mark:])[-600:]!r}")
                self._cond.wait(left)

    def quiet_for(self, seconds: float, timeout: float = 10.0) -> bytes:
        """Wait until nothing new arrives for `seconds`; return the unread bytes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = len(self._buf)
            while time.monotonic() < deadline:
                self._cond.wait(seconds)
                if len(self._buf) == seen:
                    break
                seen = len(self._buf)
            out = bytes(self._buf[self._mark:])
            self._mark = len(self._buf)
            return out


FLASH_4M = 4 * 1024 * 1024


def blank_flash(path, size: int = FLASH_4M) -> str:
    """An erased flash file (all 0xFF), as after `esptool erase-flash`."""
    with open(path, "wb") as f:
        f.write(b"\xff" * size)
    return str(path)


def boot_runtime(directory, flash_path=None, on_reset=None, **params):
    """Start a Runtime over a flash file in `directory`; returns (runtime, console)."""
    from pathlib import Path

    from nodemcu_hil.sim.runtime import BootParams, Runtime

    directory = Path(directory)
    if flash_path is None:
        flash_path = directory / "flash.bin"
        if not flash_path.exists():
            blank_flash(flash_path)
    size = Path(flash_path).stat().st_size
    console = ByteConsole()
    boot = BootParams(flash_path=str(flash_path), flash_size=size, **params)
    runtime = Runtime(boot, directory / "run", console.feed, on_reset)
    return runtime.start(), console
