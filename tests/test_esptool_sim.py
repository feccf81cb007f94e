"""The real esptool 5.6.0 against virtual boards, over RFC2217 and over the PTY.

A few commands go through esptool's command line, as users type them (bare pyserial
RFC2217, so each takes seconds: they run concurrently, one board each); the rest go
through esptool's Python API on a port from `nodemcu_hil.ports.open_port`.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from contextlib import contextmanager

import pytest
from esptool.cmds import (attach_flash, detect_chip, erase_flash, read_flash, reset_chip,
                          run_stub, verify_flash, write_flash)
from esptool.loader import FatalError
from esptool.targets import ESP8266ROM

from nodemcu_hil.ports import open_port
from nodemcu_hil.sim import wait_for_state

MAC = "5c:cf:7f:12:34:56"
CHIP_ID = "0x00123456"  # esptool: (R50 >> 24) | ((R54 & 0xFFFFFF) << 8), i.e. the MAC's low 3 bytes
CLI_DATA_SIZE = 8 * 1024
CLI_TIMEOUT = 90


def esptool_cli(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "esptool", "--port", url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def cli_runs(module_board_starter, tmp_path_factory):
    """Every command-line case at once, each on its own board; results by case name."""
    data_file = tmp_path_factory.mktemp("cli") / "data.bin"
    data_file.write_bytes(random.Random(5).randbytes(CLI_DATA_SIZE))
    cases = {
        "chip-id": ({"mac": MAC}, ["chip-id"]),
        "read-mac": ({"mac": MAC}, ["read-mac"]),
        "flash-id": ({"flash_size": "2MB"}, ["flash-id"]),
        "write-flash": ({}, ["-b", "460800", "write-flash", "0x3000", str(data_file)]),
        "wrong-chip": ({}, ["--chip", "esp32", "chip-id"]),
    }
    started = {}
    for name, (settings, args) in cases.items():
        board = module_board_starter(name=f"cli-{name}", **settings)
        started[name] = (board, esptool_cli(board.url, *args))
    results = {}
    for name, (board, process) in started.items():
        output, _ = process.communicate(timeout=CLI_TIMEOUT)
        results[name] = (board, process.returncode, output)
    results["data"] = data_file.read_bytes()
    return results


@contextmanager
def esptool_api(url: str, *, baud: int | None = None, connect_mode: str = "default-reset",
                attempts: int = 3, after: str = "hard-reset"):
    """An esptool session through the harness's port: detect, stub, optional baud, attach."""
    port = open_port(url)
    try:
        esp = detect_chip(port=port, connect_mode=connect_mode, connect_attempts=attempts)
        esp = run_stub(esp)
        if baud:
            esp.change_baud(baud)
        attach_flash(esp)
        yield esp
        reset_chip(esp, after)
    finally:
        port.close()


@pytest.fixture(scope="module")
def board(module_board_starter, tmp_path_factory):
    pty = tmp_path_factory.mktemp("pty") / "ttyNodeMCU"
    return module_board_starter(name="api", mac=MAC, pty=pty)


@pytest.fixture(scope="module")
def manual_board(module_board_starter, tmp_path_factory):
    """A board without the USB auto-reset circuit on its PTY (`hil sim --no-auto-reset`)."""
    pty = tmp_path_factory.mktemp("pty") / "ttyManual"
    return module_board_starter(name="manual", mac=MAC, pty=pty, auto_reset=False)


def test_cli_chip_id(cli_runs):
    _, code, output = cli_runs["chip-id"]
    assert code == 0, output
    assert f"Chip ID: {CHIP_ID}" in output
    assert "Chip type:          ESP8266EX" in output


def test_cli_read_mac_is_the_configured_mac(cli_runs):
    _, code, output = cli_runs["read-mac"]
    assert code == 0, output
    assert f"MAC:                {MAC}" in output


def test_cli_flash_id_reports_the_configured_size(cli_runs):
    _, code, output = cli_runs["flash-id"]
    assert code == 0, output
    assert "Detected flash size: 2MB" in output


def test_cli_write_flash_at_460800(cli_runs):
    board, code, output = cli_runs["write-flash"]
    assert code == 0, output
    assert "Changed." in output and "Hash of data verified." in output
    with esptool_api(board.url) as esp:
        assert esp.read_flash(0x3000, CLI_DATA_SIZE) == cli_runs["data"]


def test_cli_wrong_chip_is_refused_by_esptool(cli_runs):
    _, code, output = cli_runs["wrong-chip"]
    assert code == 2, output
    assert "This chip is ESP8266, not ESP32. Wrong chip argument?" in output


@pytest.mark.parametrize("baud", [115200, 460800, 921600])
@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "plain"])
def test_write_regions_read_back_and_verify(board, baud, compress):
    rng = random.Random(baud * 2 + compress)
    regions = [(0x10000, rng.randbytes(5000)), (0x23000, rng.randbytes(0x4000)),
               (0x3F0000, rng.randbytes(777))]
    with esptool_api(board.url, baud=baud) as esp:
        write_flash(esp, regions, compress=compress, no_compress=not compress)
        verify_flash(esp, regions)
        for offset, data in regions:
            assert read_flash(esp, offset, len(data)) == data


def test_erase_flash_leaves_all_ff(board):
    with esptool_api(board.url) as esp:
        write_flash(esp, [(0x8000, b"\x00" * 4096)])
        erase_flash(esp)
        assert read_flash(esp, 0x7000, 0x3000) == b"\xff" * 0x3000


def test_read_flash_round_trip_is_byte_identical(board, tmp_path):
    data = random.Random(7).randbytes(200 * 1024)
    with esptool_api(board.url, baud=921600) as esp:
        write_flash(esp, [(0x100000, data)])
        read_flash(esp, 0x100000, len(data), str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_second_write_with_diff_with(board, capsys):
    first = random.Random(11).randbytes(64 * 1024)
    second = bytearray(first)
    second[0x5000:0x5010] = b"changed sector.."
    with esptool_api(board.url, baud=460800) as esp:
        write_flash(esp, [(0x200000, first)])
        capsys.readouterr()
        write_flash(esp, [(0x200000, bytes(second))], diff_with=[first])
        output = capsys.readouterr().out
        assert read_flash(esp, 0x200000, len(second)) == bytes(second)
    assert "Reflashing 1 changed sector at 0x00205000" in output
    assert "whole" not in output  # the post-write MD5 matched: no full reflash


def small_image(size_freq: int = 0x00) -> bytes:
    """A valid one-segment V1 image (what the ROM boots): checksum last in its 16-byte block."""
    code = bytes(range(16))
    checksum = 0xEF
    for byte in code:
        checksum ^= byte
    body = struct.pack("<BBBBI", 0xE9, 1, 0, size_freq, 0x40100004) + struct.pack("<II", 0x40100000, 16) + code
    return body + b"\x00" * (15 - len(body) % 16) + bytes([checksum])


@pytest.mark.parametrize("flash_size, header_byte", [("detect", 0x40), ("keep", 0x20)])
def test_flash_size_detect_and_keep(board, flash_size, header_byte):
    image = small_image(size_freq=0x20)
    with esptool_api(board.url) as esp:
        write_flash(esp, [(0, image)], flash_size=flash_size)
        assert read_flash(esp, 0, 4)[3] == header_byte
    state = wait_for_state(board.control, lambda s: s["mode"] == "application")
    assert state["mode"] == "application", state


def test_no_reset_fails_to_sync_on_a_board_in_normal_boot(board):
    with esptool_api(board.url):
        pass  # ends with esptool's hard reset: the board boots from flash
    port = open_port(board.url)
    try:
        esp = ESP8266ROM(port)
        with pytest.raises(FatalError, match="Failed to connect"):
            esp.connect("no-reset", attempts=1)
    finally:
        port.close()


def test_no_reset_reuses_a_board_left_in_download_mode(board):
    with esptool_api(board.url, after="no-reset-stub"):
        pass
    with esptool_api(board.url, connect_mode="no-reset", attempts=1) as esp:
        assert esp.IS_STUB


def test_pty_needs_the_buttons_then_flashes(manual_board):
    board = manual_board
    pty = board.pty
    assert pty and os.path.islink(pty)
    board.control.reset()
    wait_for_state(board.control, lambda s: s["mode"] in ("application", "halted"))
    port = open_port(pty)
    try:
        with pytest.raises(FatalError, match="Failed to connect"):
            detect_chip(port=port, connect_attempts=1)
    finally:
        port.close()
    board.control.enter_download_mode()
    data = random.Random(3).randbytes(30000)
    with esptool_api(pty, baud=460800) as esp:
        write_flash(esp, [(0x40000, data)])
        assert read_flash(esp, 0x40000, len(data)) == data


def test_cli_over_the_pty_syncs_only_in_download_mode(manual_board):
    board = manual_board
    board.control.reset()
    wait_for_state(board.control, lambda s: s["mode"] in ("application", "halted"))
    refused = subprocess.run([sys.executable, "-m", "esptool", "--port", board.pty, "--connect-attempts", "1",
                              "chip-id"], capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert refused.returncode != 0
    assert "Failed to connect to Espressif device: No serial data received." in refused.stdout + refused.stderr
    board.control.enter_download_mode()
    done = subprocess.run([sys.executable, "-m", "esptool", "--port", board.pty, "chip-id"],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Chip was NOT reset" in output
    assert f"Chip ID: {CHIP_ID}" in output
