"""The ESP8266's heap, reproduced on a 64-bit unix port.

The ESP8266 build has `static char heap[38 * 1024]`; `gc.mem_free() + gc.mem_alloc()`
reports 37952 and about 35 KB are free after boot (micropython#11666, v1.20). On a
64-bit host every object is made of 8-byte words, about twice its ESP8266 size, so the
virtual board scales by `HEAP_SCALE = 2` (the unix port's own `-X heapsize=Nw` rule):
after boot, `_vboot` parks a ballast so the interpreter's real free heap is
`free_after_boot * scale` bytes, and `gc.mem_free()` reports real free / scale. A program
made of objects runs out of memory where it would on the chip; one huge `bytearray`
(raw bytes, not words) may get up to twice as far.

The interpreter's heap itself (`heapsize`) is larger, to hold the ESP8266 modules that
the real chip keeps frozen in flash; the ballast takes what they leave over.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodemcu_hil import chip

ESP8266_HEAP_TOTAL = chip.HEAP_TOTAL
ESP8266_FREE_AFTER_BOOT = chip.FREE_HEAP_AFTER_BOOT
HEAP_SCALE = 2
MODULE_ROOM = 256 * 1024  # room for the pre-imported ESP8266 modules (host bytes)


@dataclass(frozen=True)
class HeapConfig:
    total: int = ESP8266_HEAP_TOTAL
    free_after_boot: int = ESP8266_FREE_AFTER_BOOT
    scale: int = HEAP_SCALE
    module_room: int = MODULE_ROOM

    @property
    def free_target(self) -> int:
        """Real (host) free bytes the ballast leaves after boot."""
        return self.free_after_boot * self.scale

    @property
    def heapsize(self) -> int:
        """The `-X heapsize` passed to the unix port."""
        return self.total * self.scale + self.module_room

    @classmethod
    def with_free(cls, free_after_boot: int) -> "HeapConfig":
        """A board with a different free heap (e.g. a firmware test that needs less)."""
        return cls(total=max(free_after_boot, ESP8266_HEAP_TOTAL), free_after_boot=free_after_boot)
