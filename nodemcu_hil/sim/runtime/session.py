"""Host side of the runtime: the child interpreter on a PTY, bytes in and out.

Output: read from the PTY master, translated (`translate.py`), handed to `output`.
Input: written to the PTY in order by a writer thread, so a firmware that never reads
its UART cannot block the caller. CTRL-C (0x03) becomes a pending KeyboardInterrupt only
while the interpreter has its handler armed (it arms it around each execution unless
`micropython.kbd_intr(-1)`); otherwise 0x03 is plain input, as on the ESP8266. kbd.py
decides with the child held still, and the writer thread follows up a pending one the
child went to sleep with.

Raw-REPL source: the unix port reads it through `mp_hal_stdin_rx_chr`, which turns every
LF into CR (ports/unix/unix_mphal.c), so CR LF would reach the lexer as two newlines; the
ESP8266 reads it as sent and its lexer takes CR LF as one. While the raw REPL waits for
source (from its `>` prompt to the CTRL-D that runs it) CR LF is sent as CR.
"""

from __future__ import annotations

import os
import pty
import queue
import select
import signal
import subprocess
import sys
import threading
import tty
from pathlib import Path
from typing import Callable

from nodemcu_hil.sim.runtime.kbd import INPUT, SCHEDULED, follow_up, interrupt, read_cell
from nodemcu_hil.sim.runtime.layout import KBD_CELL_FILE
from nodemcu_hil.sim.runtime.translate import OutputTranslator

CTRL_C = 0x03
HOLD_FLUSH_S = 0.05  # release a held partial banner match after this much quiet
READ_CHUNK = 4096
FOLLOW_UP_S = 0.02  # how often a scheduled CTRL-C that is still pending is looked at
RAW_PROMPTS = (b"\x04>", b"CTRL-B to exit\r\n>")  # the raw REPL waits for source after these
RAW_SOURCE_END = frozenset(b"\x04\x02\x03")  # run it, leave the raw REPL, cancel


class ChildSession:
    """One interpreter process, from a chip boot to the next reset or power-off."""

    def __init__(self, run_dir: Path, translator: OutputTranslator,
                 output: Callable[[bytes], None],
                 on_exit: Callable[[str | None], None] | None = None):
        self._run_dir = run_dir
        self._translator = translator
        self._output = output
        self._on_exit = on_exit
        self._proc: subprocess.Popen | None = None
        self._master = -1
        self._inbox: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._kbd_cell: tuple[int, int] | None = None
        self._follow_up = False  # a scheduled CTRL-C may still be pending
        self._threads: list[threading.Thread] = []
        self._out_tail = b""
        self._raw_source = False  # the raw REPL is reading source
        self._held_cr = False  # source ended in CR: an LF that follows belongs to it

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        # No HOME: the unix port would keep REPL history in ~/.micropython.history across
        # resets; the ESP8266 starts every boot with an empty history.
        env = {k: v for k, v in os.environ.items() if k != "HOME"}
        root = str(Path(__file__).resolve().parents[3])  # the folder holding nodemcu_hil
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "nodemcu_hil.sim.runtime.child", str(self._run_dir)],
            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(self._run_dir),
            start_new_session=True, close_fds=True,
        )
        os.close(slave)
        self._master = master
        for target, name in ((self._read_loop, "reader"), (self._write_loop, "writer")):
            t = threading.Thread(target=target, name="vboard-runtime-" + name, daemon=True)
            t.start()
            self._threads.append(t)

    def write(self, data: bytes) -> None:
        if data and not self._stopping.is_set():
            if self._raw_source:
                data = self._source_line_ends(bytes(data))
            else:
                self._held_cr = False
            if data:
                self._inbox.put(bytes(data))

    def _source_line_ends(self, data: bytes) -> bytes:
        """CR LF in raw-REPL source becomes CR (the port's reader makes LF a CR)."""
        out = bytearray()
        for i, b in enumerate(data):
            if b == 0x0A and self._held_cr:
                self._held_cr = False
                continue
            self._held_cr = b == 0x0D
            out.append(b)
            if b in RAW_SOURCE_END:
                self._raw_source = self._held_cr = False
                out += data[i + 1:]
                break
        return bytes(out)

    def _watch_prompt(self, out: bytes) -> None:
        tail = (self._out_tail + out)[-32:]
        self._out_tail = tail
        if tail.endswith(RAW_PROMPTS):
            self._raw_source = True

    def stop(self) -> None:
        """Kill the interpreter at once (chip reset or power-off)."""
        self._stopping.set()
        self._inbox.put(None)
        self._kill()
        current = threading.current_thread()
        for t in self._threads:
            if t is not current:
                t.join(timeout=2)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    def _write_loop(self) -> None:
        while True:
            try:
                data = self._inbox.get(timeout=FOLLOW_UP_S if self._follow_up else None)
            except queue.Empty:
                self._follow_up = self._proc is not None and follow_up(self._proc.pid,
                                                                        self._kbd_cell)
                continue
            if data is None or self._stopping.is_set():
                return
            try:
                self._deliver(data)
            except OSError:
                return

    def _deliver(self, data: bytes) -> None:
        start = 0
        for i, b in enumerate(data):
            if b == CTRL_C and self._interrupt():
                self._write_all(data[start:i])
                start = i + 1
        self._write_all(data[start:])

    def _interrupt(self) -> bool:
        """CTRL-C as a KeyboardInterrupt if the interpreter takes one now (kbd.py); False
        when the byte is plain input."""
        proc = self._proc
        if proc is None or not self._translator.started:
            return False
        if self._kbd_cell is None:
            self._kbd_cell = read_cell(self._run_dir / KBD_CELL_FILE)
        outcome = interrupt(proc.pid, self._kbd_cell)
        if outcome == SCHEDULED:
            self._follow_up = True
        return outcome != INPUT

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stopping.is_set():
            _, writable, _ = select.select([], [self._master], [], 0.2)
            if writable:
                n = os.write(self._master, view)
                view = view[n:]

    def _read_loop(self) -> None:
        while not self._stopping.is_set():
            timeout = HOLD_FLUSH_S if self._translator.pending() else 0.5
            try:
                readable, _, _ = select.select([self._master], [], [], timeout)
                data = os.read(self._master, READ_CHUNK) if readable else b""
            except OSError:
                data = None  # EIO: the child closed the PTY (it exited)
            if data is None or (readable and not data):
                break
            out = self._translator.feed(data) if data else self._translator.flush()
            if out:
                self._watch_prompt(out)
                self._output(out)
            if self._translator.reset_requests:
                self._finished(self._translator.reset_requests[0])
                return
        if self._stopping.is_set():
            return
        out = self._translator.flush()
        if out:
            self._output(out)
        self._finished("crash")

    def _finished(self, kind: str) -> None:
        """The CPU stops here: a reset the firmware asked for, or the interpreter died."""
        self._kill()
        if self._on_exit and not self._stopping.is_set():
            self._on_exit(kind)

    def _kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
