"""The recovery ladder against a virtual board that misbehaves in each way it can."""

from __future__ import annotations

import pytest

from nodemcu_hil.board import connect_board, disconnect_board
from nodemcu_hil.bringup import flash_board
from nodemcu_hil.config import resolve
from nodemcu_hil.gpio import NoPins
from nodemcu_hil.recovery import RUNG_CTRL_C, RUNG_REFLASH, OutOfService, climb
from nodemcu_hil.sim_rig import virtual_mac
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.timeline import Timeline
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import make_image

BUSY_LOOP = b"while True:\n    pass\n"  # silent: nothing printed before the loop
CTRL_C_PROOF = b"import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n"


@pytest.fixture
def board(tmp_path):
    image = tmp_path / "fw.bin"
    make_image(image, version="v1.28.0")
    with start_board(name="ladder", flash=tmp_path / "flash.bin", mac=virtual_mac("ladder"),
                     state_dir=tmp_path) as process:
        record = BoardRecord(name="ladder", port=process.url, mac=virtual_mac("ladder"), virtual=True)
        connected = connect_board(record, timeline=Timeline(), pins=NoPins("ladder"), log_dir=tmp_path / "serial")
        settings = resolve(env={"HIL_REPORT_DIR": str(tmp_path)})
        flash_board(connected, image, settings)
        connected.process = process
        yield connected, settings
        disconnect_board(connected)


def install_main(board, code: bytes) -> None:
    with board.repl() as repl:
        repl.put("main.py", code)
    board.hard_reset()


def actions(board) -> list[str]:
    return [event.text for event in board.timeline.events() if event.text.startswith("recovery:")]


def test_busy_main_py_stops_at_ctrl_c(board):
    connected, settings = board
    install_main(connected, BUSY_LOOP)
    result = climb(connected, boot_timeout=settings.boot_timeout, reflash=pytest.fail)
    assert result.rung == RUNG_CTRL_C


def test_ctrl_c_proof_firmware_needs_a_reflash(board):
    connected, settings = board
    install_main(connected, CTRL_C_PROOF)
    reflashed = []
    result = climb(connected, boot_timeout=settings.boot_timeout,
                   reflash=lambda: reflashed.append(flash_board(connected, connected.image_path,
                                                                settings.with_overrides({"force_flash": True}))))
    assert result.rung == RUNG_REFLASH and len(reflashed) == 1
    assert [line.split(" (")[0] for line in actions(connected)][:3] == [
        "recovery: trying CTRL-C", "recovery: CTRL-C did not help", "recovery: trying soft reset"]
    with connected.repl() as repl:
        assert repl.eval("1 + 1") == 2


def test_dead_board_goes_out_of_service_and_stays_there(board):
    connected, settings = board
    connected.process.stop()
    with pytest.raises(OutOfService, match="did not recover"):
        climb(connected, boot_timeout=2, reflash=lambda: (_ for _ in ()).throw(OutOfService("no port")))
    assert connected.out_of_service
    with pytest.raises(OutOfService, match="out of service since earlier"):
        climb(connected, boot_timeout=2, reflash=pytest.fail)
