"""What changes once esptool's flasher stub runs (esp-flasher-stub command_handler.c,
esptool-legacy-flasher-stub stub_flasher.c, esptool loader.py).

- Status is a big-endian u16 (0xC0xx family); SYNC answers with value 0.
- FLASH_BEGIN takes the exact byte count (4 or 5 words) and erases lazily; blocks are
  0x4000 bytes; FLASH_DEFL_* carry one zlib stream; FLASH_END(0) returns to the ROM.
- Extra commands: SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE (reply at the old rate,
  then switch), SPI_FLASH_MD5 (16 raw bytes), ERASE_FLASH, ERASE_REGION, READ_FLASH
  (reply, then one raw frame per host ack, then the MD5 frame), RUN_USER_CODE (no reply).
- GET_SECURITY_INFO is "not implemented" (0xFF00) on the ESP8266.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from typing import TYPE_CHECKING, Callable

from .flash import SECTOR_SIZE
from .flash_writer import FlashWrite
from .loader_packets import (
    CommandError, Failure, Op, Reply, Request, split_data_block, unpack_words,
)

if TYPE_CHECKING:
    from .loader import RomLoader

STUB_MAX_BLOCK = 0x4000  # esptool's FLASH_WRITE_SIZE with the stub
FLASH_BEGIN_SIZES = (16, 20)  # size, blocks, block size, offset [, encrypt]
WRITE_REG_ENTRY = 16  # addr, value, mask, delay_us; the stub takes several per request
READ_MAX_PACKET = 0x1000  # the stub's read buffer
READ_ACK = struct.Struct("<I")  # running total the host acks with

log = logging.getLogger(__name__)
FLASH_END_REBOOT = 0


class ReadFlash:
    """READ_FLASH after its reply: at most one unacknowledged data frame in flight."""

    def __init__(self, offset: int, length: int, packet: int):
        self.next_offset = offset
        self.end = offset + length
        self.length = length
        self.packet = packet
        self.digest = hashlib.md5()
        self.acked = 0


class StubCommands:
    def __init__(self, chip: "RomLoader"):
        self._chip = chip
        self._read: ReadFlash | None = None
        self.flash_params: tuple[int, ...] | None = None
        self.handlers = self._build_handlers()

    def forget(self) -> None:
        self._read = None

    def _build_handlers(self) -> dict[int, Callable[[Request], Reply]]:
        chip = self._chip
        return {
            Op.SYNC: chip.sync,
            Op.READ_REG: chip.read_reg,
            Op.WRITE_REG: self.write_reg,
            Op.MEM_BEGIN: chip.mem_begin,
            Op.MEM_DATA: chip.mem_data,
            Op.MEM_END: chip.mem_end,
            Op.FLASH_BEGIN: lambda r: self.flash_begin(r, compressed=False),
            Op.FLASH_DATA: chip.flash_data,
            Op.FLASH_END: self.flash_end,
            Op.FLASH_DEFL_BEGIN: lambda r: self.flash_begin(r, compressed=True),
            Op.FLASH_DEFL_DATA: self.flash_defl_data,
            Op.FLASH_DEFL_END: self.flash_end,
            Op.SPI_SET_PARAMS: self.spi_set_params,
            Op.SPI_ATTACH: self.spi_attach,
            Op.CHANGE_BAUDRATE: self.change_baudrate,
            Op.SPI_FLASH_MD5: self.flash_md5,
            Op.GET_SECURITY_INFO: self.security_info,
            Op.ERASE_FLASH: self.erase_flash,
            Op.ERASE_REGION: self.erase_region,
            Op.READ_FLASH: self.read_flash,
            Op.RUN_USER_CODE: self.run_user_code,
        }

    def _check_range(self, offset: int, length: int, failure: Failure) -> None:
        size = self._chip.flash.size
        if offset + length > size:
            raise CommandError(failure, f"{offset:#x}+{length:#x} beyond the {size:#x}-byte flash")

    # -- writing ----------------------------------------------------------------------

    def write_reg(self, request: Request) -> Reply:
        if not request.data or len(request.data) % WRITE_REG_ENTRY:
            raise CommandError(Failure.NOT_ENOUGH_DATA, f"WRITE_REG with {len(request.data)} bytes")
        self._chip.write_registers(request.data)
        return Reply()

    def flash_begin(self, request: Request, *, compressed: bool) -> Reply:
        if len(request.data) not in FLASH_BEGIN_SIZES:
            raise CommandError(Failure.BAD_LENGTH, f"BEGIN with {len(request.data)} bytes")
        size, _blocks, block_size, offset, *encrypted = unpack_words(
            request.data, len(request.data) // 4)
        if block_size > STUB_MAX_BLOCK:
            raise CommandError(Failure.BAD_BLOCKSIZE, f"block size {block_size:#x}")
        if encrypted and encrypted[0]:
            raise CommandError(Failure.FLASH_OP_FAILED, "the ESP8266 has no flash encryption")
        self._check_range(offset, size, Failure.FLASH_OP_FAILED)
        self._chip.flash_write = FlashWrite(self._chip.flash, offset, size, lazy_erase=True,
                                            compressed=compressed, truncate=True)
        return Reply()

    def flash_defl_data(self, request: Request) -> Reply:
        session = self._chip.flash_write
        if session is None or not session.compressed:
            raise CommandError(Failure.NOT_IN_FLASH_MODE, "FLASH_DEFL_DATA before FLASH_DEFL_BEGIN")
        _seq, payload = split_data_block(request.data, Failure.BAD_LENGTH,
                                         Failure.TOO_MUCH_DATA, request.checksum)
        session.write_compressed(payload)
        return Reply()

    def flash_end(self, request: Request) -> Reply:
        (flag,) = unpack_words(request.data, 1)
        session = self._chip.flash_write
        if session is None:
            raise CommandError(Failure.NOT_IN_FLASH_MODE, "FLASH_END before FLASH_BEGIN")
        if not session.finished:
            raise CommandError(Failure.BAD_LENGTH, f"{session.remaining} bytes still expected")
        self._chip.flash_write = None
        if flag == FLASH_END_REBOOT:
            return Reply(after=self._chip.reboot_to_loader)
        return Reply()

    def erase_flash(self, request: Request) -> Reply:
        unpack_words(request.data, 0)
        self._chip.flash.erase_chip()
        return Reply()

    def erase_region(self, request: Request) -> Reply:
        offset, size = unpack_words(request.data, 2)
        if offset % SECTOR_SIZE or size % SECTOR_SIZE:
            raise CommandError(Failure.BAD_LENGTH, f"erase {offset:#x}+{size:#x} not 4K aligned")
        self._check_range(offset, size, Failure.FLASH_OP_FAILED)
        self._chip.flash.erase_region(offset, size)
        return Reply()

    # -- configuration ----------------------------------------------------------------

    def spi_set_params(self, request: Request) -> Reply:
        self.flash_params = unpack_words(request.data, 6)
        return Reply()

    def spi_attach(self, request: Request) -> Reply:
        unpack_words(request.data, 1)
        self._chip.spi.attach()
        return Reply()

    def change_baudrate(self, request: Request) -> Reply:
        new_baud, _old = unpack_words(request.data, 2)
        if not new_baud:
            raise CommandError(Failure.BAD_LENGTH, "baud rate 0")

        def switch() -> None:
            self._chip.uart.baud = new_baud
        return Reply(after=switch)

    def security_info(self, request: Request) -> Reply:
        unpack_words(request.data, 0)
        raise CommandError(Failure.NOT_IMPLEMENTED, "GET_SECURITY_INFO on ESP8266")

    def run_user_code(self, request: Request) -> Reply:
        return Reply(silent=True, after=self._chip.run_firmware)

    # -- reading ----------------------------------------------------------------------

    def flash_md5(self, request: Request) -> Reply:
        offset, size, _, _ = unpack_words(request.data, 4)
        self._check_range(offset, size, Failure.FLASH_READ_FAILED)
        return Reply(data=self._chip.flash.md5(offset, size))

    def read_flash(self, request: Request) -> Reply:
        offset, length, packet, _in_flight = unpack_words(request.data, 4)
        if not 0 < packet <= READ_MAX_PACKET:
            raise CommandError(Failure.BAD_LENGTH, f"read packet size {packet:#x}")
        self._check_range(offset, length, Failure.FLASH_READ_FAILED)
        session = ReadFlash(offset, length, packet)

        def start() -> None:
            self._read = session
            self._stream()
        return Reply(after=start)

    def consumes_frame(self, frame: bytes) -> bool:
        """While READ_FLASH streams, every host frame is an ack (a 4-byte running total);
        anything else ends the stream early, as on the stub."""
        session = self._read
        if session is None:
            return False
        if len(frame) != READ_ACK.size:
            self._finish_read()
            return True
        (session.acked,) = READ_ACK.unpack(frame)
        self._stream()
        return True

    def _stream(self) -> None:
        """Send what the last ack allows; a failing flash ends the stream (the host then
        times out, as when a real stub's SPI read fails mid-transfer)."""
        try:
            self._send_next()
        except Exception:
            self._read = None
            log.exception("virtual ESP8266 stub: READ_FLASH aborted")

    def _send_next(self) -> None:
        session = self._read
        if session.next_offset < session.end:
            n = min(session.packet, session.end - session.next_offset)
            chunk = self._chip.flash.read(session.next_offset, n)
            session.digest.update(chunk)
            session.next_offset += n
            self._chip.send_frame(chunk)
        elif session.acked >= session.length:
            self._finish_read()

    def _finish_read(self) -> None:
        session, self._read = self._read, None
        self._chip.send_frame(session.digest.digest())
