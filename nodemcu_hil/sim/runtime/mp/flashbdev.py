# MicroPython side: the ESP8266 block device over the board's flash file.
# Same placement rule and methods as the port's frozen flashbdev.py; the flash file
# is shared with the board (no caching). Nothing here allocates: littlefs calls these
# from file finalisers while the heap is locked (soft reset closes unclosed files).
# littlefs erases before it programs, so a plain write is what NOR programming gives.
import _vboard

SEC_SIZE = 4096
ERASED_SECTOR = b"\xff" * 4096


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
    # Placement computed on the host (nodemcu_hil/sim/runtime/fslayout.py), as the
    # port's flashbdev.py does from esp.flash_size() and esp.flash_user_start().
    if not _vboard.FS_BLOCKS:
        return None
    return FlashBdev(_vboard.flash(), _vboard.FS_START // SEC_SIZE, _vboard.FS_BLOCKS)


bdev = _make()
