"""A FLASH_BEGIN … FLASH_DATA … sequence in progress, and the ROM's erase arithmetic.

Two erase disciplines exist:
- The ESP8266 ROM erases up front, in FLASH_BEGIN, and gets the count wrong (esptool
  issue #33): asked for n sectors from sector s it erases n + min(head, n), head being the
  sectors left up to the next 64 KiB boundary. esptool's ESP8266ROM.get_erase_size sends a
  smaller size so that the over-erase lands exactly on what it wants; simulating the bug
  is what makes that compensation come out right (and a naive erase leaves stale bytes).
- The flasher stub erases lazily, sector by sector, just ahead of the bytes it programs,
  over exactly [align_down(offset), align_up(offset + size)).
"""

from __future__ import annotations

import zlib

from .flash import ERASED, SECTOR_SIZE, Flash
from .loader_packets import CommandError, Failure

SECTORS_PER_BLOCK = 16  # 64 KiB erase block


def rom_erase_span(offset: int, erase_size: int) -> tuple[int, int]:
    """(first sector, sector count) that the ESP8266 ROM erases for FLASH_BEGIN."""
    first = offset // SECTOR_SIZE
    wanted = -(-erase_size // SECTOR_SIZE)
    head = SECTORS_PER_BLOCK - first % SECTORS_PER_BLOCK
    return first, wanted + min(head, wanted)


def rom_erase(flash: Flash, offset: int, erase_size: int) -> None:
    """Erase what the ROM erases; sectors past the end of the chip do not exist."""
    first, count = rom_erase_span(offset, erase_size)
    last = min(first + count, flash.size // SECTOR_SIZE)
    for sector in range(first, last):
        flash.erase_sector(sector)


class FlashWrite:
    """Sequential writer: each data block lands right after the previous one."""

    def __init__(self, flash: Flash, offset: int, size: int, *, lazy_erase: bool,
                 compressed: bool = False, truncate: bool = False):
        self._flash = flash
        self.offset = offset
        self.pos = offset
        self.remaining = size
        self._lazy = lazy_erase
        self._truncate = truncate
        self._next_erase = offset - offset % SECTOR_SIZE
        self._erase_end = -(-(offset + size) // SECTOR_SIZE) * SECTOR_SIZE
        self._inflater = zlib.decompressobj() if compressed else None

    @property
    def compressed(self) -> bool:
        return self._inflater is not None

    @property
    def finished(self) -> bool:
        return self.remaining == 0

    def write(self, payload: bytes) -> None:
        """An uncompressed block (the stub drops the FF padding past the announced size)."""
        if self.remaining == 0 and payload:
            raise CommandError(Failure.TOO_MUCH_DATA, "all announced bytes were already written")
        if len(payload) > self.remaining:
            if not self._truncate:
                raise CommandError(Failure.TOO_MUCH_DATA,
                                   f"{len(payload)} bytes with {self.remaining} left")
            payload = payload[:self.remaining]
        self._program(payload)

    def write_compressed(self, payload: bytes) -> None:
        """A piece of one zlib stream; its output continues where the last one stopped."""
        assert self._inflater is not None
        if self._inflater.eof:
            if payload:
                raise CommandError(Failure.TOO_MUCH_DATA, "data after the end of the zlib stream")
            return
        try:
            out = self._inflater.decompress(payload, self.remaining + 1)
        except zlib.error as exc:
            raise CommandError(Failure.INFLATE_ERROR, str(exc)) from exc
        if len(out) > self.remaining or self._inflater.unconsumed_tail:
            raise CommandError(Failure.TOO_MUCH_DATA,
                               f"stream inflates past the announced size at {self.pos:#x}")
        self._program(out)

    def _program(self, data: bytes) -> None:
        inside = max(0, min(len(data), self._flash.size - self.pos))
        if data[inside:].strip(bytes([ERASED])):
            raise CommandError(Failure.FLASH_OP_FAILED,
                               f"data past the end of the {self._flash.size:#x}-byte flash")
        if self._lazy:
            self._erase_through(self.pos + inside)
        self._flash.program(self.pos, data[:inside])
        self.pos += len(data)
        self.remaining -= len(data)

    def _erase_through(self, end: int) -> None:
        limit = min(end, self._erase_end, self._flash.size)
        while self._next_erase < limit:
            self._flash.erase_sector(self._next_erase // SECTOR_SIZE)
            self._next_erase += SECTOR_SIZE
