"""Turn the unix port's terminal output into the bytes an ESP8266 sends on UART0.

On a raw PTY the unix port writes `print` output with bare `\\n`, where the ESP8266's
cooked stdout sends `\\r\\n`; its banner names linux instead of the ESP module. The
MicroPython side escapes `sys.stdout.buffer` writes (see `mp/_vsys.py`) so that raw
binary output survives this translation byte for byte; an unescaped DLE 'R' <letter>
is a reset request (layout.RESET_MARK), taken out of the stream. Traceback lines of the
simulator's own MicroPython modules are dropped: on the chip those are C functions
(or frozen code) and never show up as frames.
"""

from __future__ import annotations

import re

from nodemcu_hil.sim.runtime.layout import RESET_BY_LETTER, RESET_MARK, START_MARK

ESCAPE = 0x10  # DLE: the next byte is raw (only `\n` and DLE itself are escaped)
CR, LF = 0x0D, 0x0A
FRAME_START = b'  File "'
_LONE_LF = re.compile(rb"(?<!\r)\n")
MAX_FRAME_LINE = 512  # a frame line longer than this is not held back any more


class OutputTranslator:
    """Stateful byte translator; feed() chunks, flush() what a partial match held back."""

    def __init__(self, banner_from: bytes, banner_to: bytes, hide_dirs: tuple[str, ...] = ()):
        self._from = banner_from
        self._to = banner_to
        self._hide = None
        if hide_dirs:
            dirs = b"|".join(re.escape(d.rstrip("/").encode() + b"/") for d in hide_dirs)
            self._hide = re.compile(rb'  File "(?:' + dirs + rb')[^"\r\n]*", line \d+, in [^\r\n]*\r\n')
        self._prev = 0
        self._escaped = False
        self._marked = False
        self.reset_requests: list[str] = []
        self.started = False  # the child's START_MARK went by
        self._held = b""
        self._line_start = True

    def feed(self, data: bytes) -> bytes:
        return self._substitute(self._newlines(data), final=False)

    def flush(self) -> bytes:
        """Release bytes held as a possible banner prefix (call after a quiet spell)."""
        out, self._held = self._held, b""
        return out

    def pending(self) -> bool:
        return bool(self._held)

    def _newlines(self, data: bytes) -> bytes:
        if not data:
            return data
        if not self._escaped and not self._marked and ESCAPE not in data:
            out = _LONE_LF.sub(b"\r\n", data)
            if data[0] == LF and self._prev == CR:
                out = out[1:]  # the CR came at the end of the previous chunk
            self._prev = data[-1]
            return out
        out = bytearray()
        for b in data:
            if self._marked:
                self._marked = False
                self.reset_requests.append(RESET_BY_LETTER.get(b, "crash"))
                continue
            if self._escaped:
                self._escaped = False
                if b == RESET_MARK[1]:
                    self._marked = True
                    continue
                if b == START_MARK[1]:
                    self.started = True
                    continue
                if b not in (LF, ESCAPE):
                    out.append(ESCAPE)
                    self._plain(b, out)
                else:
                    out.append(b)
                    self._prev = b
                continue
            if b == ESCAPE:
                self._escaped = True
                continue
            self._plain(b, out)
        return bytes(out)

    def _plain(self, b: int, out: bytearray) -> None:
        if b == LF and self._prev != CR:
            out.append(CR)
        out.append(b)
        self._prev = b

    def _substitute(self, data: bytes, final: bool) -> bytes:
        buf = self._held + data
        self._held = b""
        if self._from:
            buf = buf.replace(self._from, self._to)
        if self._hide is not None:
            buf = self._hide.sub(b"", buf)
        keep = 0 if final else self._partial_line(buf)
        if keep:
            self._held = buf[-keep:]
            buf = buf[:-keep]
        if buf:
            self._line_start = buf.endswith(b"\n")
        return buf

    def _partial_line(self, buf: bytes) -> int:
        """Length of an unfinished last line that may still become a banner or a hidden
        frame (both begin a line); only those are held back, so prompts flow at once."""
        nl = buf.rfind(b"\n")
        if nl == -1 and not self._line_start:
            return 0
        tail = buf[nl + 1:]
        if not tail or len(tail) > MAX_FRAME_LINE:
            return 0
        for pattern in (self._from, FRAME_START if self._hide is not None else b""):
            if pattern and (pattern.startswith(tail) or tail.startswith(pattern)):
                return len(tail)
        return 0
