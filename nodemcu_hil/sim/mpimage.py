"""Recognise a MicroPython ESP8266 firmware in flash, and build one for the simulator.

Layout written by ports/esp8266/makeimg.py (all official ESP8266_GENERIC builds since
v1.9): a V1 application image at 0 (IRAM .text, .data, .rodata), 0xFF padding, at
0x8FFC the u32 `total` = 0x9000 + len(irom0), irom0 at 0x9000, and at `total` the MD5
of bytes [4:total] (bytes 0-3 are skipped because esptool patches the flash mode and
size). The banner's tag and date are found in irom0, where all rodata lives.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nodemcu_hil import chip
from nodemcu_hil.sim.image import ImageError, parse_image

SEGS_MAX_SIZE = chip.IROM0_OFFSET  # makeimg.py: irom0 starts at this flash offset
LENGTH_FIELD = chip.MICROPYTHON_LENGTH_OFFSET
MD5_SKIP = chip.MICROPYTHON_MD5_SKIP
MD5_SIZE = 16
MAX_FIRMWARE = 1024 * 1024  # modesp.c check_fw: "Invalid size" above 1 MiB
VERSION_RE = re.compile(rb"MicroPython (v\d+\.\d+[^ \x00]*) on (\d{4}-\d{2}-\d{2})")
MACHINE_RE = re.compile(rb"(ESP module[^\x00;\r\n]{0,40})\x00")
DEFAULT_MACHINE = "ESP module with ESP8266"

IRAM_ADDR = 0x40100000
DRAM_ADDR = 0x3FFE8000
ENTRY = 0x40100004
FLASH_MODE_QIO = 0
SIZE_FREQ_512K_40M = 0x00  # what elf2image writes; esptool patches it when flashing
IMAGE_MAGIC = chip.IMAGE_MAGIC
CHECKSUM_SEED = 0xEF
SDK_VERSION = "2.2.0-dev(9422289)"

Reader = Callable[[int, int], bytes]


class NotMicroPython(ValueError):
    """Flash holds no MicroPython firmware; the message says why."""


@dataclass(frozen=True)
class MicroPythonImage:
    version: str  # e.g. 'v1.28.0' or 'v1.29.0-preview.731.g1c3c201149'
    build_date: str  # 'YYYY-MM-DD'
    machine: str  # 'ESP module with ESP8266', 'ESP module (1M)' ...
    total: int  # 0x9000 + len(irom0): where the MD5 sits
    md5_ok: bool


def firmware_md5(read: Reader) -> tuple[int, bytes, bytes]:
    """(size field, computed MD5, stored MD5): what esp.check_fw() compares."""
    total = struct.unpack("<I", read(LENGTH_FIELD, 4))[0]
    if not SEGS_MAX_SIZE < total <= MAX_FIRMWARE:
        raise NotMicroPython(f"firmware length field 0x{total:x} at 0x{LENGTH_FIELD:x} "
                             "is not a makeimg.py length")
    digest = hashlib.md5(read(MD5_SKIP, total - MD5_SKIP)).digest()
    return total, digest, read(total, MD5_SIZE)


def recognise(read: Reader, limit: int) -> MicroPythonImage:
    """Identify the MicroPython build in flash, or raise NotMicroPython saying why."""
    try:
        image = parse_image(read, limit)
    except ImageError as exc:
        raise NotMicroPython(f"no bootable image: {exc}") from exc
    if image.end > SEGS_MAX_SIZE:
        raise NotMicroPython("the RAM segments run past 0x9000: not a makeimg.py layout")
    if limit < SEGS_MAX_SIZE + MD5_SIZE:
        raise NotMicroPython("flash too small for a MicroPython image")
    total, computed, stored = firmware_md5(read)
    if total + MD5_SIZE > limit:
        raise NotMicroPython(f"firmware length 0x{total:x} runs past the end of flash")
    irom0 = read(SEGS_MAX_SIZE, total - SEGS_MAX_SIZE)
    found = VERSION_RE.search(irom0)
    if not found:
        raise NotMicroPython("no 'MicroPython vX.Y on DATE' string in irom0")
    machine = MACHINE_RE.search(irom0)
    return MicroPythonImage(
        version=found.group(1).decode("ascii", "replace"),
        build_date=found.group(2).decode("ascii"),
        machine=machine.group(1).decode("ascii", "replace") if machine else DEFAULT_MACHINE,
        total=total,
        md5_ok=computed == stored,
    )


def recognise_file(path: str | Path) -> MicroPythonImage:
    """Recognise a firmware .bin file as esptool would write it at offset 0."""
    data = Path(path).read_bytes()

    def read(offset: int, length: int) -> bytes:
        chunk = data[offset:offset + length]
        return chunk + b"\xff" * (length - len(chunk))

    return recognise(read, len(data))


def _v1_image(segments: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(struct.pack("<BBBBI", IMAGE_MAGIC, len(segments), FLASH_MODE_QIO,
                                SIZE_FREQ_512K_40M, ENTRY))
    checksum = CHECKSUM_SEED
    for address, data in segments:
        out += struct.pack("<II", address, len(data)) + data
        for byte in data:
            checksum ^= byte
    out += b"\x00" * (15 - len(out) % 16)
    out.append(checksum)
    return bytes(out)


def _irom0(version: str, build_date: str, machine: str) -> bytes:
    banner = f"MicroPython {version} on {build_date}".encode()
    strings = [banner, b"3.4.0; " + banner, machine.encode(), SDK_VERSION.encode(),
               b"virtual ESP8266: this image runs only on the simulator"]
    body = b"\x00".join(strings) + b"\x00"
    return body + b"\x00" * (-len(body) % 4)


def build_image(version: str = "v1.28.0", build_date: str = "2026-04-06",
                machine: str = DEFAULT_MACHINE) -> bytes:
    """A small firmware.bin with the makeimg.py layout (RAM segments are placeholders)."""
    iram = struct.pack("<I", 0) + bytes(range(60))  # entry at +4
    data = b"\x00" * 16
    rodata = b"vboard\x00\x00"
    head = _v1_image([(IRAM_ADDR, iram), (DRAM_ADDR, data), (DRAM_ADDR + len(data), rodata)])
    rom = _irom0(version, build_date, machine)
    total = SEGS_MAX_SIZE + len(rom)
    body = head + b"\xff" * (LENGTH_FIELD - len(head)) + struct.pack("<I", total) + rom
    return body + hashlib.md5(body[MD5_SKIP:]).digest()


def make_image(path: str | Path, version: str = "v1.28.0",
               build_date: str = "2026-04-06") -> Path:
    """Write a firmware.bin for `hil sim --make-image` and return its path."""
    path = Path(path)
    path.write_bytes(build_image(version, build_date))
    return path
