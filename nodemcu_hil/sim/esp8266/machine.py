# MicroPython side: the ESP8266 `machine` module (ports/esp8266/modmachine.c,
# machine_pin.c), over the world channel. Pin levels live in the world, so tests
# drive inputs and see outputs; Pin.irq handlers run while the firmware waits
# (time.sleep*, machine.idle, select.poll, blocking sockets), as soft IRQs do.
from _vbnative import time as _time
import _vboard
import _vbworld as _w
from _vbperiph import RTC, Timer, WDT, ADC, PWM, I2C, SoftI2C
from _vbbus import UART, SPI, SoftSPI

PWRON_RESET = 0
WDT_RESET = 1
SOFT_RESET = 4
DEEPSLEEP_RESET = 5
HARD_RESET = 6
DEEPSLEEP = 4
_VALID_PINS = (0, 1, 2, 3, 4, 5, 9, 10, 12, 13, 14, 15, 16)
_FREQS = (80000000, 160000000)
_state = {"freq": 80000000, "irq": 1}
_local_levels = {}  # used only when the board has no world endpoint


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    _objs = {}

    def __new__(cls, id, *args, **kw):
        if not isinstance(id, int) or id not in _VALID_PINS:
            if isinstance(id, Pin):
                return id
            raise ValueError("invalid pin")
        obj = Pin._objs.get(id)
        if obj is None:
            obj = object.__new__(cls)
            obj._id = id
            obj._mode = Pin.IN
            obj._latch = 0
            obj._handler = None
            obj._trigger = 0
            Pin._objs[id] = obj
        return obj

    def __init__(self, id, *args, **kw):
        if args or kw:
            self.init(*args, **kw)

    def init(self, mode, pull=None, *, value=None):
        if self._id == 16 and pull is not None:
            raise ValueError("Pin(16) doesn't support pull")
        self._mode = mode
        msg = {"pin": self._id, "mode": mode, "pull": pull}
        if value is not None:
            self._latch = 1 if value else 0
            msg["value"] = self._latch
        if not _w.available():
            return
        _w.call("gpio.mode", **msg)

    def value(self, x=None):
        if x is None:
            _w.poll_events()
            if _w.available():
                return _w.call("gpio.get", pin=self._id)
            return self._latch if self._mode != Pin.IN else _local_levels.get(self._id, 0)
        self._latch = 1 if x else 0
        if _w.available():
            _w.call("gpio.set", pin=self._id, value=self._latch)
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._latch)

    def irq(self, handler=None, trigger=IRQ_RISING | IRQ_FALLING, hard=False):
        if self._id >= 16:
            raise OSError("pin does not have IRQ capabilities")
        if hard:
            raise ValueError("hard IRQ not supported")
        if handler is None:
            trigger = 0
        self._handler, self._trigger = handler, trigger
        if handler is None:
            _w._irq.pop(self._id, None)
        else:
            _w._irq[self._id] = self._fire
        if _w.available():
            _w.call("gpio.irq", pin=self._id, trigger=trigger)
        return _PinIRQ(self)

    def _fire(self, level):
        if self._handler is not None:
            self._handler(self)

    def __repr__(self):
        return "Pin(%d)" % self._id


class _PinIRQ:
    def __init__(self, pin):
        self._pin = pin

    def trigger(self):
        return self._pin._trigger


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        if not isinstance(pin, Pin):
            pin = Pin(pin, *args, **kw)
        self._pin, self._invert = pin, bool(invert)

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._invert
        self._pin.value(bool(x) ^ self._invert)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


_memory = {}  # byte address -> value: one address space for mem8, mem16 and mem32


class _Mem:
    """memN[addr] (extmod/machine_mem.c): aligned integer addresses only, no slices or
    deletion. A memory of its own: the host's memory is not the chip's."""

    def __init__(self, size):
        self._size = size

    def __repr__(self):
        return "<%d-bit memory>" % (8 * self._size)

    def _addr(self, addr):
        if not isinstance(addr, int):
            raise TypeError("can't convert %s to int" % type(addr).__name__)
        addr &= 0xFFFFFFFF
        if addr & (self._size - 1):
            raise ValueError("address %08x is not aligned to %d bytes" % (addr, self._size))
        return addr

    def __getitem__(self, addr):
        addr = self._addr(addr)
        value = 0
        for i in range(self._size - 1, -1, -1):
            value = value << 8 | _memory.get(addr + i, 0)
        return value

    def __setitem__(self, addr, value):
        addr = self._addr(addr)
        if not isinstance(value, int):
            raise TypeError("can't convert %s to int" % type(value).__name__)
        for i in range(self._size):
            _memory[addr + i] = value >> (8 * i) & 0xFF

    def __delitem__(self, addr):
        raise TypeError("'mem' object doesn't support item deletion")


mem8 = _Mem(1)
mem16 = _Mem(2)
mem32 = _Mem(4)


def reset():
    _vboard.request_reset("hard")


def soft_reset():
    raise SystemExit


def reset_cause():
    return _vboard.RESET_CAUSE


def unique_id():
    m = _vboard.MAC
    return bytes((m[5], m[4], m[3], 0))  # system_get_chip_id(), little-endian


def freq(hz=None):
    if hz is None:
        return _state["freq"]
    if hz not in _FREQS:
        raise ValueError("frequency can only be either 80Mhz or 160MHz")
    _state["freq"] = hz


def idle():
    _w.wait(1)


def lightsleep(ms=None):
    _w.wait(-1 if ms is None else ms)


sleep = lightsleep


def deepsleep(ms=None):
    _vboard.request_reset("deepsleep")


def disable_irq():
    old, _state["irq"] = _state["irq"], 0
    return old


def enable_irq(state=1):
    _state["irq"] = state


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    start = _time.ticks_us()
    while pin.value() != pulse_level:
        if _time.ticks_diff(_time.ticks_us(), start) > timeout_us:
            return -2
    begin = _time.ticks_us()
    while pin.value() == pulse_level:
        if _time.ticks_diff(_time.ticks_us(), begin) > timeout_us:
            return -1
    return _time.ticks_diff(_time.ticks_us(), begin)


def bitstream(pin, encoding, timing, buf):
    """Bit-level waveforms are not modelled; the pin ends low as after a NeoPixel frame."""
    pin.value(0)


def dht_readinto(pin, buf):
    raise OSError(110)  # ETIMEDOUT: no DHT sensor answers on the virtual board


def _alias():
    import sys
    from _vbnative import alias
    alias('machine', sys.modules[__name__])


_alias()
