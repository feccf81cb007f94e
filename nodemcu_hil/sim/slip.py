"""SLIP framing (RFC 1055 as esptool and the ESP8266 ROM use it).

Every frame is delimited by END (0xC0); END and ESC inside a frame are escaped. The
decoder treats every END as a frame boundary, so a frame lost to line noise costs only
itself: the next END starts the next frame, and back-to-back ENDs are not frames.
"""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_ESCAPES = {END: bytes([ESC, ESC_END]), ESC: bytes([ESC, ESC_ESC])}
_UNESCAPES = {ESC_END: END, ESC_ESC: ESC}


def encode(payload: bytes) -> bytes:
    """One complete frame, both delimiters included."""
    body = payload.replace(bytes([ESC]), _ESCAPES[ESC]).replace(bytes([END]), _ESCAPES[END])
    return bytes([END]) + body + bytes([END])


class SlipDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames back.

    Bytes before the first END are line garbage and are dropped. A bad escape
    (ESC followed by anything but ESC_END/ESC_ESC) spoils only the frame it is in.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self._escaped = False
        self._spoiled = False
        self.garbage_bytes = 0  # count of bytes dropped outside frames or in bad frames

    def reset(self) -> None:
        """Forget any partial frame (the next END starts afresh)."""
        self._buf.clear()
        self._in_frame = False
        self._escaped = False
        self._spoiled = False

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for byte in data:
            if byte == END:
                if self._in_frame and self._buf and not self._spoiled:
                    frames.append(bytes(self._buf))
                elif self._spoiled:
                    self.garbage_bytes += len(self._buf)
                self._buf.clear()
                self._in_frame = True
                self._escaped = False
                self._spoiled = False
            elif not self._in_frame:
                self.garbage_bytes += 1
            elif self._escaped:
                self._escaped = False
                if byte in _UNESCAPES:
                    self._buf.append(_UNESCAPES[byte])
                else:
                    self._spoiled = True
                    self._buf.append(byte)
            elif byte == ESC:
                self._escaped = True
            else:
                self._buf.append(byte)
        return frames
