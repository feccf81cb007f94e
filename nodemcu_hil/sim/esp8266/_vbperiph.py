# MicroPython side: the ESP8266's machine peripherals other than Pin (machine_rtc.c,
# modmachine.c Timer, machine_wdt.c, machine_adc.c, machine_pwm.c, machine_uart.c).
# Nothing is wired to the virtual board's buses: I2C scans find no device and
# transfers fail with ENODEV, as on a bare NodeMCU.
from _vbnative import time as _time
import micropython
import _vboard
import _vbworld as _w

_EPOCH_OFFSET = 946684800  # the ESP8266 counts from 2000-01-01
_RTC_MEMORY_MAX = 492  # bytes of user RTC memory (machine_rtc.c)
ENODEV = 19
ETIMEDOUT = 110


class RTC:
    ALARM0 = 0
    _offset = 0
    _memory = b""

    def __init__(self, id=0):
        self._alarm_due = None

    def datetime(self, dt=None):
        if dt is None:
            t = _time.gmtime(_time.time() + RTC._offset)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        secs = _time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        RTC._offset = secs - _time.time()

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        if data is None:
            return RTC._memory
        if len(data) > _RTC_MEMORY_MAX:
            raise ValueError("buffer too long")
        RTC._memory = bytes(data)

    def alarm(self, id, time):
        if id != 0:
            raise ValueError("invalid alarm")
        self._alarm_due = _time.ticks_add(_time.ticks_ms(), time)

    def alarm_left(self, id=0):
        if id != 0:
            raise ValueError("invalid alarm")
        if self._alarm_due is None:
            return 0
        return max(0, _time.ticks_diff(self._alarm_due, _time.ticks_ms()))

    def irq(self, *, trigger=0, wake=0):
        if trigger != 0:
            raise ValueError("invalid alarm")


class Timer:
    """Software timers (the ESP8266 has only virtual ones: Timer(-1)). A hard callback
    runs with the heap locked, as the port's ISR (ports/esp8266/machine_timer.c)."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self.due = None
        self._cb = None
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, period=-1, callback=None, freq=None, tick_hz=1000, hard=False):
        if freq is not None:
            period = int(1000 / freq)
        elif tick_hz != 1000:
            period = period * 1000 // tick_hz
        self._mode, self._period, self._cb, self._hard = mode, max(1, period), callback, hard
        self.due = _time.ticks_add(_time.ticks_ms(), self._period)
        _w.add_timer(self)

    def deinit(self):
        _w.remove_timer(self)

    def fire(self):
        if self._mode == Timer.PERIODIC:
            self.due = _time.ticks_add(self.due, self._period)
        else:
            _w.remove_timer(self)
        if self._cb is None:
            return
        if not self._hard:
            self._cb(self)
            return
        micropython.heap_lock()  # a hard callback runs in the ISR: no allocation there
        try:
            self._cb(self)
        finally:
            micropython.heap_unlock()


class WDT:
    """Fed through feed(); starving it reboots the chip with reset_cause() WDT_RESET."""

    def __init__(self, id=0, timeout=5000):
        if id != 0 or timeout != 5000:
            raise ValueError()
        self.due = None
        self.feed()
        _w.add_timer(self)

    def feed(self):
        self.due = _time.ticks_add(_time.ticks_ms(), 5000)

    def fire(self):
        _vboard.request_reset("wdt")


class ADC:
    def __init__(self, id=0):
        if id not in (0, 1):
            raise ValueError("invalid ADC")
        self._id = id

    def read(self):
        return 1024 if self._id else 0

    def read_u16(self):
        return (self.read() * 65535 + 512) // 1024


class PWM:
    _PINS = (0, 2, 4, 5, 12, 13, 14, 15)

    def __init__(self, pin, *, freq=500, duty=512, duty_u16=None, duty_ns=None):
        pid = getattr(pin, "_id", pin)
        if pid not in PWM._PINS:
            raise ValueError("PWM not supported on pin %d" % pid)
        self._pin = pin
        self.init(freq=freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty=None, duty_u16=None, duty_ns=None):
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        elif duty_ns is not None:
            self.duty_ns(duty_ns)
        elif duty is not None:
            self.duty(duty)

    def deinit(self):
        self._duty = 0

    def freq(self, f=None):
        if f is None:
            return self._freq
        if not 1 <= f <= 1000:
            raise ValueError("freq out of range")
        self._freq = f

    def duty(self, d=None):
        if d is None:
            return self._duty
        self._duty = max(0, min(1023, d))

    def duty_u16(self, d=None):
        if d is None:
            return self._duty * 65535 // 1023
        self.duty(d * 1023 // 65535)

    def duty_ns(self, ns=None):
        period_ns = 1000000000 // self._freq
        if ns is None:
            return self._duty * period_ns // 1023
        self.duty(ns * 1023 // period_ns)


class _Bus:
    def __init__(self, *args, **kw):
        pass

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass


class SoftI2C(_Bus):
    def scan(self):
        return []

    def start(self):
        pass

    def stop(self):
        pass

    def _nodev(self, *args, **kw):
        raise OSError(ENODEV)

    readinto = write = readfrom = readfrom_into = writeto = writevto = _nodev
    readfrom_mem = readfrom_mem_into = writeto_mem = _nodev


I2C = SoftI2C
