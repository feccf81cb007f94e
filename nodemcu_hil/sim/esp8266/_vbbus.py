# MicroPython side: the ESP8266's serial buses as the port has them. Nothing is wired to
# them here, but they take the time the wire takes (upstream extmod/machine_uart_tx.py
# and machine_spi_rate.py time them) and describe themselves as the port does.
from _vbnative import time as _time

UART_FIFO = 128  # bytes the ESP8266's UART TX FIFO holds (uart_tx_one_char waits past it)
HSPI_CLOCK = 80000000  # ports/esp8266/machine_spi.c: 80 MHz base, prediv and cntdiv
HSPI_HALF_CLOCK = 40000000
HSPI_PREDIV_MAX = 0x1FFF + 1  # hspi_register.h SPI_CLKDIV_PRE + 1
HSPI_CNTDIV_MAX = 0x3F + 1  # SPI_CLKCNT_N + 1
SOFTSPI_BASE = 500000  # extmod/machine_spi.c: baudrate = 500000 / delay_half
SOFTSPI_MAX_BAUD = 400000  # esp_mphal.h: 80 MHz / 200, reached at delay_half 0


def _wait_until(due_us):
    left = _time.ticks_diff(due_us, _time.ticks_us())
    if left > 0:
        _time.sleep_us(left)


class UART:
    """UART(0) is the REPL's; UART(1) is TX-only on GPIO2 and reaches nobody here. Writes
    take the line's time: write() returns once the rest fits the FIFO, flush() and
    txdone() wait for the last stop bit (ports/esp8266/machine_uart.c, uart.c)."""

    def __init__(self, id, baudrate=115200, **kw):
        if id not in (0, 1):
            raise ValueError("UART(%d) does not exist" % id)
        self._id = id
        self._baud, self._bits, self._parity, self._stop = 115200, 8, None, 1
        self._tx_end = _time.ticks_us()
        self.init(baudrate, **kw)

    def init(self, baudrate=None, bits=None, parity=-1, stop=None, **kw):
        if baudrate is not None:
            self._baud = baudrate
        if bits is not None:
            self._bits = bits
        if parity != -1:
            self._parity = parity
        if stop is not None:
            self._stop = stop

    def _char_us(self):
        bits = 1 + self._bits + (self._parity is not None) + self._stop
        return bits * 1000000 / self._baud

    def deinit(self):
        pass

    def any(self):
        return 0

    def read(self, n=None):
        return None

    def readinto(self, buf, n=None):
        return None

    def readline(self):
        return None

    def write(self, buf):
        if self._id == 0:
            import sys
            sys.stdout.write(buf)
        now = _time.ticks_us()
        start = self._tx_end if _time.ticks_diff(self._tx_end, now) > 0 else now
        self._tx_end = _time.ticks_add(start, int(len(buf) * self._char_us()))
        _wait_until(_time.ticks_add(self._tx_end, -int(UART_FIFO * self._char_us())))
        return len(buf)

    def flush(self):
        _wait_until(self._tx_end)

    def txdone(self):
        return _time.ticks_diff(self._tx_end, _time.ticks_us()) <= 0


def _transfer_time(baudrate, nbytes):
    _time.sleep_us(nbytes * 8 * 1000000 // baudrate)


class _SpiBase:
    MSB = 0
    LSB = 1

    def read(self, nbytes, write=0):
        self._clock(nbytes)
        return bytes(nbytes)

    def readinto(self, buf, write=0):
        self._clock(len(buf))
        for i in range(len(buf)):
            buf[i] = 0

    def write(self, buf):
        self._clock(len(buf))

    def write_readinto(self, wbuf, rbuf):
        self.readinto(rbuf)

    def deinit(self):
        pass

    def _clock(self, nbytes):
        _transfer_time(self._real_baud(), nbytes)


class SPI(_SpiBase):
    """HSPI, SPI(1) (ports/esp8266/machine_spi.c): the clock is 80 MHz over an even
    divider, so the baudrate it reports is the one it can make."""

    def __new__(cls, id=-1, *args, **kw):
        if id == -1:
            print("Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead")
            return SoftSPI(*args, **kw)
        if id != 1:
            raise ValueError()
        self = object.__new__(cls)
        self._baud, self._polarity, self._phase = HSPI_CLOCK, 0, 0
        self.init(*args, **kw)
        return self

    def __init__(self, *args, **kw):
        pass  # __new__ did it (a deprecated SPI(-1) is a SoftSPI)

    def init(self, baudrate=-1, polarity=-1, phase=-1):
        if baudrate != -1:
            self._baud = baudrate
        if polarity != -1:
            self._polarity = polarity
        if phase != -1:
            self._phase = phase
        if self._baud == HSPI_CLOCK:
            return
        if self._baud > HSPI_HALF_CLOCK:
            raise ValueError("impossible baudrate")
        divider = HSPI_HALF_CLOCK // self._baud
        prediv = min(divider, HSPI_PREDIV_MAX)
        cntdiv = (divider // prediv) * 2
        if cntdiv > HSPI_CNTDIV_MAX or cntdiv == 0 or prediv == 0:
            raise ValueError("impossible baudrate")
        self._baud = HSPI_CLOCK // (prediv * cntdiv)

    def _real_baud(self):
        return self._baud

    def __repr__(self):
        return "HSPI(id=1, baudrate=%u, polarity=%u, phase=%u)" % (self._baud, self._polarity, self._phase)


def _pin_id(pin):
    pid = getattr(pin, "_id", None)
    if pid is None:
        raise ValueError("expecting a pin")
    return pid


class SoftSPI(_SpiBase):
    """extmod/machine_spi.c's soft SPI: the clock comes from a half-period delay."""

    def __init__(self, baudrate=500000, *, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        if bits != 8:
            raise ValueError("bits must be 8")
        if sck is None or mosi is None or miso is None:
            raise ValueError("must specify all of sck/mosi/miso")
        self._pins = [_pin_id(sck), _pin_id(mosi), _pin_id(miso)]
        self._delay_half = self._polarity = self._phase = self._firstbit = 0
        self.init(baudrate, polarity, phase, firstbit=firstbit)

    def init(self, baudrate=-1, polarity=-1, phase=-1, *, firstbit=-1, sck=None, mosi=None, miso=None):
        if baudrate != -1:
            if baudrate >= SOFTSPI_MAX_BAUD:
                self._delay_half = 0
            else:
                self._delay_half = SOFTSPI_BASE // baudrate + (SOFTSPI_BASE % baudrate != 0)
        if polarity != -1:
            self._polarity = polarity
        if phase != -1:
            self._phase = phase
        if firstbit != -1:
            self._firstbit = firstbit
        for i, pin in enumerate((sck, mosi, miso)):
            if pin is not None:
                self._pins[i] = _pin_id(pin)

    def _real_baud(self):
        return SOFTSPI_MAX_BAUD if self._delay_half == 0 else SOFTSPI_BASE // self._delay_half

    def __repr__(self):
        return ("SoftSPI(baudrate=%u, polarity=%u, phase=%u, firstbit=%u, sck=%u, mosi=%u, miso=%u)"
                % ((self._real_baud(), self._polarity, self._phase, self._firstbit) + tuple(self._pins)))
