# MicroPython side: the ESP8266's `os` (ports/esp8266/modos.c): the unix port's VFS
# functions plus uname() and dupterm, without the host-only ones (getenv, system...)
# and without VfsPosix (the host's filesystem): no module attribute leads to it.
from _vbnative import os as _n
import _vboard

_SDK_RELEASE = "2.2.0-dev(9422289)"
_MACHINE = "ESP module with ESP8266"

sep = "/"
chdir = _n.chdir
getcwd = _n.getcwd
ilistdir = _n.ilistdir
listdir = _n.listdir
mkdir = _n.mkdir
remove = _n.remove
rename = _n.rename
rmdir = _n.rmdir
_EPOCH_OFFSET = 946684800  # 2000-01-01 in the unix port's 1970 epoch
_FLASH_VFS = ("VfsLfs2", "VfsLfs1", "VfsFat")


def _native_mount(path):
    """True when `path` lies on a filesystem the port itself implements (flash FAT/LFS),
    whose times it reports in its own epoch; a user VFS (mpremote mount) reports its own."""
    if not path.startswith("/"):
        cwd = getcwd()
        path = cwd.rstrip("/") + "/" + path
    best, fs_type = -1, None
    for fs, point in mount():
        if point == "/" or path == point or path.startswith(point + "/"):
            if len(point) > best:
                best, fs_type = len(point), type(fs).__name__
    return fs_type in _FLASH_VFS


def stat(path):
    """os.stat with st_atime/st_mtime/st_ctime in seconds since 2000-01-01, the
    ESP8266 port's epoch (py/mpconfig.h MICROPY_EPOCH_IS_2000; the unix port's is 1970)."""
    st = _stat(path)
    if not _native_mount(path):
        return st
    return st[:7] + tuple(t - _EPOCH_OFFSET if t > _EPOCH_OFFSET else 0 for t in st[7:10])


statvfs = _n.statvfs
unlink = _n.unlink
urandom = _n.urandom
mount = _n.mount
umount = _n.umount
VfsLfs2 = _n.VfsLfs2
VfsFat = _n.VfsFat
_stat = _n.stat
del _n
_dupterm = [None, None]


def uname():
    from collections import namedtuple
    U = namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))
    return U("esp8266", "esp8266", _SDK_RELEASE,
             "%s on %s" % (_vboard.VERSION, _vboard.BUILD_DATE), _MACHINE)


def sync():
    pass


def dupterm(stream_object=None, index=0):
    if not 0 <= index < len(_dupterm):
        raise ValueError("invalid dupterm index")
    old, _dupterm[index] = _dupterm[index], stream_object
    return old


def dupterm_notify(obj_in=None):
    pass


def _alias():
    import sys
    from _vbnative import alias
    alias('os', sys.modules[__name__])


_alias()
