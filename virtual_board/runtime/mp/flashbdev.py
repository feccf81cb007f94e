# MicroPython side: the ESP8266 block device over the board's flash file.
# Same placement rule and methods as the port's frozen flashbdev.py; the flash file
# is shared with the board (no caching). Nothing here allocates: littlefs calls these
# from file finalisers while the heap is locked (soft reset closes unclosed files).
# littlefs erases before it programs, so a plain write is what NOR programming gives.
import _vboard

SEC_SIZE = 4096
SDK_RESERVED = 20480  # the last 20 KiB belong to the SDK
USER_START_2M = 0x100000  # boards/esp8266_2MiB.ld: irom0 ends at 1 MiB
USER_START_1M = 0x98000  # boards/esp8266_1MiB.ld
NATIVE_RESERVE_BELOW = 256  # a sector below 256 gets one sector kept for native code
ERASED_SECTOR = b"\xff" * 4096


def user_start(size):
    if size >= 2 * 1024 * 1024:
        return USER_START_2M
    return USER_START_1M


class FlashBdev:
    SEC_SIZE = SEC_SIZE

    def __init__(self, f, start_sec, blocks):
        self._f = f
        self.start_sec = start_sec
        self.blocks = blocks

    def readblocks(self, n, buf, off=0):
        self._f.seek((n + self.start_sec) * SEC_SIZE + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            self.erase(n)
            off = 0
        self._f.seek((n + self.start_sec) * SEC_SIZE + off)
        self._f.write(buf)

    def erase(self, n):
        self._f.seek((n + self.start_sec) * SEC_SIZE)
        self._f.write(ERASED_SECTOR)

    def ioctl(self, op, arg):
        if op == 4:  # MP_BLOCKDEV_IOCTL_BLOCK_COUNT
            return self.blocks
        if op == 5:  # MP_BLOCKDEV_IOCTL_BLOCK_SIZE
            return SEC_SIZE
        if op == 6:  # MP_BLOCKDEV_IOCTL_BLOCK_ERASE
            self.erase(arg)
            return 0


def _make():
    size = _vboard.FLASH_SIZE
    if size < 1024 * 1024:
        return None
    start = user_start(size) // SEC_SIZE
    if start < NATIVE_RESERVE_BELOW:
        start += 1
    return FlashBdev(_vboard.flash(), start, (size - SDK_RESERVED) // SEC_SIZE - start)


bdev = _make()
