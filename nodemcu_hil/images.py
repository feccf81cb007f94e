"""Validate a firmware image before anything touches a board.

A board is never erased for an image that cannot boot: a truncated download, an ESP32
build, a file that is not an image at all, or one larger than the board's flash are
refused with `ImageRejected` and the board is left as it was. The WHOLE file is checked,
not whatever strings happen to survive: the ROM-loaded part (V1 header, every segment
inside the file, header checksum), then the flash-mapped irom0 part. For MicroPython's
layout (ports/esp8266/makeimg.py: ROM part padded with 0xFF to 0x9000, u32 total length
at 0x8FFC, irom0 at 0x9000, MD5 of bytes [4:total] at total) a file shorter than
total + 16 is truncated. Other layouts must at least carry a sector-aligned irom0 part.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from functools import reduce
from operator import xor
from pathlib import Path

from nodemcu_hil import chip
from nodemcu_hil.errors import ImageRejected

IMAGE_MAGIC = chip.IMAGE_MAGIC
IMAGE_V2_MAGIC = chip.IMAGE_V2_MAGIC  # esptool "V2": not bootable at offset 0
FLASH_ALIGNMENT = 4
V1_HEADER = struct.Struct("<BBBBI")  # magic, segment count, flash mode, size/freq, entry
SEGMENT_HEADER = struct.Struct("<II")  # load address, length
MAX_SEGMENTS = 16  # the ESP8266 ROM loader's limit
CHECKSUM_SEED = 0xEF
CHECKSUM_ALIGN = 16  # the checksum is the last byte of the 16-byte block after the segments
SECTOR_SIZE = chip.FLASH_SECTOR_SIZE  # irom0 must begin on a flash erase sector
ERASED = 0xFF
# ESP8266 memory map: where a V1 image's RAM segments may load (esptool targets/esp8266.py).
ESP8266_SEGMENT_RANGES = (
    (0x3FFE8000, 0x40000000),  # DRAM
    (0x40100000, 0x40110000),  # IRAM
    (chip.IROM0_FLASH_BASE, 0x40300000),  # IROM (flash-mapped), for non-MicroPython layouts
)
# MicroPython's makeimg.py: u32 total length at 0x8FFC, irom0 at 0x9000, MD5 of [4:total] after it.
MICROPYTHON_LENGTH_OFFSET = chip.MICROPYTHON_LENGTH_OFFSET
MICROPYTHON_IROM_OFFSET = chip.IROM0_OFFSET
MICROPYTHON_MAX_TOTAL = 1 << 20  # modesp.c esp.check_fw(): "Invalid size" above 1 MiB
MD5_SKIP = chip.MICROPYTHON_MD5_SKIP  # esptool patches bytes 2-3 (flash size); makeimg.py hashes from byte 4
MD5_LENGTH = 16
VERSION_PATTERN = re.compile(rb"MicroPython (v\d+\.\d+[^ \x00]*) on (\d{4}-\d{2}-\d{2})")
# ESP32-family app images: the V1 header is followed by a 16-byte extended header
# (esptool bin_image.ESP32FirmwareImage): wp pin, 3 drive bytes, u16 chip id, revisions, hash flag.
ESP32_EXTENDED_HEADER = struct.Struct("<BBBBHBHH4sB")
ESP32_WP_PIN_DISABLED = 0xEE
ESP32_CHIP_IDS = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2", 13: "ESP32-C6",
                  16: "ESP32-H2", 18: "ESP32-P4", 20: "ESP32-C61", 23: "ESP32-C5", 25: "ESP32-H21",
                  28: "ESP32-H4", 31: "ESP32-E22", 32: "ESP32-S31"}  # esptool targets' IMAGE_CHIP_ID
ESP32_MERGED_APP_OFFSET = 0x1000  # ESP32 merged .bin: 0xFF up to the bootloader at 0x1000
FOREIGN_FORMATS = ((b"\x7fELF", "an ELF file (the linker's output)"), (b"UF2\n", "a UF2 file"),
                   (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip archive"))
HINT_DAMAGED = "the file is damaged: download it again"
HINT_TRUNCATED = "the download was cut short: download it again"
HINT_ESP8266_BUILD = "use an ESP8266 build (ESP8266_GENERIC-*.bin from micropython.org/download)"


@dataclass(frozen=True)
class ValidatedImage:
    path: Path
    data: bytes
    micropython_version: str | None
    build_date: str | None

    @property
    def padded(self) -> bytes:
        """What esptool writes and what the flash's MD5 is compared with."""
        remainder = len(self.data) % FLASH_ALIGNMENT
        return self.data + b"\xff" * ((FLASH_ALIGNMENT - remainder) % FLASH_ALIGNMENT)

    @property
    def md5(self) -> str:
        return hashlib.md5(self.padded).hexdigest()


def validate_image(path: Path | str, flash_size: int, *, board: str | None = None) -> ValidatedImage:
    """The image, checked whole; `ImageRejected` (board untouched) saying what is wrong."""
    path = Path(path)

    def reject(what: str, hint: str) -> ImageRejected:
        return ImageRejected(f"{path}: {what}; the board was not touched", board=board, hint=hint)

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise reject(f"cannot read the image ({exc.strerror})", "check hil_firmware_image") from None
    _check_kind(data, reject)
    rom_end = _check_rom_part(data, reject)
    version, date = _check_flash_part(data, rom_end, reject)
    if len(data) > flash_size:
        raise reject(f"{len(data)} bytes do not fit in {flash_size // 1024} KiB of flash",
                     "use the build for this board's flash size (e.g. ESP8266_GENERIC-FLASH_1M)")
    return ValidatedImage(path=path, data=data, micropython_version=version, build_date=date)


def _check_kind(data: bytes, reject) -> None:
    """Not an ESP8266 V1 application image at all: say what it is instead."""
    if not data:
        raise reject("not an ESP8266 application image: nothing (empty file)", "download the image again")
    chip = esp32_chip(data) or esp32_chip(data[ESP32_MERGED_APP_OFFSET:])
    if chip and (data[0] != IMAGE_MAGIC or not _in_esp8266_memory(_first_segment_address(data))):
        name, chip_id = chip
        raise reject(f"this is an {name} image (chip id {chip_id} in its extended header), not an ESP8266 one",
                     HINT_ESP8266_BUILD)
    if data[0] == IMAGE_V2_MAGIC:
        raise reject("a V2 application image (user1.bin for Espressif's boot.bin at 0x1000); "
                     "it cannot boot from offset 0", "flash a combined V1 image, e.g. MicroPython's firmware.bin")
    if data[0] != IMAGE_MAGIC:
        kind = next((name for magic, name in FOREIGN_FORMATS if data.startswith(magic)), None)
        what = f"{kind}, " if kind else ""
        raise reject(f"not an ESP8266 application image: {what}starts with 0x{data[0]:02x}, expected 0xe9",
                     "download the ESP8266_GENERIC .bin, not an .elf, .uf2 or a zip")


def esp32_chip(data: bytes) -> tuple[str, int] | None:
    """(chip name, chip id) of an ESP32-family image (its extended header), else None."""
    if len(data) < V1_HEADER.size + ESP32_EXTENDED_HEADER.size or data[0] != IMAGE_MAGIC:
        return None
    wp_pin, *_drive, chip_id, _rev, _min, _max, _reserved, hash_appended = \
        ESP32_EXTENDED_HEADER.unpack_from(data, V1_HEADER.size)
    if hash_appended not in (0, 1) or (chip_id not in ESP32_CHIP_IDS and wp_pin != ESP32_WP_PIN_DISABLED):
        return None
    return ESP32_CHIP_IDS.get(chip_id, "ESP32-family"), chip_id


def _first_segment_address(data: bytes) -> int:
    return SEGMENT_HEADER.unpack_from(data, V1_HEADER.size)[0] if len(data) >= 16 else 0


def _in_esp8266_memory(address: int, length: int = 0) -> bool:
    return any(low <= address and address + length <= high for low, high in ESP8266_SEGMENT_RANGES)


def _check_rom_part(data: bytes, reject) -> int:
    """Every ROM-loaded segment lies within the file and the checksum matches; returns its end."""
    if len(data) < V1_HEADER.size:
        raise reject(f"truncated: {len(data)} bytes, not even the 8-byte image header", HINT_TRUNCATED)
    _magic, count, _mode, _size_freq, _entry = V1_HEADER.unpack_from(data)
    if not 1 <= count <= MAX_SEGMENTS:
        raise reject(f"the image header declares {count} segments (an ESP8266 image has 1 to {MAX_SEGMENTS})",
                     HINT_DAMAGED)
    offset, checksum = V1_HEADER.size, CHECKSUM_SEED
    for index in range(count):
        if offset + SEGMENT_HEADER.size > len(data):
            raise reject(f"truncated: segment {index}'s header would be at byte {offset}, the file has "
                         f"{len(data)} bytes", HINT_TRUNCATED)
        address, length = SEGMENT_HEADER.unpack_from(data, offset)
        if not _in_esp8266_memory(address, length):
            raise reject(f"segment {index} at 0x{address:08x} ({length} bytes) is outside the ESP8266's memory",
                         "this is an image for another chip (ESP32?) or a damaged file: " + HINT_ESP8266_BUILD)
        start, offset = offset + SEGMENT_HEADER.size, offset + SEGMENT_HEADER.size + length
        if offset > len(data):
            raise reject(f"truncated: segment {index} ({length} bytes for 0x{address:08x}) needs {offset} "
                         f"bytes, the file has {len(data)}", HINT_TRUNCATED)
        checksum = reduce(xor, data[start:offset], checksum)
    checksum_at = offset + (CHECKSUM_ALIGN - 1 - offset % CHECKSUM_ALIGN)
    if checksum_at >= len(data):
        raise reject(f"truncated: the header checksum would be at byte {checksum_at}, the file has "
                     f"{len(data)} bytes", HINT_TRUNCATED)
    if data[checksum_at] != checksum:
        raise reject(f"header checksum 0x{data[checksum_at]:02x} does not match the data (0x{checksum:02x})",
                     HINT_DAMAGED)
    return checksum_at + 1


def _check_flash_part(data: bytes, rom_end: int, reject) -> tuple[str | None, str | None]:
    """The flash-mapped irom0 part: present, complete and (MicroPython) matching its MD5."""
    padding = data[rom_end:MICROPYTHON_LENGTH_OFFSET]
    if rom_end <= MICROPYTHON_LENGTH_OFFSET and padding.count(ERASED) == len(padding):
        if len(data) < MICROPYTHON_IROM_OFFSET and len(data) > rom_end:
            raise reject(f"truncated: the file ends at byte {len(data)} in the padding before irom0 "
                         f"(0x{MICROPYTHON_IROM_OFFSET:x}, MicroPython's layout)", HINT_TRUNCATED)
        if len(data) >= MICROPYTHON_IROM_OFFSET:
            (total,) = struct.unpack_from("<I", data, MICROPYTHON_LENGTH_OFFSET)
            if total != 0xFFFFFFFF:
                return _check_micropython(data, total, reject)
    irom = len(data) - len(data[rom_end:].lstrip(bytes([ERASED])))
    if irom == len(data):
        raise reject(f"only the RAM-loaded part ({rom_end} bytes) and no flash-mapped irom0 part: "
                     "a 0x00000.bin without its irom0 file, or a download cut short",
                     "flash a combined image (MicroPython's firmware.bin) or download it again")
    if irom % SECTOR_SIZE:
        raise reject(f"the data after the RAM-loaded part starts at byte {irom}, not on a 4 KiB sector "
                     "where irom0 must begin", HINT_DAMAGED)
    return None, None


def _check_micropython(data: bytes, total: int, reject) -> tuple[str | None, str | None]:
    if not MICROPYTHON_IROM_OFFSET < total <= MICROPYTHON_MAX_TOTAL:
        raise reject(f"makeimg.py's length field at 0x{MICROPYTHON_LENGTH_OFFSET:x} says 0x{total:x}, "
                     f"outside 0x{MICROPYTHON_IROM_OFFSET:x}..0x{MICROPYTHON_MAX_TOTAL:x}", HINT_DAMAGED)
    if total + MD5_LENGTH > len(data):
        raise reject(f"truncated: its length field at 0x{MICROPYTHON_LENGTH_OFFSET:x} says {total + MD5_LENGTH} "
                     f"bytes (irom0 to {total}, then a 16-byte MD5), the file has {len(data)}", HINT_TRUNCATED)
    if hashlib.md5(data[MD5_SKIP:total]).digest() != data[total:total + MD5_LENGTH]:
        raise reject("MicroPython's own MD5 over the image does not match (esp.check_fw() would fail)",
                     HINT_DAMAGED)
    match = VERSION_PATTERN.search(data, MICROPYTHON_IROM_OFFSET, total)
    if match is None:
        return None, None
    return match.group(1).decode(), match.group(2).decode()
