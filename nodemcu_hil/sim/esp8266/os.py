# MicroPython side: the ESP8266's `os` (ports/esp8266/modos.c): the unix port's VFS
# functions plus uname() and dupterm, without the host-only ones (getenv, system...)
# and without VfsPosix (the host's filesystem): no module attribute leads to it.
from _vbnative import os as _n
import _vbvfs as _vfs
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
statvfs = _n.statvfs
unlink = _n.unlink
urandom = _n.urandom
stat = _n.stat  # times since 2000: the filesystems' own stat (_vbvfs.py)
mount = _vfs.mount
umount = _vfs.umount
VfsLfs2 = _vfs.VfsLfs2
VfsFat = _vfs.VfsFat
del _n, _vfs
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
