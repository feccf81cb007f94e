"""Flashing through esptool's API on a port the harness opened, against a virtual board."""

from __future__ import annotations

import pytest

from fixtures.errors import BoardNotFound, WrongBoard
from fixtures.flashing import flash_image
from fixtures.identify import check_identity, identify
from fixtures.images import validate_image
from fixtures.inventory import BoardRecord
from fixtures.ports import open_port
from virtual_board import start_board
from virtual_board.mpimage import make_image

MAC = "5c:cf:7f:0a:0b:0c"
FOUR_MB = 4 << 20


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "fw.bin"
    make_image(path, version="v1.28.0")
    return validate_image(path, FOUR_MB)


@pytest.fixture
def board(tmp_path):
    with start_board(name="flash-test", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path) as process:
        process.flash_path = tmp_path / "flash.bin"
        yield process


def test_identify_reads_chip_and_mac(board):
    with open_port(board.url) as port:
        identity = identify(port)
    assert (identity.chip, identity.mac) == ("ESP8266", MAC)
    check_identity(BoardRecord("a", board.url, mac=MAC), identity)
    with pytest.raises(WrongBoard, match="found MAC 5c:cf:7f:0a:0b:0c, the inventory expects 5c:cf:7f:00:00:01"):
        check_identity(BoardRecord("a", board.url, mac="5c:cf:7f:00:00:01"), identity)


def test_flash_then_skip_when_already_there_then_force(board, image):
    lines: list[str] = []
    with open_port(board.url) as port:
        first = flash_image(port, image, baud=460800, log=lines.append)
        second = flash_image(port, image, baud=460800, log=lines.append)
        forced = flash_image(port, image, baud=460800, force=True, log=lines.append)
    assert (first.skipped, second.skipped, forced.skipped) == (False, True, False)
    assert "Hash of data verified." in lines
    on_flash = board.flash_path.read_bytes()
    assert on_flash[4:len(image.data)] == image.data[4:]
    assert on_flash[len(image.padded):len(image.padded) + 4096] == b"\xff" * 4096


def test_wrong_mac_writes_nothing(board, image):
    before = board.flash_path.read_bytes()
    with open_port(board.url) as port, pytest.raises(WrongBoard, match="nothing was written"):
        flash_image(port, image, baud=460800, board="nodemcu-a", expect_mac="5c:cf:7f:00:00:01")
    assert board.flash_path.read_bytes() == before


def test_board_not_in_download_mode_is_board_not_found(board):
    with open_port(board.url) as port, pytest.raises(BoardNotFound, match="esptool could not talk"):
        identify(port, connect_mode="no-reset")


def test_board_that_cannot_hold_the_fast_rate_is_flashed_at_115200(tmp_path, image):
    lines: list[str] = []
    with start_board(name="slow-line", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path,
                     max_baud=115200) as board, open_port(board.url) as port:
        outcome = flash_image(port, image, baud=460800, log=lines.append)
    assert (outcome.fell_back, outcome.baud, outcome.skipped) == (True, 115200, False)
    assert "flashing at 460800 baud failed; retrying at 115200" in lines
    assert (tmp_path / "flash.bin").read_bytes()[4:len(image.data)] == image.data[4:]
