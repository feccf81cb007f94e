"""The registers esptool reads from an ESP8266: chip magic, eFuse MAC words, UART divider.

Register facts (esptool targets/esp8266.py, loader.py):
- 0x40001000 holds the ESP8266 magic 0xFFF0C101 (chip detection).
- eFuse words R50/R54/R58/R5C at 0x3FF00050..5C carry the MAC. With R5C != 0 esptool
  takes the OUI from R5C bytes 2,1,0; the rest is R54[15:8], R54[7:0], R50[31:24].
  R50 bit 4 and R58 bit 16 must stay 0 (they would make it an ESP8285).
- 0x60000014 is the UART clock divider; esptool multiplies it by its own baud rate to
  guess the crystal (26 MHz here).

MACs: `default_mac(name)` derives a stable locally administered unicast address from the
board name (first octet xxxxxx10b), so virtual boards never collide with real Espressif
OUIs and a board keeps its MAC across restarts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable

from nodemcu_hil import chip

CHIP_MAGIC_REG = 0x40001000
CHIP_MAGIC_ESP8266 = chip.CHIP_MAGIC
EFUSE_R50 = 0x3FF00050
EFUSE_R54 = 0x3FF00054
EFUSE_R58 = 0x3FF00058
EFUSE_R5C = 0x3FF0005C
UART_CLKDIV_REG = 0x60000014
UART_CLKDIV_MASK = 0xFFFFF
# A real ESP8266EX with a 26 MHz crystal reads 0x1C4 here after syncing at 115200 baud
# (APB 52 MHz / 115200, as its auto-baud measured it).
UART_CLKDIV_AT_115200 = 0x1C4
REFERENCE_BAUD = chip.ROM_LOADER_BAUD

_MAC_TEXT = re.compile(r"^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


def parse_mac(text: str) -> bytes:
    """'aa:bb:cc:dd:ee:ff' (or with '-' or no separators) -> 6 bytes."""
    cleaned = text.strip()
    if not _MAC_TEXT.match(cleaned):
        raise ValueError(
            f"MAC address {text!r} is not six hex octets like 'aa:bb:cc:dd:ee:ff'")
    mac = bytes.fromhex(cleaned.replace(":", "").replace("-", ""))
    check_mac(mac)
    return mac


def check_mac(mac: bytes) -> None:
    """Refuse addresses a chip cannot carry in its eFuses."""
    if len(mac) != 6:
        raise ValueError(f"a MAC address has 6 bytes, got {len(mac)}")
    if mac[0] & 0x01:
        raise ValueError(f"MAC address {format_mac(mac)} is multicast; a chip's MAC is unicast")
    if mac[:3] == b"\x00\x00\x00":
        raise ValueError(
            f"MAC address {format_mac(mac)} has OUI 00:00:00, which the ESP8266 eFuse layout "
            f"cannot encode; use another prefix")


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def default_mac(board_name: str) -> bytes:
    """A stable, locally administered unicast MAC derived from the board's name."""
    digest = hashlib.sha256(board_name.encode("utf-8")).digest()
    return bytes([(digest[0] & 0xFC) | 0x02]) + digest[1:6]


def efuse_words(mac: bytes) -> dict[int, int]:
    """The four eFuse words that make esptool's read_mac() return `mac`."""
    check_mac(mac)
    m0, m1, m2, m3, m4, m5 = mac
    return {
        EFUSE_R50: m5 << 24,
        EFUSE_R54: (m3 << 8) | m4,
        EFUSE_R58: 0,
        EFUSE_R5C: (m0 << 16) | (m1 << 8) | m2,
    }


def uart_clkdiv(baud: int) -> int:
    """What the divider register reads when the UART runs at `baud` (26 MHz crystal)."""
    return round(UART_CLKDIV_AT_115200 * REFERENCE_BAUD / baud) & UART_CLKDIV_MASK


class ChipRegisters:
    """Fixed chip registers plus a plain memory for everything else written by the host."""

    def __init__(self, mac: bytes, baud: Callable[[], int]):
        self._fixed = {CHIP_MAGIC_REG: CHIP_MAGIC_ESP8266, **efuse_words(mac)}
        self._baud = baud
        self._memory: dict[int, int] = {}

    def read(self, addr: int) -> int:
        if addr == UART_CLKDIV_REG:
            return uart_clkdiv(self._baud())
        if addr in self._fixed:
            return self._fixed[addr]
        return self._memory.get(addr, 0)

    def write(self, addr: int, value: int) -> None:
        """Read-only words (magic, eFuses, divider) ignore writes, as on the chip."""
        if addr in self._fixed or addr == UART_CLKDIV_REG:
            return
        self._memory[addr] = value & 0xFFFFFFFF
