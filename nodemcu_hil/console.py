"""The one owner of a board's serial port: timestamped capture, `expect`, resets.

A reader thread records every line the board prints into the timeline (and a log file),
from the moment of reset, so the boot log is never lost while another tool is handed the
port. esptool and the raw REPL borrow the port through `borrow()`, which pauses the
reader; what the board prints meanwhile stays buffered and is read on return.

The ESP8266 ROM prints its boot message at 74880 baud, then the firmware switches to
115200: `hard_reset()` listens at 74880 until the ROM's last line, then follows the
firmware to 115200, as `hil console` shows it.
"""

from __future__ import annotations

import codecs
import re
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from serial import SerialException

from nodemcu_hil import chip
from nodemcu_hil.errors import BoardNotFound, WaitTimeout
from nodemcu_hil.secrets import redact_remembered
from nodemcu_hil.timeline import SOURCE_CONSOLE, Timeline

ROM_BOOT_BAUD = chip.ROM_BOOT_BAUD
FIRMWARE_BAUD = chip.FIRMWARE_BAUD
RESET_PULSE_S = 0.1
ROM_MESSAGE_TIMEOUT_S = 1.5
READ_SLICE_S = 0.05
PAUSE_TIMEOUT_S = 5.0
# The ROM's last line: the image checksum (flash boot), no image, or download mode.
ROM_MESSAGE_END = re.compile(r"csum 0x[0-9a-f]{2}\r?\n|ets_main\.c.*\n|boot mode:\(1,\d\)\r?\n")


class Console:
    def __init__(self, port, *, board: str, timeline: Timeline, log_path: Path | None = None,
                 on_text: Callable[[str], None] | None = None):
        self.port = port
        self._on_text = on_text
        self.log_path = log_path
        self.board = board
        self.timeline = timeline
        self._text = ""
        self._partial = ""
        self._changed = threading.Condition()
        self._pause_requested = threading.Event()
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self._rom_watch_from: int | None = None  # while set, the reader switches baud at the ROM's end
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        # A read can end inside a UTF-8 sequence: decoded whole, a secret stays maskable.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lending_timeout = port.timeout  # what borrowers (esptool, mpremote) expect
        self.port.timeout = READ_SLICE_S
        self._reader = threading.Thread(target=self._read_forever, name=f"console-{board}", daemon=True)
        self._reader.start()

    # -- capture --------------------------------------------------------------------

    def _read_forever(self) -> None:
        while not self._stopping.is_set():
            if self._pause_requested.is_set():
                self._paused.set()
                self._stopping.wait(READ_SLICE_S)
                continue
            self._paused.clear()
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except (OSError, ValueError, TypeError, AttributeError):
                if self._stopping.is_set():
                    return
                self._stopping.wait(READ_SLICE_S)
                continue
            if data:
                try:
                    self._received(self._decoder.decode(data))
                except Exception as exc:  # the capture must outlive any one bad moment
                    self.timeline.action(self.board, f"console reader error: {exc!r}")

    def _received(self, text: str) -> None:
        if self._on_text:  # a live view (hil console): masked chunk by chunk, best effort
            self._on_text(redact_remembered(text))
        with self._changed:
            self._text += text
            self._changed.notify_all()
        if self._rom_watch_from is not None and ROM_MESSAGE_END.search(self._text, self._rom_watch_from):
            self._follow_firmware()
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._record(line.rstrip("\r"))

    def _record(self, line: str) -> None:
        line = redact_remembered(line)  # the log file is a sink of its own: no secret in it
        self.timeline.add(SOURCE_CONSOLE, self.board, line)
        if self._log:
            self._log.write(f"{datetime.now().isoformat(timespec='milliseconds')} {line}\n")
            self._log.flush()

    def mark(self) -> int:
        """A position in the received text; `expect(..., since=mark)` looks only after it."""
        with self._changed:
            return len(self._text)

    def text(self, since: int = 0) -> str:
        with self._changed:
            return self._text[since:]

    def expect(self, pattern: str | re.Pattern, *, timeout: float, since: int | None = None,
               what: str | None = None) -> re.Match:
        """Wait until the board prints something matching `pattern` (after `since`)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        start = self.mark() if since is None else since
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = regex.search(self._text, start)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = self._text[start:][-200:]
                    raise WaitTimeout(f"console: {what or regex.pattern!r} not seen within {timeout:g} s",
                                      board=self.board, port=getattr(self.port, "port", None),
                                      hint=f"last output: {tail!r}")
                self._changed.wait(remaining)

    # -- handing the port over -------------------------------------------------------

    @contextmanager
    def borrow(self) -> Iterator[object]:
        """Pause the reader and lend the port (to esptool or the raw REPL)."""
        self._pause_requested.set()
        if not self._paused.wait(PAUSE_TIMEOUT_S):
            self._pause_requested.clear()
            raise WaitTimeout("console reader did not pause", board=self.board)
        self.port.timeout = self._lending_timeout
        try:
            yield self.port
        finally:
            if self.port.baudrate != FIRMWARE_BAUD:
                self.port.baudrate = FIRMWARE_BAUD
            self.port.timeout = READ_SLICE_S
            self._pause_requested.clear()

    @contextmanager
    def _link(self) -> Iterator[None]:
        """A failing serial link is a typed error naming the board, not a pyserial trace."""
        try:
            yield
        except (OSError, SerialException) as exc:
            raise BoardNotFound(f"the serial link failed: {exc}", board=self.board,
                                port=getattr(self.port, "port", None),
                                hint="the board was unplugged, lost power, or its server went away") from None

    def write(self, data: bytes) -> None:
        self.timeline.action(self.board, f"console write {data!r}")
        with self._link():
            self.port.write(data)

    # -- resets ------------------------------------------------------------------------

    def hard_reset(self, *, capture_rom_message: bool = True) -> int:
        """Pulse EN through RTS (DTR released, so GPIO0 stays high: the firmware boots).

        Returns the mark of the reset, for `expect(..., since=...)`.
        """
        with self.held_in_reset(capture_rom_message=capture_rom_message) as start:
            self._stopping.wait(RESET_PULSE_S)
        return start

    @contextmanager
    def held_in_reset(self, *, capture_rom_message: bool = True) -> Iterator[int]:
        """Hold EN low (as if the board lost power) until the block ends, then boot.

        With `capture_rom_message` the console listens at 74880 baud and the reader itself
        moves to 115200 the moment the ROM's last line arrives, because the firmware starts
        printing soon after.
        """
        self.timeline.action(self.board, "reset asserted (RTS: EN low)")
        with self._link(), self.borrow() as port:
            port.dtr = False
            start = self.mark()
            if capture_rom_message:
                port.baudrate = ROM_BOOT_BAUD
                self._rom_watch_from = start
            port.rts = True
            try:
                yield start
            finally:
                port.rts = False
                self.timeline.action(self.board, "reset released")
                self._pause_requested.clear()
                if capture_rom_message:
                    self._await_rom_message(start)
                self._pause_requested.set()
                self._paused.wait(PAUSE_TIMEOUT_S)

    @contextmanager
    def watching_boot(self) -> Iterator[int]:
        """A boot the console does not cause (a power switch turns the board on in the block):
        listen at 74880 baud for the ROM's message, then follow the firmware to 115200.

        Modem lines are released first, so the chip boots the firmware when power returns.
        """
        with self._link(), self.borrow() as port:
            port.dtr = False
            port.rts = False
            start = self.mark()
            port.baudrate = ROM_BOOT_BAUD
            self._rom_watch_from = start
            self._pause_requested.clear()
            try:
                yield start
                self._await_rom_message(start)
            finally:
                self._rom_watch_from = None
                self._pause_requested.set()
                self._paused.wait(PAUSE_TIMEOUT_S)

    def detach(self) -> None:
        """The port is about to go away (a USB bridge losing power): pause and close it."""
        self._pause_requested.set()
        self._paused.wait(PAUSE_TIMEOUT_S)
        try:
            self.port.close()
        except (OSError, SerialException):
            pass  # a port that already died closes as well as it can

    def attach(self, port) -> None:
        """Carry on over a newly opened port after `detach()` (the bridge came back)."""
        self._lending_timeout = port.timeout
        port.timeout = READ_SLICE_S
        self.port = port
        self._decoder.reset()
        self._pause_requested.clear()
        self.timeline.action(self.board, f"port {getattr(port, 'port', port)} open again")

    def boot_start(self, reset_mark: int) -> int:
        """Where the firmware's output of the reset at `reset_mark` begins: after the ROM's
        boot message when it was seen, so that nothing printed before the reset counts."""
        with self._changed:
            found = ROM_MESSAGE_END.search(self._text, reset_mark)
        return found.end() if found else reset_mark

    def _await_rom_message(self, start: int) -> None:
        try:
            self.expect(ROM_MESSAGE_END, timeout=ROM_MESSAGE_TIMEOUT_S, since=start, what="ROM boot message")
        except WaitTimeout:
            self.timeline.action(self.board, f"no ROM boot message at {ROM_BOOT_BAUD} baud")
            self._follow_firmware()

    def _follow_firmware(self) -> None:
        """From the ROM's 74880 baud to the firmware's 115200."""
        self._rom_watch_from = None
        self.port.baudrate = FIRMWARE_BAUD

    def close(self) -> None:
        self._stopping.set()
        self._reader.join(PAUSE_TIMEOUT_S)
        if self._partial:
            self._record(self._partial)
            self._partial = ""
        if self._log:
            self._log.close()
            self._log = None
