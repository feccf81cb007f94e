"""Packet layout, opcodes and status codes of the ESP8266 serial loader protocol.

Request:  00 op len16 chk32 data   (little-endian; chk only meaningful for *_DATA)
Response: 01 op len16 val32 data + status
The ROM ends a response with 2 status bytes (00 00, or 01 <error>); the flasher stub
with a big-endian u16 (0x0000, or 0xC0xx / 0xFF00). esptool reads both the same way:
first byte non-zero means failure. Facts: esptool loader.py (command, check_command,
checksum), esp-flasher-stub commands.h, esptool serial-protocol docs.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Callable

DIRECTION_REQUEST = 0x00
DIRECTION_RESPONSE = 0x01
HEADER = struct.Struct("<BBHI")
CHECKSUM_SEED = 0xEF
DATA_HEADER = struct.Struct("<IIII")  # len, seq, 0, 0 before MEM/FLASH(_DEFL)_DATA payloads


class Op(enum.IntEnum):
    FLASH_BEGIN = 0x02
    FLASH_DATA = 0x03
    FLASH_END = 0x04
    MEM_BEGIN = 0x05
    MEM_END = 0x06
    MEM_DATA = 0x07
    SYNC = 0x08
    WRITE_REG = 0x09
    READ_REG = 0x0A
    SPI_SET_PARAMS = 0x0B
    SPI_ATTACH = 0x0D
    CHANGE_BAUDRATE = 0x0F
    FLASH_DEFL_BEGIN = 0x10
    FLASH_DEFL_DATA = 0x11
    FLASH_DEFL_END = 0x12
    SPI_FLASH_MD5 = 0x13
    GET_SECURITY_INFO = 0x14
    ERASE_FLASH = 0xD0
    ERASE_REGION = 0xD1
    READ_FLASH = 0xD2
    RUN_USER_CODE = 0xD3


SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32
SYNC_REPLIES = 8  # esptool reads one reply, then 7 more; the ROM sends eight
ROM_SYNC_VALUE = 0x20120707  # esptool only needs non-zero; 0 means "stub running"
STUB_SYNC_VALUE = 0


class Failure(enum.Enum):
    """Why a command failed, independent of which loader reports it."""

    BAD_LENGTH = "bad data length"
    BAD_CHECKSUM = "bad data checksum"
    BAD_BLOCKSIZE = "bad block size"
    INVALID_COMMAND = "invalid command"
    FLASH_OP_FAILED = "flash operation failed"
    FLASH_READ_FAILED = "flash read failed"
    NOT_IN_FLASH_MODE = "not in flash mode"
    INFLATE_ERROR = "inflate error"
    NOT_ENOUGH_DATA = "not enough data"
    TOO_MUCH_DATA = "too much data"
    NOT_IMPLEMENTED = "command not implemented"


# ESP8266 ROM: status 01 <code>; 0x05 "received message is invalid", 0x07 checksum,
# 0x08 flash write, 0x09 flash read (esptool util.py error table, serial-protocol docs).
ROM_INVALID_MESSAGE = 0x05
ROM_CHECKSUM_ERROR = 0x07
ROM_FLASH_WRITE_ERROR = 0x08
ROM_FLASH_READ_ERROR = 0x09
ROM_ERROR_CODES = {
    Failure.BAD_LENGTH: ROM_INVALID_MESSAGE,
    Failure.BAD_CHECKSUM: ROM_CHECKSUM_ERROR,
    Failure.BAD_BLOCKSIZE: ROM_INVALID_MESSAGE,
    Failure.INVALID_COMMAND: ROM_INVALID_MESSAGE,
    Failure.FLASH_OP_FAILED: ROM_FLASH_WRITE_ERROR,
    Failure.FLASH_READ_FAILED: ROM_FLASH_READ_ERROR,
    Failure.NOT_IN_FLASH_MODE: ROM_INVALID_MESSAGE,
    Failure.INFLATE_ERROR: ROM_INVALID_MESSAGE,
    Failure.NOT_ENOUGH_DATA: ROM_INVALID_MESSAGE,
    Failure.TOO_MUCH_DATA: ROM_INVALID_MESSAGE,
    Failure.NOT_IMPLEMENTED: ROM_INVALID_MESSAGE,
}

# Flasher stub (esp-flasher-stub commands.h), sent big-endian.
STUB_ERROR_CODES = {
    Failure.BAD_LENGTH: 0xC000,
    Failure.BAD_CHECKSUM: 0xC100,
    Failure.BAD_BLOCKSIZE: 0xC200,
    Failure.INVALID_COMMAND: 0xC300,
    Failure.FLASH_OP_FAILED: 0xC400,
    Failure.FLASH_READ_FAILED: 0xC400,
    Failure.NOT_IN_FLASH_MODE: 0xC600,
    Failure.INFLATE_ERROR: 0xC700,
    Failure.NOT_ENOUGH_DATA: 0xC800,
    Failure.TOO_MUCH_DATA: 0xC900,
    Failure.NOT_IMPLEMENTED: 0xFF00,
}


def rom_status(failure: Failure | None) -> bytes:
    return b"\x00\x00" if failure is None else bytes([1, ROM_ERROR_CODES[failure]])


def stub_status(failure: Failure | None) -> bytes:
    return struct.pack(">H", 0 if failure is None else STUB_ERROR_CODES[failure])


class CommandError(Exception):
    """A command the chip refuses; turned into an error status, never raised out."""

    def __init__(self, failure: Failure, detail: str = ""):
        self.failure = failure
        super().__init__(f"{failure.value}: {detail}" if detail else failure.value)


@dataclass(frozen=True)
class Request:
    op: int
    data: bytes
    checksum: int


class MalformedRequest(Exception):
    """A frame that is not a well-formed request; op is known when the header was readable."""

    def __init__(self, op: int | None, failure: Failure, detail: str):
        self.op = op
        self.failure = failure
        super().__init__(detail)


def parse_request(frame: bytes) -> Request:
    if len(frame) < HEADER.size:
        raise MalformedRequest(None, Failure.BAD_LENGTH, f"{len(frame)}-byte frame")
    direction, op, length, chk = HEADER.unpack_from(frame)
    if direction != DIRECTION_REQUEST:
        raise MalformedRequest(op, Failure.INVALID_COMMAND, f"direction byte {direction:#04x}")
    data = frame[HEADER.size:]
    if len(data) != length:
        raise MalformedRequest(op, Failure.BAD_LENGTH,
                               f"length field {length}, {len(data)} data bytes")
    return Request(op, data, chk)


def build_response(op: int, value: int, data: bytes, status: bytes) -> bytes:
    body = data + status
    return HEADER.pack(DIRECTION_RESPONSE, op, len(body), value & 0xFFFFFFFF) + body


def checksum(data: bytes) -> int:
    state = CHECKSUM_SEED
    for byte in data:
        state ^= byte
    return state


def unpack_words(data: bytes, count: int, failure: Failure = Failure.BAD_LENGTH) -> tuple:
    """The request's data as exactly `count` u32 words, else the chip's length error."""
    if len(data) != 4 * count:
        raise CommandError(failure, f"expected {4 * count} data bytes, got {len(data)}")
    return struct.unpack(f"<{count}I", data)


def split_data_block(data: bytes, short_failure: Failure, mismatch_failure: Failure,
                     chk: int) -> tuple[int, bytes]:
    """(seq, payload) of a MEM/FLASH data request after the length and checksum checks."""
    if len(data) < DATA_HEADER.size:
        raise CommandError(short_failure, f"{len(data)}-byte data request")
    length, seq, _, _ = DATA_HEADER.unpack_from(data)
    payload = data[DATA_HEADER.size:]
    if length != len(payload):
        raise CommandError(mismatch_failure, f"header says {length} bytes, got {len(payload)}")
    if checksum(payload) != chk:
        raise CommandError(Failure.BAD_CHECKSUM, f"checksum {chk:#x} != {checksum(payload):#x}")
    return seq, payload


@dataclass
class Reply:
    """What a handler answers: `copies` identical responses (SYNC sends eight), then
    `after` runs once they are on the wire (baud switch, OHAI, reboot). `silent` sends
    nothing at all (RUN_USER_CODE)."""

    value: int = 0
    data: bytes = b""
    after: Callable[[], None] | None = None
    copies: int = 1
    silent: bool = False
