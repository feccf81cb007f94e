"""The ESP8266 ROM serial loader, and the flasher stub once esptool has started one.

`RomLoader` is a passive object: the link feeds it host bytes with `receive()` (already
at the right baud) and it answers through `uart.transmit()`. It never raises out of
`receive()` and never leaves a command unanswered (except RUN_USER_CODE, which has no
reply on a real chip either): anything it cannot do gets the chip's error status.

What the ROM does here, and what changes with the stub, follows
docs/virtual-board.md Part A; stub-only commands live in `stub.py`.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from . import slip
from .efuse import ChipRegisters, default_mac, format_mac, parse_mac
from .flash import Flash, FlashRangeError
from .flash_writer import FlashWrite, rom_erase
from .loader_packets import (
    ROM_SYNC_VALUE, STUB_SYNC_VALUE, SYNC_PAYLOAD, SYNC_REPLIES, CommandError, Failure,
    MalformedRequest, Op, Reply, Request, build_response, parse_request, rom_status,
    split_data_block, stub_status, unpack_words,
)
from .ram_upload import STUB_GREETING, RamUpload
from .spi_flash import SpiController
from .stub import StubCommands
from .uart import ROM_LOADER_BAUD, Uart

__all__ = ["RomLoader", "default_mac", "parse_mac", "format_mac"]

log = logging.getLogger(__name__)

WRITE_REG_ENTRY = 16  # addr, value, mask, delay_us
FULL_MASK = 0xFFFFFFFF
FLASH_END_REBOOT = 0  # FLASH_END flag word: 0 = reboot, anything else = run user code


def _ignore(*_args) -> None:
    return None


class RomLoader:
    def __init__(self, flash: Flash, mac: bytes, uart: Uart, *,
                 on_run_firmware: Callable[[], None] = _ignore,
                 on_reboot_to_loader: Callable[[], None] = _ignore,
                 console: Callable[[str], None] = _ignore):
        self.flash = flash
        self.uart = uart
        self.mac = bytes(mac)
        self.registers = ChipRegisters(self.mac, lambda: self.uart.baud)
        self.spi = SpiController(flash.size)
        self._on_run_firmware = on_run_firmware
        self._on_reboot_to_loader = on_reboot_to_loader
        self._console = console
        self._decoder = slip.SlipDecoder()
        self._ram = RamUpload()
        self._lock = threading.RLock()
        self.flash_write: FlashWrite | None = None
        self.stub = StubCommands(self)
        self.stub_running = False
        self._rom_handlers = self._build_rom_handlers()

    # -- public face ------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Host-to-chip bytes; replies go out through the UART before this returns."""
        with self._lock:
            for frame in self._decoder.feed(data):
                try:
                    self._handle_frame(frame)
                except Exception:  # the chip must keep serving whatever went wrong here
                    log.exception("virtual ESP8266 loader failed on a %d-byte frame", len(frame))

    def reset(self) -> None:
        """Chip reset: back to the ROM loader at its 115200 baud (the rate it syncs at),
        every transfer in progress forgotten. A board that wants another rate (the
        74880-baud boot text) sets it after calling this."""
        with self._lock:
            self.stub_running = False
            self.spi.detach()
            self.uart.baud = ROM_LOADER_BAUD
            self._forget_sessions()
            self._decoder.reset()

    # -- framing ----------------------------------------------------------------------

    def _handle_frame(self, frame: bytes) -> None:
        if self.stub.consumes_frame(frame):
            return
        try:
            request = parse_request(frame)
        except MalformedRequest as bad:
            if bad.op is None:
                log.debug("dropping %d-byte frame: too short to be a request", len(frame))
                return
            self._send_reply(bad.op, Reply(), bad.failure)
            return
        handler = (self.stub.handlers if self.stub_running else self._rom_handlers).get(request.op)
        if handler is None:
            handler = self._unsupported
        try:
            reply = handler(request)
        except CommandError as err:
            log.debug("op %#04x refused: %s", request.op, err)
            self._send_reply(request.op, Reply(), err.failure)
            return
        except FlashRangeError as err:
            self._send_reply(request.op, Reply(), Failure.FLASH_OP_FAILED)
            log.debug("op %#04x outside the flash: %s", request.op, err)
            return
        except Exception:  # a fault of the board itself (say its flash file vanished)
            log.exception("virtual ESP8266 failed while handling op %#04x", request.op)
            self._send_reply(request.op, Reply(), Failure.FLASH_OP_FAILED)
            return
        if not reply.silent:
            for _ in range(reply.copies):
                self._send_reply(request.op, reply, None)
        if reply.after is not None:
            reply.after()

    def _send_reply(self, op: int, reply: Reply, failure: Failure | None) -> None:
        status = stub_status(failure) if self.stub_running else rom_status(failure)
        data = reply.data if failure is None else b""
        self.send_frame(build_response(op, reply.value, data, status))

    def send_frame(self, payload: bytes) -> None:
        self.uart.transmit(slip.encode(payload))

    def _unsupported(self, request: Request) -> Reply:
        raise CommandError(Failure.INVALID_COMMAND, f"no command {request.op:#04x}")

    # -- commands common to ROM and stub ----------------------------------------------

    def _build_rom_handlers(self) -> dict[int, Callable[[Request], Reply]]:
        return {
            Op.SYNC: self.sync,
            Op.READ_REG: self.read_reg,
            Op.WRITE_REG: self._rom_write_reg,
            Op.MEM_BEGIN: self.mem_begin,
            Op.MEM_DATA: self.mem_data,
            Op.MEM_END: self.mem_end,
            Op.FLASH_BEGIN: self._rom_flash_begin,
            Op.FLASH_DATA: self.flash_data,
            Op.FLASH_END: self._rom_flash_end,
        }

    def sync(self, request: Request) -> Reply:
        if len(request.data) != len(SYNC_PAYLOAD):
            raise CommandError(Failure.BAD_LENGTH, f"SYNC with {len(request.data)} bytes")
        if not self.stub_running and request.data != SYNC_PAYLOAD:
            raise CommandError(Failure.INVALID_COMMAND, "SYNC pattern mismatch")
        value = STUB_SYNC_VALUE if self.stub_running else ROM_SYNC_VALUE
        return Reply(value=value, copies=SYNC_REPLIES)

    def read_reg(self, request: Request) -> Reply:
        (addr,) = unpack_words(request.data, 1)
        return Reply(value=self._read_register(addr))

    def _read_register(self, addr: int) -> int:
        if self.spi.owns(addr):
            return self.spi.read(addr)
        return self.registers.read(addr)

    def write_registers(self, data: bytes) -> None:
        for at in range(0, len(data), WRITE_REG_ENTRY):
            addr, value, mask, _delay_us = unpack_words(data[at:at + WRITE_REG_ENTRY], 4)
            if mask != FULL_MASK:
                value = (value & mask) | (self._read_register(addr) & ~mask)
            if self.spi.owns(addr):
                self.spi.write(addr, value)
            else:
                self.registers.write(addr, value)

    def _rom_write_reg(self, request: Request) -> Reply:
        # One or more (addr, value, mask, delay_us) entries: esptool's write_reg appends a
        # masked-out write to UART_DATE_REG when asked for a delay after the write.
        if not request.data or len(request.data) % WRITE_REG_ENTRY:
            raise CommandError(Failure.BAD_LENGTH, f"WRITE_REG with {len(request.data)} bytes")
        self.write_registers(request.data)
        return Reply()

    def mem_begin(self, request: Request) -> Reply:
        self._ram.begin(request.data)
        return Reply()

    def mem_data(self, request: Request) -> Reply:
        self._ram.add(request.data, request.checksum)
        return Reply()

    def mem_end(self, request: Request) -> Reply:
        program = self._ram.finish(request.data)
        if program is None:
            return Reply()
        if program.is_flasher_stub:
            return Reply(after=self._start_stub)
        return Reply(after=lambda: self._console(
            f"\r\nvirtual ESP8266: cannot run the uploaded RAM program ({program.describe()}):"
            f" this board has no Xtensa CPU, only esptool's flasher stub is understood;"
            f" staying in the serial loader\r\n"))

    def _start_stub(self) -> None:
        """The MEM_END reply is already out; the stub now greets, as the real one does."""
        self._forget_sessions()
        self.stub_running = True
        self.spi.attach()  # the stub attaches the flash before it greets
        self.send_frame(STUB_GREETING)

    def flash_data(self, request: Request) -> Reply:
        if self.flash_write is None or self.flash_write.compressed:
            raise CommandError(Failure.NOT_IN_FLASH_MODE, "FLASH_DATA before FLASH_BEGIN")
        _seq, payload = split_data_block(request.data, Failure.NOT_ENOUGH_DATA,
                                         Failure.TOO_MUCH_DATA, request.checksum)
        self.flash_write.write(payload)
        return Reply()

    # -- ROM-only behaviour -----------------------------------------------------------

    def _rom_flash_begin(self, request: Request) -> Reply:
        erase_size, blocks, block_size, offset = unpack_words(request.data, 4)
        total = blocks * block_size
        if blocks and not block_size:
            raise CommandError(Failure.BAD_BLOCKSIZE, "zero block size")
        if (total or erase_size) and offset >= self.flash.size:
            raise CommandError(Failure.FLASH_OP_FAILED,
                               f"offset {offset:#x} beyond the {self.flash.size:#x}-byte flash")
        self.spi.attach()  # the ROM configures the flash pins on FLASH_BEGIN
        rom_erase(self.flash, offset, erase_size)
        self.flash_write = FlashWrite(self.flash, offset, total, lazy_erase=False)
        return Reply()

    def _rom_flash_end(self, request: Request) -> Reply:
        (flag,) = unpack_words(request.data, 1)
        self.flash_write = None
        if flag == FLASH_END_REBOOT:
            return Reply(after=self.reboot_to_loader)
        return Reply(after=self.run_firmware)

    # -- leaving the loader -----------------------------------------------------------

    def reboot_to_loader(self) -> None:
        self.reset()
        self._on_reboot_to_loader()

    def run_firmware(self) -> None:
        self.reset()
        self._on_run_firmware()

    def _forget_sessions(self) -> None:
        self.flash_write = None
        self._ram.clear()
        self.stub.forget()
