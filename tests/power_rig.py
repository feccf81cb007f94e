"""Shared by the power self-tests: a virtual board whose flash already holds MicroPython,
and a console on its port (no esptool needed to get there)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from nodemcu_hil.console import Console
from nodemcu_hil.ports import open_port
from nodemcu_hil.sim.mpimage import build_image
from nodemcu_hil.timeline import Timeline

FLASH_SIZE = 4 << 20
PROMPT = re.escape(">>> ")
ROM_LINE = re.compile(r"rst cause:\d, boot mode:\(3,\d\)")
BANNER = re.compile(r"MicroPython v\d+\.\d+\S* on \d{4}-\d{2}-\d{2}; ESP module with ESP8266")
BOOT_TIMEOUT_S = 20.0
SILENT_WINDOW_S = 1.0  # how long a dead link is watched for a byte that must not come


def flashed_flash(directory: Path) -> Path:
    """A flash file holding a MicroPython image at 0 (the filesystem is made at first boot)."""
    image = build_image("v1.28.0", "2026-04-06")
    path = directory / "flash.bin"
    path.write_bytes(image + b"\xff" * (FLASH_SIZE - len(image)))
    return path


def open_console(url: str, name: str, log_dir: Path) -> Console:
    log_dir.mkdir(parents=True, exist_ok=True)
    return Console(open_port(url), board=name, timeline=Timeline(), log_path=log_dir / f"{name}.log")


def close_console(console: Console) -> None:
    console.close()
    console.port.close()


def booted(console: Console, timeout: float = BOOT_TIMEOUT_S) -> None:
    """Reset the board and wait for its banner without a keystroke: a CTRL-C during the
    first boot would stop MicroPython making its filesystem."""
    mark = console.hard_reset()
    console.expect(BANNER, since=mark, timeout=timeout, what="MicroPython banner")


def at_prompt(console: Console, timeout: float = BOOT_TIMEOUT_S) -> None:
    """CTRL-C until the friendly prompt answers (the board may still be booting)."""
    mark = console.mark()
    console.write(b"\r\x03")
    console.expect(PROMPT, since=mark, timeout=timeout, what="prompt after CTRL-C")


def run_line(console: Console, line: str, answer: str, timeout: float = BOOT_TIMEOUT_S) -> str:
    mark = console.mark()
    console.write(line.encode() + b"\r")
    return console.expect(answer, since=mark, timeout=timeout, what=answer).group(0)


def hil_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nodemcu_hil.cli", *args]
