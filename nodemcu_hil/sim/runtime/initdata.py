"""The firmware's first act after an erase: RF init data (ports/esp8266/esp_init_data.c).

Before the SDK starts, MicroPython reads 128 bytes at flash size - 0x4000; if they are all
0xFF it prints `Writing init data\\n` (at the ROM's 74880 baud) and writes the SDK's
default RF parameters there. The simulator has no radio: it writes a placeholder block
of the same size (first byte 5, the init data version) so that the message comes once
per erase, as on the chip.
"""

from __future__ import annotations

INIT_DATA_FROM_END = 4 * 0x1000
INIT_DATA_SIZE = 128
INIT_DATA_VERSION = 0x05
MESSAGE = b"Writing init data\n"
PLACEHOLDER = bytes([INIT_DATA_VERSION]) + bytes(INIT_DATA_SIZE - 1)


def ensure_init_data(flash, flash_size: int) -> bytes:
    """Write the init data if missing; returns the text the firmware prints (or b'')."""
    offset = flash_size - INIT_DATA_FROM_END
    if flash.read(offset, INIT_DATA_SIZE) != b"\xff" * INIT_DATA_SIZE:
        return b""
    flash.program(offset, PLACEHOLDER)
    return MESSAGE
