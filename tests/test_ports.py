"""nodemcu_hil.ports.open_port: the one way the harness opens a board's port."""

from __future__ import annotations

import os
import socket
import tty

import pytest
import serial.rfc2217 as rfc2217

from nodemcu_hil.errors import BoardNotFound, ConfigError, PortBusy
from nodemcu_hil.ports import Rfc2217Port, open_port


class CountingPort(Rfc2217Port):
    """Counts the RFC2217 requests the client sends, by option."""

    def __init__(self, *args, **kwargs):
        self.sent: list[bytes] = []
        super().__init__(*args, **kwargs)

    def rfc2217_send_subnegotiation(self, option, value=b""):
        self.sent.append(option)
        super().rfc2217_send_subnegotiation(option, value)


@pytest.fixture
def board(start_virtual_board):
    return start_virtual_board(name="ports")


@pytest.fixture
def pty_device():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


def test_missing_device_is_board_not_found(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(BoardNotFound, match="no serial device at .*ttyUSB9"):
        open_port(missing)


def test_nothing_listening_is_board_not_found():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(BoardNotFound, match=f"nothing accepts connections at rfc2217://127.0.0.1:{free_port}"):
        open_port(f"rfc2217://127.0.0.1:{free_port}")


def test_device_held_exclusively_is_port_busy(pty_device):
    first = open_port(pty_device)
    try:
        with pytest.raises(PortBusy, match="held by another process"):
            open_port(pty_device)
    finally:
        first.close()


def test_rfc2217_refusal_is_port_busy(board):
    first = open_port(board.url)
    try:
        with pytest.raises(PortBusy, match="refused the connection") as caught:
            open_port(board.url)
        assert caught.value.port == board.url
    finally:
        first.close()


def test_timeout_changes_stay_local_and_baud_changes_are_negotiated(board):
    port = CountingPort(None, baudrate=115200, timeout=1)
    port.port = board.url
    port.open()
    try:
        port.sent.clear()
        for step in range(50):
            port.timeout = 0.01 * step
            port.write_timeout = 10
        assert port.sent == []
        port.baudrate = 74880
        assert port.sent == [rfc2217.SET_BAUDRATE]
        port.baudrate = 74880
        assert port.sent == [rfc2217.SET_BAUDRATE]
        board.control.reset()
        port.timeout = 3
        assert b"boot mode:(3,6)" in port.read_until(b"ets_main.c")
    finally:
        port.close()


def test_esptool_accepts_the_ready_port(board):
    from esptool.cmds import detect_chip

    port = open_port(board.url)
    try:
        esp = detect_chip(port=port, connect_attempts=1)
        assert esp.CHIP_NAME == "ESP8266"
        assert esp._port is port
    finally:
        port.close()


@pytest.mark.parametrize("url", ["rfc2217://127.0.0.1", "rfc2217://127.0.0.1:99999", "rfc2217://:4000"])
def test_rfc2217_url_without_a_usable_port_is_a_clear_error(url):
    """Issue 11, defect 9: pyserial said only `'<=' not supported between int and NoneType`."""
    with pytest.raises(ConfigError) as error:
        open_port(url)
    message = str(error.value)
    assert url in message and "rfc2217://host:port" in message and "not supported" not in message, message
