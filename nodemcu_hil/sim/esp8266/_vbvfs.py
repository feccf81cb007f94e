# MicroPython side: the ESP8266's `vfs` (extmod/modvfs.c as ESP8266_GENERIC builds it,
# MICROPY_VFS_FAT and MICROPY_VFS_LFS2: mount, umount, VfsFat, VfsLfs2). The unix port's
# own vfs also has VfsPosix, VfsLfs1 and VfsRom; VfsPosix would open the host's whole
# filesystem to the board's programs. `vfs` is not an extensible built-in, so this
# module takes its place in sys.modules (re-done at every boot by the pre-import).
import sys
from _vbnative import vfs as _n

mount = _n.mount
umount = _n.umount
VfsFat = _n.VfsFat
VfsLfs2 = _n.VfsLfs2
del _n
sys.modules["vfs"] = sys.modules[__name__]
__name__ = "vfs"
del sys
