"""The seam where the ROM hands the chip to the application in flash.

The board calls `start_application(context)` once the ROM has printed its boot text for
a flash boot of a valid V1 image (`context` is a `virtual_board.boot.BootContext`: flash,
flash path and size, MAC, the chip's `Uart`, the rst cause, the state directory, the
parsed image, the `world` control hook and a `reboot(cause)` callback). It must return
quickly with an object that has:

- `receive(data: bytes)`: host-to-chip bytes, already at the UART's rate;
- `stop()`: the chip is being reset or powered off; stop everything, promptly.

Output goes through `context.uart.transmit(...)`, at the rate the application sets on
`context.uart.baud` (MicroPython uses 115200).

This placeholder is replaced by the MicroPython runtime (issue 6). Until then a valid
image whose application cannot run stays silent after the ROM text, as a chip running
firmware that never prints would.
"""

from __future__ import annotations

from virtual_board.uart import FIRMWARE_BAUD


class SilentApplication:
    """An application that runs but never answers."""

    def __init__(self, context) -> None:
        self.context = context
        context.uart.baud = FIRMWARE_BAUD

    def receive(self, data: bytes) -> None:
        """Bytes reach a firmware that does not read its UART."""

    def stop(self) -> None:
        """Nothing runs, so nothing to stop."""


def start_application(context) -> SilentApplication:
    return SilentApplication(context)
