"""Where the ESP8266 build keeps its filesystem in flash (protocol doc B §2).

ports/esp8266/modules/flashbdev.py: the FS starts at flash_user_start() (the end of the
irom0 region the linker script reserves), one sector later if that is below sector 256,
and runs to 20 KiB before the end of flash (the SDK's parameter sectors).
"""

from __future__ import annotations

SECTOR = 4096
SDK_RESERVED = 20480
USER_START_2M = 0x100000  # boards/esp8266_2MiB.ld (every build for >= 2 MiB flash)
USER_START_1M = 0x98000  # boards/esp8266_1MiB.ld
NATIVE_RESERVE_BELOW = 256
MIN_FS_FLASH = 1024 * 1024  # the 512K build has no filesystem


def user_start(flash_size: int) -> int:
    """esp.flash_user_start(): the first flash byte past the firmware's irom0 region."""
    return USER_START_2M if flash_size >= 2 * MIN_FS_FLASH else USER_START_1M


def fs_layout(flash_size: int) -> tuple[int, int]:
    """(start sector, block count); (0, 0) when the board has no filesystem."""
    if flash_size < MIN_FS_FLASH:
        return 0, 0
    start = user_start(flash_size) // SECTOR
    if start < NATIVE_RESERVE_BELOW:
        start += 1
    return start, (flash_size - SDK_RESERVED) // SECTOR - start
