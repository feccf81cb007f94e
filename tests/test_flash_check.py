"""The running firmware answers "already flashed?" before any reset into the ROM loader.

Only a clear yes (the board's MAC and its hash of the image region) skips the loader;
another image, another MAC or a firmware that will not stop all go through the loader as
before, which writes, refuses or skips on its own MD5 check.
"""

from __future__ import annotations

import pytest

from nodemcu_hil.errors import WrongBoard
from nodemcu_hil.flash_check import FIRMWARE_BAUD, ask_firmware
from nodemcu_hil.flashing import CHECKED_BY_FIRMWARE, CHECKED_BY_LOADER, flash_image
from nodemcu_hil.images import validate_image
from nodemcu_hil.ports import open_port
from nodemcu_hil.repl import Repl
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import make_image

MAC = "5c:cf:7f:0a:0c:0d"
OTHER_MAC = "5c:cf:7f:00:00:01"
FOUR_MB = 4 << 20
CTRL_C_PROOF_MAIN = b"import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    home = tmp_path_factory.mktemp("images")
    return [validate_image(make_image(home / f"fw-{version}.bin", version=version), FOUR_MB)
            for version in ("v1.28.0", "v1.27.0")]


@pytest.fixture
def flashed(tmp_path, images):
    """A board running the first image, and its open port."""
    with start_board(name="check", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path) as board, \
            open_port(board.url) as port:
        flash_image(port, images[0], baud=460800, force=True)
        port.baudrate = FIRMWARE_BAUD  # esptool left it at the flashing rate
        board.flash_path = tmp_path / "flash.bin"
        yield board, port


def test_the_running_firmware_vouches_for_its_image(flashed, images):
    board, port = flashed
    lines: list[str] = []
    outcome = flash_image(port, images[0], baud=460800, expect_mac=MAC, log=lines.append)
    assert (outcome.skipped, outcome.checked_by, outcome.mac) == (True, CHECKED_BY_FIRMWARE, MAC)
    assert not any("Stub" in line or "Connecting" in line for line in lines), lines  # no loader


def test_another_image_on_the_board_is_written(flashed, images):
    board, port = flashed
    outcome = flash_image(port, images[1], baud=460800, expect_mac=MAC)
    assert not outcome.skipped
    assert board.flash_path.read_bytes()[4:len(images[1].data)] == images[1].data[4:]


def test_a_board_with_another_mac_is_refused_even_when_it_holds_the_image(flashed, images):
    _, port = flashed
    answer = ask_firmware(port, images[0].padded, url="test", board="b", expect_mac=OTHER_MAC,
                          restart=True, log=lambda line: None)
    assert (answer.holds, answer.mac) == (False, MAC)
    with pytest.raises(WrongBoard, match="nothing was written"):
        flash_image(port, images[0], baud=460800, expect_mac=OTHER_MAC)


def test_a_firmware_that_ignores_ctrl_c_leaves_the_answer_to_the_loader(flashed, images):
    board, port = flashed
    repl = Repl(port, board.url)
    repl.enter(soft_reset=False)
    repl.put("main.py", CTRL_C_PROOF_MAIN)
    repl.soft_reset()
    lines: list[str] = []
    outcome = flash_image(port, images[0], baud=460800, expect_mac=MAC, log=lines.append)
    assert (outcome.skipped, outcome.checked_by) == (True, CHECKED_BY_LOADER)
    assert "running firmware: no answer to CTRL-C (nothing running, or the ROM loader)" in lines, lines


def test_a_silent_board_is_not_waited_for(tmp_path, images):
    lines: list[str] = []
    with start_board(name="blank", flash=tmp_path / "flash.bin", mac=MAC, state_dir=tmp_path) as board, \
            open_port(board.url) as port:
        answer = ask_firmware(port, images[0].padded, url=board.url, board="blank", expect_mac=MAC,
                              restart=True, log=lines.append)
    assert (answer.holds, answer.reason) == (False, "no answer to CTRL-C (nothing running, or the ROM loader)")


def test_a_board_left_holding_the_image_runs_its_application_again(flashed, images):
    board, port = flashed
    repl = Repl(port, board.url)
    repl.enter(soft_reset=False)
    repl.put("main.py", b"print('app running')\n")
    repl.leave()
    flash_image(port, images[0], baud=460800, expect_mac=MAC)
    port.timeout = 5
    assert port.read_until(b"app running\r\n").endswith(b"app running\r\n")
