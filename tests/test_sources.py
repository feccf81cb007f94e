"""Issue 16, item 1: one seam for where boards come from. Bring-up and the plugin ask the
run's source; which source it is, is decided in one place from the settings and the
boards file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nodemcu_hil import config, sources
from nodemcu_hil.errors import BoardNotFound, ConfigError, InventoryError, PortBusy, PowerFailed
from nodemcu_hil.sources import LocalSource, VirtualSource, choose_source

HARNESS = Path(__file__).resolve().parents[1] / "nodemcu_hil"
TWO_BOARDS = """
[[board]]
name = "nodemcu-1"
port = "/dev/ttyUSB0"
tags = ["bench-a"]

[[board]]
name = "nodemcu-2"
port = "rfc2217://127.0.0.1:4001"
"""


def settings_for(tmp_path: Path, text: str | None = None, **env: str):
    path = tmp_path / "boards.toml"
    if text is not None:
        path.write_text(text)
    given = {"HIL_BOARDS_FILE": str(path), "HIL_LEASE_DIR": str(tmp_path / "leases"), **env}
    return config.resolve(env=given)


def test_without_a_boards_file_the_boards_are_virtual(tmp_path):
    source = choose_source(settings_for(tmp_path))
    assert isinstance(source, VirtualSource) and source.records() == []
    assert "no boards file" in source.describe()


def test_the_boards_file_gives_its_boards_and_the_setting_selects(tmp_path):
    source = choose_source(settings_for(tmp_path, TWO_BOARDS))
    assert isinstance(source, LocalSource)
    assert [b.name for b in source.records()] == ["nodemcu-1", "nodemcu-2"]
    chosen = choose_source(settings_for(tmp_path, TWO_BOARDS, HIL_BOARDS="bench-a"))
    assert [b.name for b in chosen.records()] == ["nodemcu-1"]


def test_a_boards_file_with_both_kinds_is_refused_naming_both(tmp_path):
    text = TWO_BOARDS + '\n[labgrid]\ncoordinator = "127.0.0.1:20408"\nplaces = ["nodemcu-a"]\n'
    with pytest.raises(InventoryError, match=r"both \[\[board\]\] tables and a \[labgrid\] table"):
        choose_source(settings_for(tmp_path, text))


def test_mode_hardware_without_a_file_and_an_empty_file_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        choose_source(settings_for(tmp_path, HIL_MODE="hardware"))
    with pytest.raises(ConfigError, match="lists no boards"):
        choose_source(settings_for(tmp_path, "# nothing yet\n"))


def test_more_workers_than_boards_is_refused_and_virtual_boards_have_no_limit(tmp_path):
    choose_source(settings_for(tmp_path)).check_workers(8)
    local = choose_source(settings_for(tmp_path, TWO_BOARDS))
    local.check_workers(2)
    with pytest.raises(ConfigError, match="3 xdist workers but only 2 boards"):
        local.check_workers(3)


def test_a_named_board_is_leased_and_excludes_a_second_holder(tmp_path):
    settings = settings_for(tmp_path, TWO_BOARDS)
    source = choose_source(settings)
    with source.lease_named("nodemcu-2", settings) as record:
        assert record.port == "rfc2217://127.0.0.1:4001"
        with pytest.raises(PortBusy, match="leased by"):
            with choose_source(settings).lease_named("nodemcu-2", settings, timeout=0.1):
                pass
    with source.lease_named("nodemcu-2", settings, timeout=0.1):
        pass
    with pytest.raises(BoardNotFound, match="known boards: nodemcu-1, nodemcu-2"):
        with source.lease_named("nodemcu-9", settings):
            pass
    with pytest.raises(BoardNotFound, match="--port URL"):
        choose_source(settings_for(tmp_path / "none")).lease_named("nodemcu-1", settings)


def test_virtual_boards_reach_the_broker_on_loopback_unless_told(tmp_path):
    assert VirtualSource("test").broker_address(settings_for(tmp_path)) == "127.0.0.1"
    told = settings_for(tmp_path, HIL_BROKER_BIND="127.0.0.2")
    assert VirtualSource("test").broker_address(told) == "127.0.0.2"


@pytest.mark.parametrize("module", ["bringup.py", "plugin.py", "session.py", "commands/target.py"])
def test_bring_up_and_the_plugin_never_ask_which_source_it_is(module):
    """The sim/rig branch lives in the sources: these modules name no kind of board."""
    tree = ast.parse((HARNESS / module).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"nodemcu_hil.sim_rig", "nodemcu_hil.sim", "nodemcu_hil.lease_first_free"}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not names & {"MODE_HARDWARE", "MODE_SIM", "virtual_board", "VirtualSource", "LocalSource"}


def test_each_kind_of_boards_file_has_one_row():
    assert set(sources.RIG_SOURCES) == {"board", "labgrid"}


def test_a_power_command_whose_program_is_missing_stops_the_run_at_start_up(tmp_path):
    text = TWO_BOARDS + 'power = { on = "no-such-usb-switch on", off = "uhubctl -a off" }\n'
    with pytest.raises(PowerFailed, match="'no-such-usb-switch' is not installed.*board 'nodemcu-2'"):
        choose_source(settings_for(tmp_path, text))


@pytest.mark.parametrize("given, expected", [(None, 1.5), ("0.2", 0.2)])
def test_a_virtual_board_joins_as_quickly_as_the_setting_says_else_as_the_world_does(tmp_path, given, expected):
    from contextlib import ExitStack

    from nodemcu_hil.sim import ControlClient
    from nodemcu_hil.timeline import Timeline

    env = {} if given is None else {"HIL_SIM_JOIN_DELAY": given}
    settings = settings_for(tmp_path, **env)
    with ExitStack() as stack:
        sourced = VirtualSource("test").claim(settings, worker="gw0", worker_index=0, state_dir=tmp_path,
                                              timeline=Timeline(), stack=stack)
        state = ControlClient(sourced.record.control).call("world.state")
    assert state["wifi"]["join_delay_s"] == expected
