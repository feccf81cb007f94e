# MicroPython side: the `sys` an ESP8266 program sees.
# Installed by _vboot over sys.modules['sys'] (lost on every run_main, so re-installed
# at each boot). sys.stdout.buffer escapes LF and DLE so that the host's newline
# translation (nodemcu_hil/sim/runtime/translate.py) leaves raw binary output untouched.
import sys as _sys
import _vboard

_ESC = b"\x10"


class _RawOut:
    def __init__(self, real):
        self._real = real

    def write(self, data):
        data = bytes(data)
        esc = data.replace(_ESC, _ESC + _ESC).replace(b"\n", _ESC + b"\n")
        self._real.write(esc)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._real, name)


class _Stdout:
    def __init__(self, real):
        self._real = real
        self.buffer = _RawOut(real.buffer)

    def write(self, s):
        return self._real.write(s)

    def __getattr__(self, name):
        return getattr(self._real, name)


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


class _Sys:
    def __init__(self, real):
        self._real = real
        self.stdout = _Stdout(real.stdout)
        self.platform = "esp8266"
        self.argv = []
        self.implementation = _implementation(real)

    def __getattr__(self, name):
        return getattr(self._real, name)


def install():
    if not isinstance(_sys.modules.get("sys"), _Sys):
        _sys.modules["sys"] = _Sys(_sys)
    return _sys.modules["sys"]
