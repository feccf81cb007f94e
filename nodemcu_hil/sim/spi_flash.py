"""The ESP8266 SPI controller's "user command" registers, as esptool drives them.

esptool's run_spiflash_command (loader.py) sends any SPI flash opcode through READ_REG /
WRITE_REG: USER (+0x1C) says which phases run, USER1 (+0x20) gives bit lengths, USER2
(+0x24) holds the opcode, ADDR (+0x04) the address MSB-aligned, then it sets CMD (+0x00)
bit 18 and polls until the controller clears it, and reads the answer from W0 (+0x40).
This controller answers at once; the flash chip behind it is a Winbond-style part whose
JEDEC id encodes the emulated size (EF 40 14/15/16/18 for 1/2/4/16 MB).

After a chip reset the flash is not attached: the ROM loader configures the SPI pins
only for its first FLASH_BEGIN (esptool's "Enabling default SPI flash mode...", which is
FLASH_BEGIN(0, 0, 0x400, 0)), and the flasher stub attaches at start. Until then nothing
drives MISO: RDID reads ff ff ff ("Detected flash size: Unknown") and SFDP has no
signature (issue 13, item 8).
"""

from __future__ import annotations

import struct

SPI_BASE = 0x60000200
SPI_CMD = SPI_BASE + 0x00
SPI_ADDR = SPI_BASE + 0x04
SPI_USER = SPI_BASE + 0x1C
SPI_USER1 = SPI_BASE + 0x20
SPI_USER2 = SPI_BASE + 0x24
SPI_W0 = SPI_BASE + 0x40
SPI_REG_END = SPI_BASE + 0x80  # W0..W15

SPI_CMD_USR = 1 << 18
USR_COMMAND = 1 << 31
USR_ADDR = 1 << 30
USR_DUMMY = 1 << 29
USR_MISO = 1 << 28
USR_MOSI = 1 << 27
USER1_MISO_SHIFT = 8
USER1_MOSI_SHIFT = 17
USER1_ADDR_SHIFT = 26
USER1_BITLEN_MASK = 0x1FF
USER1_ADDR_MASK = 0x3F
USER2_OPCODE_MASK = 0xFF  # esptool sends 8-bit opcodes (command length 7 = 8 bits)

CMD_RDID = 0x9F
CMD_RDSFDP = 0x5A
CMD_RDSR = (0x05, 0x35, 0x15)
CMD_WRSR = (0x01, 0x31, 0x11)

WINBOND = 0xEF
WINBOND_MEMORY_TYPE = 0x40
CAPACITY_CODES = {1 << 20: 0x14, 2 << 20: 0x15, 4 << 20: 0x16, 16 << 20: 0x18}
SFDP_SIGNATURE = b"SFDP"
SFDP_BFPT_POINTER = 0x80
FLOATING_MISO = b"\xff"  # nothing drives MISO: the pull-up reads ones


def jedec_id(size: int) -> bytes:
    """Manufacturer, memory type, capacity: what RDID shifts out."""
    if size not in CAPACITY_CODES:
        sizes = ", ".join(f"{s >> 20} MB" for s in CAPACITY_CODES)
        raise ValueError(f"flash size {size:#x} is not one the board offers ({sizes})")
    return bytes([WINBOND, WINBOND_MEMORY_TYPE, CAPACITY_CODES[size]])


def sfdp_table(size: int) -> bytes:
    """A JEDEC SFDP area: header, BFPT header, vendor header (its id = the maker's), BFPT."""
    table = bytearray(b"\xff" * 0x100)
    table[0:8] = SFDP_SIGNATURE + bytes([0x06, 0x01, 0x01, 0xFF])
    bfpt_header = bytes([0x00, 0x06, 0x01, 0x10]) + SFDP_BFPT_POINTER.to_bytes(3, "little")
    table[8:16] = bfpt_header + b"\xff"
    table[16:24] = bytes([WINBOND, 0x00, 0x01, 0x03, 0xD0, 0x00, 0x00, 0xFF])
    density_bits_minus_1 = size * 8 - 1
    table[SFDP_BFPT_POINTER:SFDP_BFPT_POINTER + 8] = (
        struct.pack("<I", 0xFFF920E5) + struct.pack("<I", density_bits_minus_1))
    return bytes(table)


class SpiController:
    def __init__(self, flash_size: int):
        self._id = jedec_id(flash_size)
        self._sfdp = sfdp_table(flash_size)
        self._regs: dict[int, int] = {}
        self._status = [0, 0, 0]
        self.commands_run: list[int] = []
        self.attached = False

    def attach(self) -> None:
        """The flash pins configured (ROM FLASH_BEGIN, the stub's start, SPI_ATTACH)."""
        self.attached = True

    def detach(self) -> None:
        """A chip reset: the ROM has not touched the SPI pins yet."""
        self.attached = False

    @staticmethod
    def owns(addr: int) -> bool:
        return SPI_BASE <= addr < SPI_REG_END

    def read(self, addr: int) -> int:
        return self._regs.get(addr, 0)

    def write(self, addr: int, value: int) -> None:
        self._regs[addr] = value & 0xFFFFFFFF
        if addr == SPI_CMD and value & SPI_CMD_USR:
            self._execute()
            self._regs[SPI_CMD] &= ~SPI_CMD_USR

    def _execute(self) -> None:
        user = self._regs.get(SPI_USER, 0)
        user1 = self._regs.get(SPI_USER1, 0)
        opcode = self._regs.get(SPI_USER2, 0) & USER2_OPCODE_MASK
        self.commands_run.append(opcode)
        addr = None
        if user & USR_ADDR:
            addr_bits = ((user1 >> USER1_ADDR_SHIFT) & USER1_ADDR_MASK) + 1
            addr = self._regs.get(SPI_ADDR, 0) >> (32 - addr_bits)
        mosi = b""
        if user & USR_MOSI:
            mosi_bytes = (((user1 >> USER1_MOSI_SHIFT) & USER1_BITLEN_MASK) + 8) // 8
            words = [self._regs.get(SPI_W0 + 4 * i, 0) for i in range((mosi_bytes + 3) // 4)]
            mosi = struct.pack(f"<{len(words)}I", *words)[:mosi_bytes]
        if not user & USR_MISO:
            self._apply_write(opcode, mosi)
            return
        miso_bits = ((user1 >> USER1_MISO_SHIFT) & USER1_BITLEN_MASK) + 1
        answer = self._answer(opcode, addr, (miso_bits + 7) // 8)
        value = int.from_bytes(answer[:4].ljust(4, b"\x00"), "little")
        if miso_bits < 32:
            value &= (1 << miso_bits) - 1
        self._regs[SPI_W0] = value

    def _answer(self, opcode: int, addr: int | None, length: int) -> bytes:
        if not self.attached:
            return FLOATING_MISO * length
        if opcode == CMD_RDID:
            return self._id
        if opcode == CMD_RDSFDP:
            start = addr or 0
            return self._sfdp[start:start + length].ljust(length, b"\xff")
        if opcode in CMD_RDSR:
            return bytes([self._status[CMD_RDSR.index(opcode)]])
        return FLOATING_MISO * length

    def _apply_write(self, opcode: int, mosi: bytes) -> None:
        if self.attached and opcode in CMD_WRSR and mosi:
            first = CMD_WRSR.index(opcode)
            for i, byte in enumerate(mosi[: 3 - first]):
                self._status[first + i] = byte
