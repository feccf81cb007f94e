"""Flashing through esptool's API on a port the harness opened, against a virtual board."""

from __future__ import annotations

import pytest

from nodemcu_hil.errors import BoardNotFound, WrongBoard
from nodemcu_hil.flashing import flash_image
from nodemcu_hil.identify import check_identity, identify
from nodemcu_hil.images import validate_image
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.ports import open_port
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import make_image

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


# --- refusals after connecting (issue 11, defects 3 and 4) ------------------------------------

BOOT_TIMEOUT = 20
ONE_MB = 1 << 20
PROMPT = r">>> "


@pytest.fixture
def one_mb_board(tmp_path, image):
    """A virtual board with a 1 MB flash chip running the good image, its console open."""
    from nodemcu_hil.console import Console
    from nodemcu_hil.timeline import Timeline

    with start_board(name="small-flash", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path,
                     flash_size="1MB") as board, open_port(board.url) as port:
        console = Console(port, board="small-flash", timeline=Timeline())
        try:
            with console.borrow() as lent:
                flash_image(lent, image, baud=460800)
            console.expect(PROMPT, timeout=BOOT_TIMEOUT)
            board.flash_path, board.console = tmp_path / "flash.bin", console
            yield board
        finally:
            console.close()


@pytest.fixture(scope="module")
def oversize(tmp_path_factory, image):
    """A valid image padded to 1.5 MB: validation against the default 4 MB inventory passes."""
    path = tmp_path_factory.mktemp("oversize") / "padded.bin"
    path.write_bytes(image.data + b"\xff" * (ONE_MB * 3 // 2 - len(image.data)))
    return validate_image(path, FOUR_MB)


def refused_then_firmware_runs(board, attempt, error, match):
    """`attempt(port, lines)` is refused with `error`; the flash is unchanged and the firmware runs again."""
    before = board.flash_path.read_bytes()
    lines: list[str] = []
    mark = board.console.mark()
    with board.console.borrow() as port, pytest.raises(error, match=match):
        attempt(port, lines)
    assert board.flash_path.read_bytes() == before
    board.console.expect(PROMPT, timeout=BOOT_TIMEOUT, since=mark)  # not left in the ROM loader
    return lines


@pytest.mark.parametrize("force", [True, False])
def test_image_larger_than_the_chip_is_refused_before_erase(one_mb_board, oversize, force):
    from nodemcu_hil.errors import ImageRejected

    lines = refused_then_firmware_runs(
        one_mb_board, lambda port, lines: flash_image(port, oversize, baud=460800, force=force, board="nodemcu-a",
                                                      log=lines.append),
        ImageRejected, r"1572864 bytes \(1536 KiB\) do not fit in the 1MB \(1024 KiB\) flash chip the board "
                       r"reports; nothing was erased \(board 'nodemcu-a', port rfc2217://.*flash_size in boards.toml")
    assert not any("retrying at 115200" in line for line in lines)


def test_wrong_mac_leaves_the_board_running_its_firmware(one_mb_board, image):
    refused_then_firmware_runs(
        one_mb_board, lambda port, lines: flash_image(port, image, baud=460800, expect_mac="5c:cf:7f:00:00:01"),
        WrongBoard, "nothing was written")


def test_a_command_the_chip_refuses_is_not_retried_at_115200(one_mb_board, oversize, monkeypatch):
    """A chip whose flash id gives no size: the MD5 read past its end is refused, not a link failure."""
    import esptool.cmds

    from nodemcu_hil.errors import FlashFailed

    monkeypatch.setattr(esptool.cmds, "detect_flash_size", lambda esp: None)
    lines = refused_then_firmware_runs(
        one_mb_board, lambda port, lines: flash_image(port, oversize, baud=460800, log=lines.append),
        FlashFailed, r"the board refused at 460800 baud: .*Failed SPI operation")
    assert "the flash chip did not report a known size: only the inventory's flash_size was checked" in lines
    assert not any("retrying at 115200" in line for line in lines)


def test_hil_flash_force_of_an_oversize_image_leaves_the_board_as_it_was(tmp_path, oversize):
    import os
    import subprocess
    import sys

    with start_board(name="cli-small", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path,
                     flash_size="1MB") as board:
        before = (tmp_path / "flash.bin").read_bytes()
        result = subprocess.run([sys.executable, "-m", "nodemcu_hil.cli", "flash", "--port", board.url, "--force",
                                 str(oversize.path)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "HIL_LEASE_DIR": str(tmp_path / "leases")})
        assert result.returncode == 1
        assert "do not fit in the 1MB (1024 KiB) flash chip the board reports" in result.stderr
        assert "Erasing" not in result.stdout and "written" not in result.stdout
        assert (tmp_path / "flash.bin").read_bytes() == before
