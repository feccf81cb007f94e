"""ESP8266 application image, version 1 (what the ROM boots from flash offset 0).

Layout (esptool bin_image.py, ESP8266ROMFirmwareImage): an 8-byte header
`E9, segment count, flash mode, size|freq, entry (u32 LE)`, then per segment
`load address (u32), length (u32), data`; zero padding so that the one-byte checksum is
the last byte of a 16-byte block; checksum = 0xEF XOR every segment data byte.
MicroPython recognition lives in the runtime's own module; this one only knows what the
ROM knows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from nodemcu_hil import chip

IMAGE_MAGIC_V1 = chip.IMAGE_MAGIC
HEADER = struct.Struct("<BBBBI")
SEGMENT_HEADER = struct.Struct("<II")
MAX_SEGMENTS = 16
MAX_SEGMENT_LENGTH = 0x100000  # nothing the ROM loads into RAM is larger than its RAM
CHECKSUM_SEED = 0xEF
CHECKSUM_ALIGN = 16


class ImageError(ValueError):
    """Flash does not hold a bootable V1 image; the message says why."""


@dataclass(frozen=True)
class Segment:
    address: int
    length: int
    offset: int  # where the data starts in flash


@dataclass(frozen=True)
class Esp8266Image:
    entry: int
    flash_mode: int
    size_freq: int
    segments: tuple[Segment, ...]
    stored_checksum: int
    computed_checksum: int
    end: int  # flash offset just past the checksum block

    @property
    def checksum_ok(self) -> bool:
        return self.stored_checksum == self.computed_checksum


def segment_checksum(data: bytes, seed: int = CHECKSUM_SEED) -> int:
    """The ROM's running XOR over segment data."""
    value = seed
    for byte in data:
        value ^= byte
    return value


def parse_image(read: Callable[[int, int], bytes], limit: int) -> Esp8266Image:
    """Parse the V1 image at offset 0 through `read(offset, length)` within `limit` bytes."""
    if limit < HEADER.size:
        raise ImageError("flash is smaller than an image header")
    magic, count, mode, size_freq, entry = HEADER.unpack(read(0, HEADER.size))
    if magic != IMAGE_MAGIC_V1:
        raise ImageError(f"no image: byte 0 is 0x{magic:02x}, not 0x{IMAGE_MAGIC_V1:02x}")
    if not 0 < count <= MAX_SEGMENTS:
        raise ImageError(f"image declares {count} segments (1..{MAX_SEGMENTS} allowed)")
    offset = HEADER.size
    checksum = CHECKSUM_SEED
    segments = []
    for index in range(count):
        if offset + SEGMENT_HEADER.size > limit:
            raise ImageError(f"segment {index} header runs past the end of flash")
        address, length = SEGMENT_HEADER.unpack(read(offset, SEGMENT_HEADER.size))
        offset += SEGMENT_HEADER.size
        if length > MAX_SEGMENT_LENGTH or offset + length > limit:
            raise ImageError(f"segment {index} length 0x{length:x} is implausible")
        checksum = segment_checksum(read(offset, length), checksum)
        segments.append(Segment(address, length, offset))
        offset += length
    checksum_at = (offset // CHECKSUM_ALIGN + 1) * CHECKSUM_ALIGN - 1
    if checksum_at >= limit:
        raise ImageError("image checksum lies past the end of flash")
    stored = read(checksum_at, 1)[0]
    return Esp8266Image(entry, mode, size_freq, tuple(segments), stored, checksum, checksum_at + 1)
