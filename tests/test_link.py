"""The virtual board's serial link: rates, one client at a time, modem lines, robustness."""

from __future__ import annotations

import random

import pytest
import serial

from nodemcu_hil.errors import PortBusy
from nodemcu_hil.ports import open_port
from nodemcu_hil.sim import wait_for_state

BANNER_RESET = b" ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n"
NO_IMAGE = b"ets_main.c \r\n"
SYNC_FRAME = b"\xc0\x00\x08\x24\x00\x00\x00\x00\x00\x07\x07\x12\x20" + b"\x55" * 32 + b"\xc0"
SYNC_REPLY = b"\xc0\x01\x08\x02\x00"


@pytest.fixture(scope="module")
def board(module_board_starter, tmp_path_factory):
    return module_board_starter(name="link", pty=tmp_path_factory.mktemp("pty") / "tty")


def read_for(port, seconds: float, size: int = 4096) -> bytes:
    port.timeout = seconds
    return port.read(size)


def test_rom_text_is_clean_at_74880_and_garbage_at_115200(board):
    port = open_port(board.url, baudrate=74880, timeout=3)
    try:
        board.control.reset()
        port.timeout = 3
        text = port.read_until(NO_IMAGE)
        assert text.endswith(BANNER_RESET + NO_IMAGE)
        port.baudrate = 115200
        board.control.reset()
        garbage = read_for(port, 0.8)
        assert garbage and b"ets Jan" not in garbage
    finally:
        port.close()


def test_host_bytes_at_another_rate_do_not_reach_the_loader(board):
    board.control.enter_download_mode()
    port = open_port(board.url, baudrate=74880)
    try:
        port.write(SYNC_FRAME)
        assert SYNC_REPLY not in read_for(port, 0.5)
        port.baudrate = 115200
        port.write(SYNC_FRAME)
        port.timeout = 2
        assert SYNC_REPLY in port.read_until(SYNC_REPLY)
    finally:
        port.close()


def test_garbage_on_the_line_leaves_the_loader_answering(board):
    board.control.enter_download_mode()
    port = open_port(board.url)
    try:
        rng = random.Random(1)
        port.write(rng.randbytes(3000))
        port.write(b"\xc0\x00\x03\x10\x00\xde\xad\xbe\xef" + bytes(16) + b"\xc0")  # FLASH_DATA, bad checksum
        port.write(b"\xc0\x00\xee\x00\x00\x00\x00\x00\x00\xc0")  # an opcode the ESP8266 lacks
        port.write(SYNC_FRAME)
        port.timeout = 3
        assert SYNC_REPLY in port.read_until(SYNC_REPLY)
    finally:
        port.close()
    assert board.process.poll() is None


def test_second_client_is_refused_with_a_reason(board):
    first = open_port(board.url)
    try:
        with pytest.raises(PortBusy, match="BUSY: virtual board 'link'.*in use by 127.0.0.1"):
            open_port(board.url)
    finally:
        first.close()
    open_port(board.url).close()  # the slot is free again at once


def test_opening_and_closing_the_port_does_not_reset(board):
    board.control.reset()
    before = wait_for_state(board.control, lambda s: s["mode"] != "booting")["reset_count"]
    for _ in range(3):
        open_port(board.url).close()
    assert board.control.state()["reset_count"] == before


def test_pty_rate_comes_from_the_terminal_settings(board):
    with serial.Serial(board.pty, baudrate=74880, timeout=3) as port:
        board.control.reset()
        assert port.read_until(NO_IMAGE).endswith(BANNER_RESET + NO_IMAGE)
        port.baudrate = 115200
        board.control.reset()
        garbage = read_for(port, 0.8)
        assert garbage and b"ets Jan" not in garbage
