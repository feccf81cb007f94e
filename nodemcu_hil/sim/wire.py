"""The electrical side of the serial line: baud-rate mismatch and line-rate pacing.

A UART receiver finds each start bit and samples the following bits at *its own* bit
period. When sender and receiver disagree by more than a few percent the receiver
reads wrong bits, splits or merges characters, and the bytes that come out are
garbage, which is exactly what a tool left at the wrong rate sees on a real board.
`resample` models that bit by bit; `Pacer` makes a stream take as long as it would on a
wire of a given baud rate.
"""

from __future__ import annotations

import threading
import time

BITS_PER_CHAR = 10  # 8N1: start bit, 8 data bits, stop bit
BAUD_TOLERANCE = 0.03  # a UART still samples correctly within about +-3 %
MIN_PACING_SLEEP = 0.002  # below this, sleeping costs more than it models


def rates_match(sender_baud: int, receiver_baud: int) -> bool:
    """True when a receiver at `receiver_baud` decodes a sender at `sender_baud`."""
    if sender_baud <= 0 or receiver_baud <= 0:
        return False
    return abs(sender_baud / receiver_baud - 1.0) <= BAUD_TOLERANCE


def _waveform(data: bytes) -> list[int]:
    """Line levels, one per sender bit time, for back-to-back 8N1 characters."""
    bits: list[int] = []
    for byte in data:
        bits.append(0)
        bits.extend((byte >> i) & 1 for i in range(8))
        bits.append(1)
    return bits


def resample(data: bytes, sender_baud: int, receiver_baud: int) -> bytes:
    """What a receiver at `receiver_baud` reads from `data` sent at `sender_baud`."""
    if not data or rates_match(sender_baud, receiver_baud):
        return bytes(data)
    bits = _waveform(data)
    total = len(bits)
    step = sender_baud / receiver_baud  # one receiver bit, in sender bit times

    def level(t: float) -> int:
        index = int(t)
        return bits[index] if index < total else 1

    out = bytearray()
    search = 0
    while search < total:
        try:
            start = bits.index(0, search)
        except ValueError:
            break
        value = 0
        for bit in range(8):
            value |= level(start + step * (1.5 + bit)) << bit
        out.append(value)
        search = int(start + step * 9.5) + 1
    return bytes(out)


class Pacer:
    """Holds a one-way byte stream to the line rate (10 bit times per byte)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line_free_at = 0.0

    def wait(self, nbytes: int, baud: int) -> None:
        """Block until `nbytes` sent now would have left the wire at `baud`."""
        if nbytes <= 0 or baud <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._line_free_at = max(self._line_free_at, now) + nbytes * BITS_PER_CHAR / baud
            delay = self._line_free_at - now
        if delay >= MIN_PACING_SLEEP:
            time.sleep(delay)
