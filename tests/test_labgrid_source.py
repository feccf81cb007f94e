"""Issue 16: a boards.toml whose boards are labgrid places. The source asks the coordinator
at start-up (bad places stop the run there), and the `hil` commands hold a place by name
as they lease a board of boards.toml: boards, boards --probe, flash, console, power."""

from __future__ import annotations

import pytest

from nodemcu_hil import config
from nodemcu_hil.cli import main as hil_main
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.labgrid_client import CoordinatorUnreachable, UnknownPlace
from nodemcu_hil.sources import choose_source
from nodemcu_hil.sources.labgrid import LabgridSource
from tests.labgrid_rig import LabgridFarm, find_labgrid_client

CLIENT = find_labgrid_client()
pytestmark = pytest.mark.skipif(CLIENT is None, reason="labgrid-client not found (HIL_LABGRID_CLIENT, PATH, "
                                                       ".venv-labgrid): python3 tasks.py test installs it")

PLACE = "bench-nodemcu"
BOARD_MAC = "5c:cf:7f:00:26:01"
EXPORTER = "source-host"


@pytest.fixture(scope="module")
def farm(tmp_path_factory, module_board_starter, relay):
    board = module_board_starter(name="lg-source-board", mac=BOARD_MAC)
    farm = LabgridFarm(CLIENT, tmp_path_factory.mktemp("labgrid-source"))
    try:
        farm.start_exporter(EXPORTER, {PLACE: {
            "NetworkSerialPort": {"host": "127.0.0.1", "port": int(board.url.rsplit(":", 1)[1]), "speed": 115200},
            "NetworkPowerPort": {"model": "rest", "host": relay.url, "index": 1}}})
        farm.create_place(PLACE, [f"{EXPORTER}/{PLACE}/*"], {"mac": BOARD_MAC, "flash_size": "4MB", "board": "nodemcu"})
        farm.board = board
        yield farm
    finally:
        farm.stop()


@pytest.fixture
def rig(farm, tmp_path, monkeypatch):
    """A runner's environment: a boards.toml naming the coordinator, its own labgrid identity."""
    def write(table: str):
        boards = tmp_path / "boards.toml"
        boards.write_text(f'[labgrid]\ncoordinator = "{farm.address}"\n{table}')
        return boards

    monkeypatch.chdir(tmp_path)
    for name, value in {"HIL_LABGRID_CLIENT": CLIENT, "HIL_LEASE_DIR": str(tmp_path / "leases"),
                        "HIL_LEASE_TIMEOUT": "5", "LG_USERNAME": "ci", "LG_HOSTNAME": "runner-b",
                        "NO_PROXY": "127.0.0.1,localhost", "HIL_REPORT_DIR": str(tmp_path / "reports")}.items():
        monkeypatch.setenv(name, value)
    write(f'places = ["{PLACE}"]\npower = true\n')
    return write


def test_the_file_chooses_labgrid_and_start_up_checks_the_places(rig, farm):
    source = choose_source(config.resolve())
    assert isinstance(source, LabgridSource)
    assert farm.address in source.describe() and "runner-b/ci" in source.describe()
    with pytest.raises(ConfigError, match="2 xdist workers but only 1 labgrid places"):
        source.check_workers(2)
    rig('places = ["no-such-place"]\n')
    with pytest.raises(UnknownPlace, match=f"no-such-place is not on the coordinator.*places there: {PLACE}"):
        choose_source(config.resolve())
    rig('match = ["board=esp32"]\n')
    with pytest.raises(UnknownPlace, match="carries board=esp32"):
        choose_source(config.resolve())
    rig('match = ["board=nodemcu"]\n')
    assert [record.name for record in choose_source(config.resolve()).records()] == [PLACE]


def test_an_unreachable_coordinator_stops_the_run_at_start_up(rig, tmp_path):
    (tmp_path / "boards.toml").write_text(f'[labgrid]\ncoordinator = "127.0.0.1:1"\nplaces = ["{PLACE}"]\n')
    with pytest.raises(CoordinatorUnreachable, match="127.0.0.1:1"):
        choose_source(config.resolve())


def test_hil_commands_take_a_place_by_name(rig, farm, relay, capsys):
    assert hil_main(["boards"]) == 0
    listed = capsys.readouterr().out
    assert PLACE in listed and farm.board.url in listed and BOARD_MAC in listed
    assert hil_main(["boards", "--probe"]) == 0
    probed = capsys.readouterr().out
    assert "ok" in probed and BOARD_MAC in probed
    assert hil_main(["console", PLACE, "--seconds", "0.5"]) == 0
    capsys.readouterr()
    switched = len(relay.switches)
    assert hil_main(["power", PLACE, "cycle"]) == 0
    assert f"labgrid power of place {PLACE}" in capsys.readouterr().out
    assert relay.switches[switched:] == ["0", "1"]
    assert all(place.acquired is None for place in farm.admin.places())


def test_a_place_another_host_holds_is_busy_for_a_command(rig, farm, tmp_path, capsys):
    with _held_by_another(farm, tmp_path):
        assert hil_main(["boards", "--probe"]) == 1
        probed = capsys.readouterr().out
        assert "busy" in probed and "runner-a/alice" in probed


def _held_by_another(farm: LabgridFarm, tmp_path):
    from nodemcu_hil.labgrid_places import PlaceLease

    return PlaceLease(farm.client("alice", "runner-a"), place=PLACE, timeout=10, lease_dir=tmp_path / "other-leases")
