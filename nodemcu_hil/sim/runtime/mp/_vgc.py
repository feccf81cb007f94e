# MicroPython side: `gc` as an ESP8266 reports it.
# The unix port runs with HEAP_SCALE times the heap (64-bit words); mem_free() and
# mem_alloc() are reported in ESP8266 bytes so that free + alloc == the ESP8266 total.
import gc as _gc
import _vboard


class _Gc:
    def mem_free(self):
        return _gc.mem_free() // _vboard.HEAP_SCALE

    def mem_alloc(self):
        return _vboard.HEAP_TOTAL - self.mem_free()

    def __getattr__(self, name):
        return getattr(_gc, name)


def install():
    import sys

    if not isinstance(sys.modules.get("gc"), _Gc):
        sys.modules["gc"] = _Gc()
