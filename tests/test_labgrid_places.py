"""labgrid places as boards, against a real labgrid 26 farm on loopback (tests/labgrid_rig.py):
a coordinator, an exporter publishing a virtual board's RFC2217 face as a place's
NetworkSerialPort (and a REST relay as its power), the harness's client as a process.
"""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import serial

from nodemcu_hil.errors import ConfigError, PortBusy, PowerFailed
from nodemcu_hil.identify import verify_board
from nodemcu_hil.labgrid_client import (
    CoordinatorUnreachable,
    LabgridClient,
    LabgridUnavailable,
    PlaceWithoutSerialPort,
    UnknownPlace,
)
from nodemcu_hil.labgrid_places import LabgridPower, PlaceLease
from tests.labgrid_rig import Holder, LabgridFarm, find_labgrid_client, wait_until

CLIENT = find_labgrid_client()
pytestmark = pytest.mark.skipif(CLIENT is None, reason="labgrid-client not found (HIL_LABGRID_CLIENT, PATH, "
                                                       ".venv-labgrid): python3 tasks.py test installs it")

BOARD_MAC = "5c:cf:7f:00:16:02"
PLACE = "nodemcu-1"
BARE_PLACE = "relay-only"  # a place whose resources hold no serial port
EXPORTER = "bench-a"
SHORT_WAIT_S = 1.5  # the contender's lease timeout
SCHEDULER_TICK_S = 15.0  # labgrid 26's coordinator also reschedules every 15 s, whatever happens
HANDOVER_WAIT_S = 10.0  # the release itself must hand over (about a second), not the next tick


@pytest.fixture(scope="module")
def farm(tmp_path_factory, module_board_starter, relay):
    board = module_board_starter(name="lg-board", mac=BOARD_MAC)
    port = int(board.url.rsplit(":", 1)[1])
    farm = LabgridFarm(CLIENT, tmp_path_factory.mktemp("labgrid"))
    try:
        farm.start_exporter(EXPORTER, {
            PLACE: {"NetworkSerialPort": {"host": "127.0.0.1", "port": port, "speed": 115200},
                    "NetworkPowerPort": {"model": "rest", "host": relay.url, "index": 1}},
            BARE_PLACE: {"NetworkPowerPort": {"model": "rest", "host": relay.url, "index": 2}},
        })
        farm.create_place(PLACE, [f"{EXPORTER}/{PLACE}/*"], {"mac": BOARD_MAC, "flash_size": "4MB", "board": "nodemcu"})
        farm.create_place(BARE_PLACE, [f"{EXPORTER}/{BARE_PLACE}/*"], {"board": "relay"})
        farm.board = board
        yield farm
    finally:
        farm.stop()


@pytest.fixture
def lease_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "labgrid-leases"  # one for every run of the module, as on a rig


@pytest.fixture(autouse=True)
def nothing_left_held(request):
    """After each test no place is acquired or reserved (else the next one waits): a reservation
    left waiting would be allocated a free place at once, so the places tell it all."""
    yield
    if "farm" not in request.fixturenames:
        return
    farm = request.getfixturevalue("farm")
    assert [(place.name, place.acquired, place.reservation) for place in farm.admin.places()
            if place.acquired or place.reservation] == []


def holder_of(farm: LabgridFarm, place: str) -> str | None:
    return next(info.acquired for info in farm.admin.places() if info.name == place)


def test_a_place_is_a_board_at_its_rfc2217_url(farm, lease_dir):
    with PlaceLease(farm.client("alice", "rig-a"), place=PLACE, timeout=10, lease_dir=lease_dir) as held:
        record = held.record
        assert record.port == farm.board.url
        assert (record.name, record.mac, record.flash_size) == (PLACE, BOARD_MAC, 4 << 20)
        assert set(record.tags) == {f"mac={BOARD_MAC}", "flash_size=4MB", "board=nodemcu"}
        assert holder_of(farm, PLACE) == "rig-a/alice"
        assert verify_board(record).mac == BOARD_MAC  # esptool through the place's URL reads the board's MAC
    assert holder_of(farm, PLACE) is None


def test_a_place_is_found_by_its_tags(farm, lease_dir):
    with PlaceLease(farm.client("alice", "rig-a"), tags=["board=nodemcu"], timeout=10, lease_dir=lease_dir) as held:
        assert held.record.name == PLACE
        assert held.info.acquired == "rig-a/alice"


def test_a_second_host_waits_is_told_the_holder_then_gets_the_place_once_released(farm, lease_dir):
    holder = Holder(farm, PLACE, lease_dir, user="alice", host="rig-a")
    contender = PlaceLease(farm.client("bob", "rig-b"), place=PLACE, timeout=HANDOVER_WAIT_S, lease_dir=lease_dir)
    outcome: list[object] = []
    waiting = threading.Thread(target=lambda: outcome.append(_try(contender.acquire)))
    try:
        started = time.monotonic()
        with pytest.raises(PortBusy) as busy:
            PlaceLease(farm.client("bob", "rig-b"), place=PLACE, timeout=SHORT_WAIT_S, lease_dir=lease_dir).acquire()
        assert time.monotonic() - started >= SHORT_WAIT_S
        assert "acquired by rig-a/alice" in str(busy.value) and PLACE in str(busy.value)
        assert holder_of(farm, PLACE) == "rig-a/alice"

        waiting.start()
        wait_until(lambda: any(r.owner == "rig-b/bob" and r.state == "waiting" for r in farm.admin.reservations()),
                   10, "bob's reservation waiting")
        holder.release()
        waiting.join(HANDOVER_WAIT_S)
        assert HANDOVER_WAIT_S < SCHEDULER_TICK_S
        assert outcome == [contender]
        assert holder_of(farm, PLACE) == "rig-b/bob"
    finally:
        holder.stop()
        if waiting.ident is not None:  # started
            waiting.join(SCHEDULER_TICK_S + HANDOVER_WAIT_S)
        contender.release()


def _try(action):
    try:
        return action()
    except Exception as exc:  # reported by the assertion on the outcome
        return exc


def test_a_live_run_of_the_same_user_and_host_is_waited_for_a_dead_one_is_cleared(farm, lease_dir):
    holder = Holder(farm, PLACE, lease_dir, user="carol", host="rig-c")
    try:
        with pytest.raises(PortBusy, match="own labgrid name rig-c/carol"):
            PlaceLease(farm.client("carol", "rig-c"), place=PLACE, timeout=SHORT_WAIT_S, lease_dir=lease_dir).acquire()
        assert holder_of(farm, PLACE) == "rig-c/carol"
    finally:
        holder.crash()  # SIGKILL: nothing released
    assert holder_of(farm, PLACE) == "rig-c/carol"  # labgrid keeps a place acquired in the dead run's name
    with PlaceLease(farm.client("carol", "rig-c"), place=PLACE, timeout=10, lease_dir=lease_dir) as held:
        assert held.info.acquired == "rig-c/carol"
        assert [r.owner for r in farm.admin.reservations()] == ["rig-c/carol"]  # the dead run's one is cancelled


def test_power_through_the_places_power_driver(farm, lease_dir, relay):
    client = farm.client("alice", "rig-a")
    with PlaceLease(client, place=PLACE, timeout=10, lease_dir=lease_dir):
        power = LabgridPower(client, PLACE, delay=0.1)
        relay.switches.clear()
        power.on()
        power.cycle()
        assert relay.switches == ["1", "0", "1"]
        assert PLACE in power.description
        relay.broken = True
        try:
            with pytest.raises(PowerFailed, match=f"power off through labgrid failed.*board '{PLACE}'"):
                power.off()
        finally:
            relay.broken = False


def test_power_without_holding_the_place_fails(farm):
    with pytest.raises(PowerFailed, match="not acquired"):
        LabgridPower(farm.client("alice", "rig-a"), PLACE).on()


def test_an_unknown_place_is_named_with_the_known_ones(farm, lease_dir):
    with pytest.raises(UnknownPlace, match=f"no place 'nodemcu-9'.*{PLACE}"):
        PlaceLease(farm.client("alice", "rig-a"), place="nodemcu-9", timeout=10, lease_dir=lease_dir).acquire()
    with pytest.raises(UnknownPlace, match="carries the tags board=esp32"):
        PlaceLease(farm.client("alice", "rig-a"), tags=["board=esp32"], timeout=10, lease_dir=lease_dir).acquire()


def test_malformed_tags_are_refused_before_asking_the_coordinator(farm, lease_dir):
    with pytest.raises(ConfigError, match="tag filter 'Board=nodemcu'"):
        PlaceLease(farm.client("alice", "rig-a"), tags=["Board=nodemcu"], timeout=10, lease_dir=lease_dir)


def test_a_place_without_serial_port_is_refused_and_released(farm, lease_dir):
    with pytest.raises(PlaceWithoutSerialPort, match=f"place {BARE_PLACE} .*has no serial port"):
        PlaceLease(farm.client("alice", "rig-a"), place=BARE_PLACE, timeout=10, lease_dir=lease_dir).acquire()
    assert holder_of(farm, BARE_PLACE) is None


def test_an_unreachable_coordinator_is_named(lease_dir):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    client = LabgridClient(address, program=CLIENT)
    with pytest.raises(CoordinatorUnreachable, match=f"no labgrid coordinator answers at {address}"):
        PlaceLease(client, place=PLACE, timeout=10, lease_dir=lease_dir).acquire()


def test_a_silent_coordinator_does_not_hang_the_run(lease_dir):
    silent = socket.socket()  # accepts connections (the kernel's backlog), never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    client = LabgridClient(f"127.0.0.1:{silent.getsockname()[1]}", program=CLIENT, command_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(CoordinatorUnreachable, match="got no answer .* within 1 s"):
            client.places()
    finally:
        silent.close()
    assert time.monotonic() - started < 5


def test_a_missing_client_says_how_to_install_it(tmp_path):
    with pytest.raises(LabgridUnavailable, match="pipx install labgrid==26.0"):
        LabgridClient("127.0.0.1:20408", program=tmp_path / "labgrid-client")
    with pytest.raises(LabgridUnavailable, match="not on PATH.*HIL_LABGRID_CLIENT"):
        LabgridClient("127.0.0.1:20408", program="labgrid-client-of-nowhere")


def test_labgrid_and_the_harness_keep_their_own_serial_modules():
    """labgrid's pyserial-labgrid lives in labgrid's environment; the harness's is pyserial 3.5."""
    assert importlib.metadata.version("pyserial") == "3.5"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("pyserial-labgrid")
    interpreter = Path(CLIENT).read_text().splitlines()[0].removeprefix("#!").strip()
    theirs = subprocess.run([interpreter, "-c", "import importlib.metadata as m, serial; "
                                                "print(m.version('pyserial-labgrid'), serial.__file__)"],
                            capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert theirs[0].startswith("3.5")
    labgrid_environment = Path(interpreter).parent.parent
    assert Path(theirs[1]).is_relative_to(labgrid_environment)
    assert not Path(serial.__file__).is_relative_to(labgrid_environment)
