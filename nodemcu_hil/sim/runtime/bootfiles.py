"""Write a boot's run directory: `_vboard.py`, the run_main entry file and config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nodemcu_hil.sim.runtime.fslayout import SECTOR, fs_layout, user_start
from nodemcu_hil.sim.runtime.heap import HeapConfig
from nodemcu_hil.sim.runtime.layout import (
    BOOT_FILE,
    CONFIG_FILE,
    RESET_LETTERS,
    RESET_MARK,
    VBOARD_MODULE,
)

PACKAGE_DIR = Path(__file__).resolve().parent
MP_DIR = PACKAGE_DIR / "mp"  # MicroPython-side runtime modules
ESP_DIR = PACKAGE_DIR.parent / "esp8266"  # MicroPython-side ESP8266 modules (modules engineer)
RUNTIME_MODULES = ("flashbdev", "inisetup")
PWRON_RESET = 0  # machine.PWRON_RESET


@dataclass
class BootParams:
    """What the runtime needs to know about the chip it runs on."""

    flash_path: str
    flash_size: int
    mac: bytes = bytes.fromhex("5ccf7f000001")
    reset_cause: int = PWRON_RESET
    version: str = "v1.28.0"
    build_date: str = "2026-04-06"
    machine: str = "ESP module with ESP8266"  # banner's board name, from the image
    world: tuple[str, int] | None = None
    heap: HeapConfig = field(default_factory=HeapConfig)


def esp_modules(esp_dir: Path = ESP_DIR) -> list[str]:
    """Top-level modules in nodemcu_hil/sim/esp8266/, loaded before the host FS goes away."""
    if not esp_dir.is_dir():
        return []
    names = []
    for entry in sorted(esp_dir.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.suffix in (".py", ".mpy"):
            names.append(entry.stem)
        elif (entry / "__init__.py").exists():
            names.append(entry.name)
    return names


def _vboard_source(params: BootParams) -> str:
    heap = params.heap
    start, blocks = fs_layout(params.flash_size)
    lines = [
        "# Generated at each boot by nodemcu_hil/sim/runtime/bootfiles.py.",
        "MAC = %r" % bytes(params.mac),
        "FLASH_SIZE = %d" % params.flash_size,
        "FLASH_PATH = %r" % str(params.flash_path),
        "FS_START = %d" % (start * SECTOR),
        "FS_BLOCKS = %d" % blocks,
        "USER_START = %d" % user_start(params.flash_size),
        "RESET_CAUSE = %d" % params.reset_cause,
        "VERSION = %r" % params.version,
        "BUILD_DATE = %r" % params.build_date,
        "MACHINE = %r" % params.machine,
        "WORLD = %r" % (tuple(params.world) if params.world else None,),
        "ESP_DIR = %r" % str(ESP_DIR),
        "RUNTIME_DIR = %r" % str(MP_DIR),
        "PREIMPORT = %r" % (tuple(esp_modules() + list(RUNTIME_MODULES)),),
        "HEAP_TOTAL = %d" % heap.total,
        "HEAP_SCALE = %d" % heap.scale,
        "HEAP_FREE_TARGET = %d" % heap.free_target,
        "_RESET = %r" % {kind: RESET_MARK + letter for kind, letter in RESET_LETTERS.items()},
        "RESET_KINDS = tuple(_RESET)",
        # Opened now: once the flash filesystem replaces '/', host paths are gone.
        "_flash = open(FLASH_PATH, 'r+b')",
        "import sys as _sys",
        "_out = _sys.stdout.buffer  # the real one: the mark must not be escaped",
        "del _sys",
        "",
        "def flash():",
        "    return _flash",
        "",
        "def request_reset(kind):",
        "    if kind not in _RESET:",
        "        raise ValueError('reset kind must be one of %r' % (RESET_KINDS,))",
        "    import time",
        "    _out.write(_RESET[kind])",
        "    while True:  # the host stops this CPU within milliseconds",
        "        time.sleep_ms(10)",
        "",
    ]
    return "\n".join(lines)


def _entry_source() -> str:
    return "\n".join([
        "import micropython",
        "micropython.kbd_intr(-1)  # like the frozen _boot.py, this part cannot be interrupted",
        "del micropython",
        "import sys",
        "sys.path[:0] = [%r, %r]" % (str(ESP_DIR), str(MP_DIR)),
        "del sys",
        "import _vboot",
        "_vboot.run()",
        "del _vboot",
        "",
    ])


def write_run_dir(run_dir: Path, params: BootParams) -> Path:
    """Create (or refresh) the run directory for one chip boot."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / VBOARD_MODULE).write_text(_vboard_source(params))
    (run_dir / BOOT_FILE).write_text(_entry_source())
    (run_dir / CONFIG_FILE).write_text(json.dumps({"heapsize": params.heap.heapsize}))
    return run_dir
