"""Which boards a bench run measures, and the virtual ones it starts for itself."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from bench.model import Target

ROOT = Path(__file__).resolve().parent.parent
FLASH_SIZE = 4 << 20


def choose_target(*, force_virtual: bool = False) -> Target:
    """Hardware when the settings' boards file exists (as the suite decides), else virtual."""
    if force_virtual:
        return Target("virtual")
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.inventory import MODE_HARDWARE, effective_mode, load_inventory, select_boards
    settings = resolve_for_cli({}, ROOT / "pytest.ini")
    boards_file = Path(settings.boards_file)
    if effective_mode(settings.mode, boards_file) != MODE_HARDWARE:
        return Target("virtual")
    boards = select_boards(load_inventory(boards_file), settings.boards)
    image = Path(settings.firmware_image) if settings.firmware_image else None
    return Target("hardware", boards, image)


def mpremote() -> str:
    return str(Path(sys.executable).with_name("mpremote"))


@contextmanager
def virtual_board(root: Path, name: str, *, pace: bool = False, flashed: bool = True, pty: bool = True,
                  version: str | None = None):
    """A virtual board in `root`, its flash holding MicroPython (the image's default version,
    or `version`; or erased) and an empty filesystem."""
    from nodemcu_hil.sim import start_board
    from nodemcu_hil.sim.mpimage import build_image
    root.mkdir(parents=True, exist_ok=True)
    flash = root / "flash.bin"
    image = (build_image(version) if version else build_image()) if flashed else b""
    flash.write_bytes(image + b"\xff" * (FLASH_SIZE - len(image)))
    board = start_board(name=name, flash=flash, state_dir=root / "state", pty=(root / "tty") if pty else None,
                        pace=pace, log=root / "board.log")
    try:
        yield board
    finally:
        board.stop()


def realistic_image(path: Path, size: int = 600 * 1024) -> Path:
    """A virtual-board image of a real ESP8266 MicroPython build's size (about 600 KB, which
    deflates to about two thirds, as machine code does): `build_image`'s layout with its
    irom0 segment grown by pseudo-random code-like bytes. The virtual board boots it."""
    import hashlib
    import random
    import struct

    from nodemcu_hil.sim import mpimage as mp
    small = mp.build_image()
    rng = random.Random(14)
    words = [rng.randbytes(4) for _ in range(4096)]            # a limited "instruction set"
    filler = b"".join(rng.choice(words) for _ in range((size - len(small)) // 4))
    rom = mp._irom0("v1.28.0", "2026-04-06", mp.DEFAULT_MACHINE) + filler
    head = small[:mp.LENGTH_FIELD]
    total = mp.SEGS_MAX_SIZE + len(rom)
    body = head + struct.pack("<I", total) + rom
    path.write_bytes(body + hashlib.md5(body[mp.MD5_SKIP:]).digest())
    return path
