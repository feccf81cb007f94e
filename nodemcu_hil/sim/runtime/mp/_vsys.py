# MicroPython side: the `sys` an ESP8266 program sees.
# Installed by _vboot over sys.modules['sys'] (lost on every run_main, so re-installed
# at each boot). sys.stdout.buffer escapes LF and DLE so that the host's newline
# translation (nodemcu_hil/sim/runtime/translate.py) leaves raw binary output untouched.
import sys as _sys
import _vboard

_ESC = b"\x10"

try:
    from io import IOBase as _IOBase  # a subclass is a stream: print(file=), print_exception
except ImportError:
    _IOBase = object


def _span(data, args):
    """stream.write(buf[, max_len]) / write(buf, off, max_len), as py/stream.c clips them."""
    if isinstance(data, str):
        data = data.encode()
    view = memoryview(data)
    if len(args) == 1:
        view = view[:max(0, args[0])]
    elif len(args) >= 2:
        off = min(max(0, args[0]), len(view))
        view = view[off:off + max(0, args[1])]
    return bytes(view)


class FileIO(_IOBase):
    """sys.stdin.buffer / sys.stdout.buffer (shared/runtime/sys_stdio_mphal.c's FileIO).
    Output escapes LF and DLE so the host's newline translation leaves it raw."""

    def __init__(self, real, fd):
        self._s = real
        self._fd = fd

    def write(self, data, *args):
        data = _span(data, args)
        self._s.write(data.replace(_ESC, _ESC + _ESC).replace(b"\n", _ESC + b"\n"))
        return len(data)

    def read(self, *args):
        return self._s.read(*args)

    def readinto(self, buf, *args):
        return self._s.readinto(buf, *args)

    def readline(self, *args):
        return self._s.readline(*args)

    def __repr__(self):
        return "<io.FileIO %d>" % self._fd

    def __getattr__(self, name):
        return getattr(self._s, name)


class TextIOWrapper(_IOBase):
    """sys.stdin / sys.stdout / sys.stderr: one type, as the port's stdio_obj_type."""

    def __init__(self, real, fd):
        self._s = real
        self._fd = fd
        self.buffer = FileIO(real.buffer, fd)

    def write(self, data, *args):
        return self._s.write(data, *args)

    def read(self, *args):
        return self._s.read(*args)

    def readinto(self, buf, *args):
        return self._s.readinto(buf, *args)

    def readline(self, *args):
        return self._s.readline(*args)

    def readlines(self, *args):
        return self._s.readlines(*args)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __iter__(self):
        return self

    def __next__(self):
        line = self._s.readline()
        if not line:
            raise StopIteration
        return line

    def __repr__(self):
        return "<io.TextIOWrapper %d>" % self._fd

    def __getattr__(self, name):
        return getattr(self._s, name)


def _implementation(real):
    """sys.implementation with the ESP8266 build's _machine (the bytecode _mpy stays the
    host's: the interpreter really is x64, and mip picks .mpy files by it)."""
    try:
        from collections import namedtuple
    except ImportError:
        return real.implementation
    impl = real.implementation
    fields = [f for f in ("name", "version", "_machine", "_mpy", "_build", "_thread")
              if hasattr(impl, f)]
    values = [getattr(impl, f) for f in fields]
    if "_machine" in fields:
        values[fields.index("_machine")] = _vboard.MACHINE
    if "_build" in fields:
        values[fields.index("_build")] = "ESP8266_GENERIC"
    return namedtuple("implementation", fields)(*values)


# py/modsys.c's globals table as the ESP8266 build has it (v1.28.0, ROM level
# EXTRA_FEATURES: no atexit, exc_info, getsizeof, intern, settrace, executable, ps1/ps2,
# tracebacklimit); `path` is reached through attribute delegation, not the table.
_TABLE = ("argv", "version", "version_info", "implementation", "platform", "byteorder",
          "maxsize", "exit", "stdin", "stdout", "stderr", "modules", "print_exception")
_MUTABLE = ("path",)  # the only sys attribute the port lets a program store


class module:
    """`sys` as the built-in module: a fixed table (stores refused but for `path`, which
    reaches the interpreter's own), `__dict__` with `__name__`, and no fallback lookup,
    so `from sys import missing` raises ImportError."""

    def __init__(self, real):
        put = object.__setattr__
        put(self, "__name__", "sys")
        for name in _TABLE:
            if hasattr(real, name):
                put(self, name, getattr(real, name))
        put(self, "stdin", TextIOWrapper(real.stdin, 0))
        put(self, "stdout", TextIOWrapper(real.stdout, 1))
        put(self, "stderr", TextIOWrapper(real.stderr, 2))
        put(self, "platform", "esp8266")
        put(self, "argv", [])
        put(self, "implementation", _implementation(real))

    def _get_path(self):
        return _sys.path

    def _set_path(self, value):
        _sys.path = value

    path = property(_get_path, _set_path)

    def __setattr__(self, name, value):
        if name not in _MUTABLE:
            raise AttributeError("'module' object has no attribute '%s'" % name)
        _sys.path = value

    def __delattr__(self, name):
        raise AttributeError("'module' object has no attribute '%s'" % name)

    def __repr__(self):
        return "<module 'sys'>"


_Sys = module


def install():
    if not isinstance(_sys.modules.get("sys"), module):
        _sys.modules["sys"] = module(_sys)
    return _sys.modules["sys"]
