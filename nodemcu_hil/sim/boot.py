"""What the ESP8266 ROM prints as it leaves reset, and what it hands to the application.

The ROM talks at 74880 baud (115200 scaled by the 26 MHz crystal against the 40 MHz the
ROM assumes), so a terminal at 115200 shows garbage, as on a real NodeMCU. Formats from
public boot logs (esp8266/Arduino #8240, #9122, ESP8266_RTOS_SDK #242); the CR/LF pairs
are an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nodemcu_hil.sim.image import Esp8266Image, ImageError, parse_image
from nodemcu_hil.sim.reset import RST_CAUSE_WATCHDOG, BootMode

ROM_BANNER = "\r\n ets Jan  8 2013,rst cause:{cause}, boot mode:({mode},{straps})\r\n\r\n"
BOOT_MODE_UART = 1  # GPIO15 low, GPIO0 low, GPIO2 high
BOOT_MODE_FLASH = 3  # GPIO15 low, GPIO0 high, GPIO2 high
BOOT_STRAP_EXTRA = 6  # second number, not parsed by any tool
WATCHDOG_LINE = "wdt reset\r\n"
NO_IMAGE_LINE = "ets_main.c \r\n"
CHECKSUM_ERROR_LINE = "csum err\r\n"
FIRST_ROOM = 16
ROOM_BLOCK = 16
ROOM_SPLIT = 8


@dataclass
class BootContext:
    """Everything the application needs from the chip when the ROM hands over to it.

    `world` is the control hook: an object with `register(name, handler)` where the
    application adds its own control commands (GPIO, Wi-Fi, ...). `reboot(cause)` asks the
    chip for a full reboot through the ROM with the given rst cause (4 = watchdog).
    """

    flash: Any
    flash_path: Path
    flash_size: int
    mac: bytes
    uart: Any
    reset_cause: int
    state_dir: Path
    image: Esp8266Image
    world: Any = None
    reboot: Callable[[int], None] = field(default=lambda cause: None)
    board_name: str = "nodemcu"


def banner(mode: BootMode, cause: int) -> str:
    """The ROM's first lines for a boot in `mode` after a reset of `cause`."""
    number = BOOT_MODE_UART if mode is BootMode.DOWNLOAD else BOOT_MODE_FLASH
    text = ROM_BANNER.format(cause=cause, mode=number, straps=BOOT_STRAP_EXTRA)
    if cause == RST_CAUSE_WATCHDOG:
        text += WATCHDOG_LINE
    return text


def load_lines(image: Esp8266Image, read: Callable[[int, int], bytes]) -> str:
    """The per-segment `load`/`tail`/`chksum` lines and the final `csum` line.

    The ROM copies segments through a 16-byte buffer; `room` is what is left in it when a
    segment starts and `tail` the bytes of the segment's last partial block.
    """
    lines = []
    room = FIRST_ROOM
    checksum = 0xEF
    for segment in image.segments:
        lines.append(f"load 0x{segment.address:08x}, len {segment.length}, room {room} \r\n")
        tail = (segment.length - room) % ROOM_BLOCK
        lines.append(f"tail {tail}\r\n")
        for byte in read(segment.offset, segment.length):
            checksum ^= byte
        lines.append(f"chksum 0x{checksum:02x}\r\n")
        left = ROOM_BLOCK - tail if tail else 0
        if left >= ROOM_SPLIT:
            room = left - ROOM_SPLIT
        elif left:
            lines.append(f"ho 0 tail {tail} room {left}\r\n")
            room = ROOM_SPLIT + left
        else:
            room = ROOM_SPLIT
    lines.append(f"csum 0x{image.stored_checksum:02x}\r\n")
    return "".join(lines)


def flash_boot_text(read: Callable[[int, int], bytes], limit: int) -> tuple[str, Esp8266Image | None]:
    """ROM text after the banner for a flash boot, and the image if it may run."""
    try:
        image = parse_image(read, limit)
    except ImageError:
        return NO_IMAGE_LINE, None
    text = load_lines(image, read)
    if not image.checksum_ok:
        return text + CHECKSUM_ERROR_LINE + NO_IMAGE_LINE, None
    return text, image
