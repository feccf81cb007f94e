# MicroPython side: the ESP8266's `binascii` (MICROPY_PY_BINASCII_CRC32 is 0 there).
from _vbnative import binascii as _n

hexlify = _n.hexlify
unhexlify = _n.unhexlify
a2b_base64 = _n.a2b_base64
b2a_base64 = _n.b2a_base64


def _alias():
    import sys
    from _vbnative import alias
    alias('binascii', sys.modules[__name__])


_alias()
