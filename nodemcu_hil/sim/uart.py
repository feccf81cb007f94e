"""The chip's UART0 as the firmware side sees it.

The ROM loader, the flasher stub and the MicroPython runtime only ever write bytes and
change the baud rate here; the link decides what the host receives (bytes sent at a rate
the host is not using arrive garbled, as on a real wire).
"""

from __future__ import annotations

from typing import Callable

from nodemcu_hil import chip

ROM_LOADER_BAUD = chip.ROM_LOADER_BAUD
BOOT_MESSAGE_BAUD = chip.ROM_BOOT_BAUD  # the ROM prints at 115200 * 26 MHz / 40 MHz
FIRMWARE_BAUD = chip.FIRMWARE_BAUD


class Uart:
    def __init__(self, sink: Callable[[bytes, int], None], baud: int = ROM_LOADER_BAUD):
        self._sink = sink
        self.baud = baud

    def transmit(self, data: bytes) -> None:
        """Send device-to-host bytes at the UART's current rate."""
        if data:
            self._sink(bytes(data), self.baud)
