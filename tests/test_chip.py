"""One chip profile: nodemcu_hil/chip.py holds the ESP8266's facts, imports nothing, and
nothing else in the harness or the virtual board repeats them; the device-side copies
(code that runs inside MicroPython and cannot import host code) agree with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nodemcu_hil import chip

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nodemcu_hil"
# Code that runs inside MicroPython (the virtual board's ESP8266 modules, its boot files):
# it cannot import chip.py, so its copies are checked against it below instead.
DEVICE_SIDE = (PACKAGE / "sim" / "esp8266", PACKAGE / "sim" / "runtime" / "mp")
NOT_YET_SWITCHED: set[str] = set()  # files that still spell a fact; none left

FACT_NUMBERS = {chip.ROM_BOOT_BAUD, chip.IMAGE_MAGIC, chip.IMAGE_V2_MAGIC, chip.IROM0_OFFSET,
                chip.MICROPYTHON_LENGTH_OFFSET, chip.IROM0_FLASH_BASE, chip.CHIP_MAGIC, chip.HEAP_TOTAL,
                chip.FREE_HEAP_AFTER_BOOT}
FACT_PIN_SETS = {chip.GPIO_PINS, chip.FLASH_PINS, chip.OUTPUT_PINS, chip.PWM_PINS}


def repeated_facts(source: str) -> list[str]:
    """Where `source` spells a chip fact: a number, a pin set, or range(6, 12)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in FACT_NUMBERS:
            found.append(f"line {node.lineno}: {node.value:#x}")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            try:
                pins = tuple(sorted(ast.literal_eval(node)))
                hash(pins)
            except (ValueError, TypeError, SyntaxError):
                continue
            if pins in FACT_PIN_SETS:
                found.append(f"line {node.lineno}: pins {pins}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
              and [getattr(arg, "value", None) for arg in node.args] == [6, 12]):
            found.append(f"line {node.lineno}: range(6, 12)")
    return found


def host_modules() -> list[Path]:
    """The harness, the virtual board's host side and this repository's fixtures layer."""
    return [path for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "fixtures").rglob("*.py")])
            if path.name != "chip.py" or path.parent != PACKAGE
            if not any(path.is_relative_to(device) for device in DEVICE_SIDE)]


def test_chip_imports_nothing():
    tree = ast.parse((PACKAGE / "chip.py").read_text())
    assert [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))] == []


def test_the_facts_hang_together():
    assert chip.OUTPUT_PINS == (0, 2, 4, 5, 12, 13, 14, 15, 16)
    assert chip.PWM_PINS == (0, 2, 4, 5, 12, 13, 14, 15)
    assert chip.FLASH_PINS == tuple(range(6, 12)) and chip.UART_PINS == (1, 3)
    assert chip.MICROPYTHON_LENGTH_OFFSET == chip.IROM0_OFFSET - 4
    assert chip.ROM_BOOT_BAUD == chip.ROM_LOADER_BAUD * 26 // 40  # a 26 MHz crystal, 40 MHz assumed


def test_nothing_else_repeats_the_facts():
    repeats = {}
    for path in host_modules():
        found = repeated_facts(path.read_text())
        if found:
            repeats[str(path.relative_to(ROOT))] = found
    unexpected = {name: found for name, found in repeats.items() if name not in NOT_YET_SWITCHED}
    assert unexpected == {}, "read these from nodemcu_hil.chip"


def test_the_scan_sees_each_kind_of_repeat():
    source = "A = 74880\nB = 0xE9\nC = (0, 2, 4, 5, 12, 13, 14, 15, 16)\nD = {p for p in range(6, 12)}\nE = 0x8FFC\n"
    assert len(repeated_facts(source)) == 5
    assert repeated_facts("from nodemcu_hil import chip\nA = chip.ROM_BOOT_BAUD\n") == []


def test_the_virtual_board_imports_only_chip_of_the_harness():
    outside = []
    for path in sorted((PACKAGE / "sim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] if node.module != "nodemcu_hil" else [f"nodemcu_hil.{a.name}" for a in node.names]
            outside += [f"{path.relative_to(ROOT)}: {name}" for name in names
                        if name.startswith("nodemcu_hil") and not name.startswith("nodemcu_hil.sim")
                        and name != "nodemcu_hil.chip"]
    assert outside == []


def assigned(path: Path, name: str, within: str | None = None):
    """The literal value assigned to `name` (at module level, or in class `within`)."""
    tree = ast.parse(path.read_text())
    body = tree.body
    if within:
        body = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == within).body
    for node in body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not assigned in {path}")


@pytest.mark.parametrize("path, name, within, fact", [
    ("nodemcu_hil/sim/esp8266/machine.py", "_VALID_PINS", None, chip.GPIO_PINS),
    ("nodemcu_hil/sim/esp8266/_vbperiph.py", "_PINS", "PWM", chip.PWM_PINS),
    ("nodemcu_hil/sim/esp8266/esp.py", "_FW_SIZE_AT", None, chip.MICROPYTHON_LENGTH_OFFSET),
    ("firmware_under_test/gpiocmd.py", "FLASH_PINS", None, chip.FLASH_PINS),
], ids=["machine-pins", "pwm-pins", "esp-fw-size", "firmware-flash-pins"])
def test_device_side_copies_agree_with_the_chip(path, name, within, fact):
    assert assigned(ROOT / path, name, within) == fact
