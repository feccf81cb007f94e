"""The recovery ladder's power-cycle rung against a virtual board whose USB-serial bridge
hangs (issue 16, item 3): no reset reaches it; a power cycle does, when the board has a
switch; without one the board goes out of service saying what to wire.
"""

from __future__ import annotations

import shlex
import sys

import pytest

from nodemcu_hil.board import connect_board, disconnect_board
from nodemcu_hil.errors import FlashFailed
from nodemcu_hil.gpio import NoPins
from nodemcu_hil.inventory import load_inventory
from nodemcu_hil.power import WIRING_HINT, power_switch_for
from nodemcu_hil.recovery import NO_POWER_CONTROL, RUNG_HARD_RESET, RUNG_POWER_CYCLE, OutOfService, climb
from nodemcu_hil.timeline import Timeline
from tests.power_rig import BOOT_TIMEOUT_S, flashed_flash

pytestmark = pytest.mark.slow
pytest.importorskip("micropython_run")

MAC = "5c:cf:7f:00:00:0c"


def record_for(tmp_path, process, *, with_power: bool, port: str | None = None):
    """The board as boards.toml lists it; its switch drives the sim's power with `hil sim --power`."""
    switch = f"{shlex.quote(sys.executable)} -m nodemcu_hil.cli sim --control {process.control_address} --power"
    power = f"power = {{ on = '''{switch} on''', off = '''{switch} off''' }}\n" if with_power else ""
    path = tmp_path / "boards.toml"
    path.write_text(f'[[board]]\nname = "stuck"\nport = "{port or process.url}"\nmac = "{MAC}"\n{power}')
    (record,) = load_inventory(path)
    return record


@pytest.fixture
def stuck_board(tmp_path, start_virtual_board):
    """`stuck_board(with_power=...)`: a connected Board whose bridge then hangs."""
    connected = []

    def make(*, with_power: bool):
        process = start_virtual_board(name="stuck", flash=flashed_flash(tmp_path), mac=MAC)
        record = record_for(tmp_path, process, with_power=with_power)
        board = connect_board(record, timeline=Timeline(), pins=NoPins("stuck"), log_dir=tmp_path / "serial",
                              power=power_switch_for(record))
        connected.append(board)
        process.control.stick_bridge()
        return board
    yield make
    for board in connected:
        disconnect_board(board)


def recovery_actions(board) -> list[str]:
    return [event.text for event in board.timeline.events() if event.text.startswith("recovery:")]


def no_reflash() -> None:
    raise FlashFailed("the ROM loader does not answer through the hung bridge")


def test_a_stuck_bridge_is_cleared_by_the_power_rung_named_in_the_timeline(stuck_board):
    board = stuck_board(with_power=True)
    result = climb(board, boot_timeout=BOOT_TIMEOUT_S, reflash=pytest.fail)
    assert result.rung == RUNG_POWER_CYCLE
    assert any(entry.startswith(f"{RUNG_HARD_RESET}:") for entry in result.tried)
    actions = recovery_actions(board)
    assert "recovery: trying power cycle" in actions
    assert actions[-1] == "recovery: the board answers again after power cycle"
    with board.repl() as repl:
        assert repl.eval("6 * 7") == 42


def test_without_power_control_the_board_goes_out_of_service_saying_what_to_wire(stuck_board):
    board = stuck_board(with_power=False)
    with pytest.raises(OutOfService) as error:
        climb(board, boot_timeout=BOOT_TIMEOUT_S, reflash=no_reflash)
    assert WIRING_HINT in str(error.value)
    assert f"{RUNG_POWER_CYCLE}: skipped ({NO_POWER_CONTROL})" in str(error.value)
    assert f"recovery: {RUNG_POWER_CYCLE} skipped ({NO_POWER_CONTROL})" in recovery_actions(board)


def test_a_local_port_is_reopened_after_the_power_cycle(tmp_path, start_virtual_board):
    """A USB-serial device vanishes with the power: the console closes it, the switch cycles,
    the port is opened again and CTRL-C reaches the prompt (here the PTY face stands in)."""
    process = start_virtual_board(name="stuck", flash=flashed_flash(tmp_path), mac=MAC, pty=tmp_path / "ttyUSB-stuck")
    record = record_for(tmp_path, process, with_power=True, port=str(tmp_path / "ttyUSB-stuck"))
    board = connect_board(record, timeline=Timeline(), pins=NoPins("stuck"), log_dir=tmp_path / "serial",
                          power=power_switch_for(record))
    try:
        old_port = board.console.port
        process.control.stick_bridge()
        board.power_cycle(BOOT_TIMEOUT_S)
        assert board.console.port is not old_port and not old_port.is_open
        assert any(event.text.endswith("open again") for event in board.timeline.events())
        with board.repl() as repl:
            assert repl.eval("6 * 7") == 42
    finally:
        disconnect_board(board)


def test_a_board_hung_before_the_session_is_power_cycled_at_start_up(tmp_path, start_virtual_board, monkeypatch):
    """A rig's board whose bridge hung between runs: identification fails, the source's
    switch cycles it once, and the session gets the board (the step is on the timeline)."""
    from nodemcu_hil import bringup, config
    from nodemcu_hil.errors import BoardNotFound
    from nodemcu_hil.sources import choose_source

    process = start_virtual_board(name="stuck", flash=flashed_flash(tmp_path), mac=MAC)
    process.control.stick_bridge()
    monkeypatch.setenv("HIL_REPORT_DIR", str(tmp_path / "reports"))
    for with_power in (False, True):
        record_for(tmp_path, process, with_power=with_power)
        settings = config.resolve(env={"HIL_BOARDS_FILE": str(tmp_path / "boards.toml"),
                                       "HIL_LEASE_DIR": str(tmp_path / "leases"),
                                       "HIL_REPORT_DIR": str(tmp_path / "reports")})
        timeline = Timeline()
        session = bringup.session_board(choose_source(settings), settings, worker="gw0", worker_index=0,
                                        state_dir=tmp_path / "state", timeline=timeline)
        if not with_power:
            with pytest.raises(BoardNotFound, match="could not talk to the ROM loader"):
                session.__enter__()
            continue
        with session as board:
            assert board.identity.mac == MAC
        cycled = [event.text for event in timeline.events() if "no answer at start-up" in event.text]
        assert cycled and "power cycle" in cycled[0]
