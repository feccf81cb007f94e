"""The unmodified esptool 5.6.0 command line against the loader behind a PTY.

A PTY has no DTR/RTS, so esptool runs with --before no-reset (the board is already in
download mode) and --after no-reset (which takes the stub back to the ROM loader, so
every run uploads the stub afresh, as after a real reset).
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest

from tests.loader_pty import LoaderOnPty
from nodemcu_hil.sim.efuse import format_mac
from nodemcu_hil.sim.flash import Flash

ESPTOOL = [sys.executable, "-m", "esptool"]  # the venv's esptool 5.6.0, unmodified
MAC = bytes.fromhex("5ccf7f123456")
RUN_TIMEOUT = 30  # a healthy run takes about half a second


@pytest.fixture
def flash(tmp_path):
    with Flash(tmp_path / "flash.bin") as f:
        yield f


@pytest.fixture
def board(flash):
    with LoaderOnPty(flash, MAC) as link:
        yield link


def esptool(board: LoaderOnPty, *args: str, expect_rc: int = 0) -> str:
    cmd = [*ESPTOOL, "--port", board.path, "--before", "no-reset", "--after", "no-reset",
           *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    output = done.stdout + done.stderr
    assert done.returncode == expect_rc, f"{' '.join(args)} exited {done.returncode}:\n{output}"
    return output


def _image(size: int, seed: int) -> bytes:
    """Compressible but not trivial, like a firmware image."""
    rng = random.Random(seed)
    words = [bytes(rng.randrange(256) for _ in range(rng.randrange(2, 12))) for _ in range(64)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


def test_identity_commands(board):
    out = esptool(board, "chip-id")
    assert "Chip type:          ESP8266EX" in out and "Crystal frequency:  26MHz" in out
    assert "Chip ID: 0x00123456" in out
    assert f"MAC:                {format_mac(MAC)}" in esptool(board, "read-mac")
    out = esptool(board, "flash-id")
    assert "Manufacturer: ef" in out and "Device: 4016" in out
    assert "Detected flash size: 4MB" in out


def test_wrong_chip_argument_is_refused(board):
    out = esptool(board, "--chip", "esp32", "chip-id", expect_rc=2)
    assert "This chip is ESP8266, not ESP32" in out


def test_stub_writes_verify_and_read_back(board, flash, tmp_path):
    image = _image(200_000, 1)
    src = tmp_path / "fw.bin"
    src.write_bytes(image)
    out = esptool(board, "-b", "460800", "write-flash", "0x1000", str(src))
    assert "Hash of data verified." in out and "Compressed 200000 bytes" in out
    assert flash.read(0x1000, len(image)) == image
    assert 460800 in board.sent_bauds

    raw = _image(50_000, 2)
    src.write_bytes(raw)
    out = esptool(board, "write-flash", "-u", "0x40000", str(src))
    assert "Hash of data verified." in out and "Compressed" not in out
    assert flash.read(0x40000, len(raw)) == raw

    assert "Verification successful (digest matched)." in esptool(
        board, "verify-flash", "0x40000", str(src))
    back = tmp_path / "back.bin"
    esptool(board, "read-flash", "0x1000", "200000", str(back))
    assert back.read_bytes() == image


def test_rom_write_without_stub(board, flash, tmp_path):
    flash.program(0, b"\x00" * 0x40000)  # stale data the ROM's erase must clear
    image = _image(60_000, 3)
    src = tmp_path / "fw.bin"
    src.write_bytes(image)
    out = esptool(board, "--no-stub", "write-flash", "0x3000", str(src))
    assert "Uploading stub" not in out and "Wrote 60000 bytes at 0x00003000" in out
    assert flash.read(0x3000, len(image)) == image
    assert flash.read(0x2FFF, 1) == b"\x00"
    assert hashlib.md5(flash.read(0x3000, len(image))).digest() == hashlib.md5(image).digest()


def test_erase_region_and_erase_flash(board, flash):
    flash.program(0, b"\x00" * 0x20000)
    esptool(board, "erase-region", "0x4000", "0x3000")
    assert flash.read(0x4000, 0x3000) == b"\xff" * 0x3000
    assert flash.read(0x3FFF, 1) == b"\x00" and flash.read(0x7000, 1) == b"\x00"
    esptool(board, "erase-flash")
    assert flash.read(0, 0x20000) == b"\xff" * 0x20000
