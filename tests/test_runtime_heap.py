"""Heap limit like the chip's: what gc reports after boot, MemoryError where an ESP8266
runs out, and a configurable size (protocol doc B §6; scaling in runtime/heap.py)."""

from __future__ import annotations

import re

import pytest

from nodemcu_hil.sim.runtime import HeapConfig
from nodemcu_hil.sim.runtime.console import boot_runtime
from nodemcu_hil.sim.runtime.heap import ESP8266_HEAP_TOTAL

pytest.importorskip("micropython_run")

PROMPT = b">>> "


def _start(tmp_path, **kw):
    runtime, console = boot_runtime(tmp_path, **kw)
    console.expect(b'Type "help()" for more information.\r\n>>> ')
    return runtime, console


def _run(runtime, console, line: bytes) -> bytes:
    runtime.receive(line + b"\r")
    return console.expect(PROMPT)


def _numbers(out: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb"-?\d+", out.split(b"\r\n", 1)[1])]


def test_free_heap_after_boot_matches_the_esp8266_build(tmp_path):
    runtime, console = _start(tmp_path)
    try:
        free, alloc = _numbers(_run(runtime, console, b"import gc; print(gc.mem_free(), gc.mem_alloc())"))
        assert free + alloc == ESP8266_HEAP_TOTAL
        assert 32000 <= free <= 36000
    finally:
        runtime.stop()


def test_firmware_too_big_for_the_heap_gets_memoryerror_and_the_repl_survives(tmp_path):
    runtime, console = _start(tmp_path)
    try:
        out = _run(runtime, console, b"big = [0] * 12000")  # 48 KB on the chip
        assert b"MemoryError: memory allocation failed" in out
        out = _run(runtime, console, b"small = [0] * 4000; print(len(small))")
        assert out.endswith(b"4000\r\n>>> ")
    finally:
        runtime.stop()


def test_heap_is_configurable(tmp_path):
    runtime, console = _start(tmp_path, heap=HeapConfig.with_free(12000))
    try:
        free = _numbers(_run(runtime, console, b"import gc; print(gc.mem_free())"))[0]
        assert 9000 <= free <= 12000
        out = _run(runtime, console, b"small = [0] * 4000")  # 16 KB: fits the default heap
        assert b"MemoryError" in out
    finally:
        runtime.stop()
