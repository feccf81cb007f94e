"""Turn the unix port's terminal output into the bytes an ESP8266 sends on UART0.

On a raw PTY the unix port writes `print` output with bare `\\n`, where the ESP8266's
cooked stdout sends `\\r\\n`; its banner names linux instead of the ESP module. The
MicroPython side escapes `sys.stdout.buffer` writes (see `mp/_vsys.py`) so that raw
binary output survives this translation byte for byte. Traceback lines of the
simulator's own MicroPython modules are dropped: on the chip those are C functions
(or frozen code) and never show up as frames.
"""

from __future__ import annotations

import re

ESCAPE = 0x10  # DLE: the next byte is raw (only `\n` and DLE itself are escaped)
CR, LF = 0x0D, 0x0A
FRAME_START = b'  File "'
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
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        return self._substitute(self._newlines(data), final=False)

    def flush(self) -> bytes:
        """Release bytes held as a possible banner prefix (call after a quiet spell)."""
        out, self._held = self._held, b""
        return out

    def pending(self) -> bool:
        return bool(self._held)

    def _newlines(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            if self._escaped:
                self._escaped = False
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
        keep = _prefix_overlap(buf, self._from) if self._from else 0
        if self._hide is not None:
            frame = buf.rfind(FRAME_START)
            if frame != -1 and b"\n" not in buf[frame:] and len(buf) - frame <= MAX_FRAME_LINE:
                keep = max(keep, len(buf) - frame)
            else:
                keep = max(keep, _prefix_overlap(buf, FRAME_START))
        if keep and not final:
            self._held = buf[-keep:]
            buf = buf[:-keep]
        return buf


def _prefix_overlap(buf: bytes, pattern: bytes) -> int:
    """Length of the longest tail of buf that is a proper prefix of pattern."""
    start = max(0, len(buf) - len(pattern) + 1)
    idx = buf.find(pattern[:1], start)
    while idx != -1:
        if pattern.startswith(buf[idx:]):
            return len(buf) - idx
        idx = buf.find(pattern[:1], idx + 1)
    return 0
