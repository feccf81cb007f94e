# MicroPython side: the ESP8266's `time` (ports/esp8266/modtime.c): epoch 2000,
# integer time(), 8-tuples from gmtime/localtime. Sleeping lets pin IRQs and
# software timers run, as they do on the chip while it waits.
from _vbnative import time as _n
import _vbworld as _w

_EPOCH_OFFSET = 946684800  # 2000-01-01 in the unix port's 1970 epoch

ticks_ms = _n.ticks_ms
ticks_us = _n.ticks_us
ticks_cpu = _n.ticks_cpu
ticks_add = _n.ticks_add
ticks_diff = _n.ticks_diff


def time():
    return int(_n.time()) - _EPOCH_OFFSET


def time_ns():
    return _n.time_ns() - _EPOCH_OFFSET * 1000000000


def gmtime(secs=None):
    if secs is None:
        secs = time()
    return tuple(_n.gmtime(int(secs) + _EPOCH_OFFSET)[:8])


localtime = gmtime  # the ESP8266 has no time zone


def mktime(t):
    return int(_n.mktime(tuple(t[:8]) + (0,) * (9 - len(t[:8])))) - _EPOCH_OFFSET


def sleep_ms(ms):
    _w.wait(max(0, int(ms)))


def sleep(s):
    _w.wait(max(0, int(s * 1000)))


def sleep_us(us):
    if us >= 1000:
        _w.wait(us // 1000)
        us %= 1000
    _n.sleep_us(us)


def _alias():
    import sys
    from _vbnative import alias
    alias('time', sys.modules[__name__])


_alias()
