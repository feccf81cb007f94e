# MicroPython side: the ESP8266's `vfs` (extmod/modvfs.c as ESP8266_GENERIC builds it,
# MICROPY_VFS_FAT and MICROPY_VFS_LFS2: mount, umount, VfsFat, VfsLfs2). The unix port's
# own vfs also has VfsPosix, VfsLfs1 and VfsRom; VfsPosix would open the host's whole
# filesystem to the board's programs. `vfs` is not an extensible built-in, so this
# module takes its place in sys.modules (re-done at every boot by the pre-import).
#
# File times: both filesystems keep them as the chip does (LittleFS: ns since 1970,
# FAT: date fields), but `stat` reports them in the port's epoch: seconds since 2000 on
# the ESP8266 (py/mpconfig.h MICROPY_EPOCH_IS_2000, extmod/vfs_lfsx.c), since 1970 on
# the unix port. The classes here shift them, so fs.stat() and os.stat() agree with
# time.time(); a user VFS (mpremote mount) reports its own times untouched.
import sys
from _vbnative import vfs as _n

_EPOCH_OFFSET = 946684800  # 2000-01-01 in the unix port's 1970 epoch
_LFS_MAGIC = b"littlefs"  # at offset 8 of the superblock, block 0 or 1


def _epoch_2000(st):
    return st[:7] + tuple(t - _EPOCH_OFFSET if t > _EPOCH_OFFSET else 0 for t in st[7:10])


class _Flash:
    """The port's filesystem object, its times moved to the 2000 epoch. A wrapper, not a
    subclass: a subclass inherits the native VFS protocol, whose C import_stat would take
    the Python instance for the native struct."""

    def __init__(self, *args, **kwargs):
        self._fs = self._NATIVE(*args, **kwargs)

    def stat(self, path):
        return _epoch_2000(self._fs.stat(path))

    def __getattr__(self, name):
        return getattr(self._fs, name)


class VfsLfs2(_Flash):
    _NATIVE = _n.VfsLfs2
    mkfs = staticmethod(_n.VfsLfs2.mkfs)


class VfsFat(_Flash):
    _NATIVE = _n.VfsFat
    mkfs = staticmethod(_n.VfsFat.mkfs)


def _autodetect(bdev):
    """extmod/vfs.c mp_vfs_autodetect: LittleFS by its magic in block 0 or 1, else FAT."""
    buf = bytearray(len(_LFS_MAGIC))
    try:
        for block in (0, 1):
            bdev.readblocks(block, buf, 8)
            if buf == _LFS_MAGIC:
                return VfsLfs2(bdev)
    except Exception:
        pass  # a device without the extended readblocks
    return VfsFat(bdev)


def mount(*args, **kwargs):
    if args and not hasattr(args[0], "open"):  # a block device, not a filesystem
        args = (_autodetect(args[0]),) + args[1:]
    return _mount(*args, **kwargs)


_mount = _n.mount
umount = _n.umount
del _n
sys.modules["vfs"] = sys.modules[__name__]
__name__ = "vfs"
del sys
