"""MEM_BEGIN / MEM_DATA / MEM_END: code uploaded to RAM, and whether it is a flasher stub.

The board has no Xtensa CPU, so uploaded code never runs. What matters is recognising
"a flasher stub was loaded and started": every esptool flasher stub (legacy and v2, all
versions) carries its `OHAI` greeting in what it uploads, and is started by a MEM_END
with the execute flag. Sizes and load addresses change between esptool releases, so they
are deliberately not looked at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .loader_packets import CommandError, Failure, split_data_block, unpack_words

STUB_GREETING = b"OHAI"
MEM_END_EXECUTE = 0  # flag word of MEM_END: 0 = jump to the entry point
MEM_END_SIZE = 8  # flag, entry


@dataclass
class Segment:
    address: int
    size: int
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class RamProgram:
    """What MEM_END asked to run."""

    entry: int
    segments: tuple[Segment, ...]

    @property
    def is_flasher_stub(self) -> bool:
        return any(STUB_GREETING in seg.data for seg in self.segments)

    def describe(self) -> str:
        parts = ", ".join(f"{len(s.data)} bytes at {s.address:#010x}" for s in self.segments)
        return f"{parts or 'nothing'}, entry {self.entry:#010x}"


class RamUpload:
    def __init__(self) -> None:
        self._segments: list[Segment] = []
        self._current: Segment | None = None

    def clear(self) -> None:
        self._segments.clear()
        self._current = None

    def begin(self, data: bytes) -> None:
        size, _blocks, _block_size, address = unpack_words(data, 4)
        self._current = Segment(address, size)
        self._segments.append(self._current)

    def add(self, data: bytes, chk: int) -> None:
        if self._current is None:
            raise CommandError(Failure.NOT_IN_FLASH_MODE, "MEM_DATA before MEM_BEGIN")
        _seq, payload = split_data_block(data, Failure.NOT_ENOUGH_DATA,
                                         Failure.TOO_MUCH_DATA, chk)
        seg = self._current
        if len(seg.data) + len(payload) > seg.size:
            raise CommandError(Failure.TOO_MUCH_DATA,
                               f"segment at {seg.address:#x} announced {seg.size} bytes")
        seg.data.extend(payload)

    def finish(self, data: bytes) -> RamProgram | None:
        """The program to start, or None when MEM_END only closes the upload."""
        if len(data) != MEM_END_SIZE:
            raise CommandError(Failure.BAD_LENGTH, f"MEM_END with {len(data)} data bytes")
        if self._current is None:
            raise CommandError(Failure.NOT_IN_FLASH_MODE, "MEM_END before MEM_BEGIN")
        flag, entry = struct.unpack("<II", data)
        program = RamProgram(entry, tuple(self._segments))
        self.clear()
        return program if flag == MEM_END_EXECUTE else None
