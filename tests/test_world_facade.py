"""The virtual world as typed methods: `nodemcu_hil.sim.World` changes what it says, the
harness's `WorldControl` puts each change on the timeline, and the HIL suite spells no
control command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodemcu_hil.board import Board
from nodemcu_hil.sim import World
from nodemcu_hil.sim.control import ControlClient
from nodemcu_hil.sim.world import World as VirtualWorld
from nodemcu_hil.sim.world_control import commands
from nodemcu_hil.sim_rig import WorldControl
from nodemcu_hil.secrets import Secret
from nodemcu_hil.timeline import Timeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def world(served_world):
    virtual, address = served_world
    client = ControlClient(address)
    yield virtual, client
    client.close()


def test_each_method_changes_the_world(world):
    virtual, client = world
    facade = World(client)
    facade.add_access_point("lab", "pw")
    facade.add_access_point("open-one")
    assert [(a.ssid, a.password, a.present) for a in virtual.wifi.access_points()] == [("lab", "pw", True),
                                                                                       ("open-one", "", True)]
    facade.set_access_point_present("lab", False)
    facade.remove_access_point("open-one")
    facade.set_link(False)
    facade.blackhole(True)
    facade.set_latency(30)
    facade.drive_pin(12, 1)
    state = facade.state()
    assert state["wifi"]["aps"] == [{"ssid": "lab", "present": False}] and state["wifi"]["link_up"] is False
    assert (state["net"]["blackhole"], state["net"]["latency_ms"]) == (True, 30)
    assert facade.pin_level(12) == 1 and facade.pin_history(12)[-1]["level"] == 1
    facade.drive_pin(12, None)
    assert virtual.gpio.describe(12)["driven"] is None
    assert facade.counters() == {"wifi_joins": 0, "tcp_connections": 0, "wifi_link_losses": 0}


def test_world_control_logs_changes_not_reads_and_masks_the_password(world):
    virtual, client = world
    timeline = Timeline()
    control = WorldControl(client, timeline, "vnode")
    control.add_access_point("lab", Secret("hunter2"))
    control.set_link(False)
    control.blackhole(True)
    control.set_latency(5)
    control.drive_pin(4, 0)
    control.set_access_point_present("lab", False)
    control.remove_access_point("lab")
    before_reads = len(timeline.events())
    assert control.pin_level(4) == 0 and control.counters()["wifi_joins"] == 0 and control.state()
    texts = [event.text for event in timeline.events()]
    assert len(texts) == before_reads == 7 and all(text.startswith("world: ") for text in texts)
    assert not any("hunter2" in text for text in texts) and "***" in texts[0]
    assert not virtual.wifi.link_up and virtual.net.blackhole


def test_board_wifi_is_typed():
    assert Board.__dataclass_fields__["wifi"].type == "WorldControl | None"


def world_command_names() -> set[str]:
    return set(commands(VirtualWorld()))


def command_strings_in(text: str) -> list[str]:
    names = world_command_names()
    return [literal for literal in re.findall(r"""["']([\w.]+)["']""", text) if literal in names]


def test_the_hil_suite_spells_no_world_command():
    offenders = {}
    for path in sorted((ROOT / "tests_hil").glob("*.py")):
        text = path.read_text()
        found = command_strings_in(text) + re.findall(r"\.call\(", text)
        if found:
            offenders[path.name] = found
    assert offenders == {}, "tests_hil must change the world through Board.wifi's methods"


def test_the_command_scan_sees_a_command_string():
    assert command_strings_in('world.call("wifi.ap.add", ssid="x")') == ["wifi.ap.add"]
    assert command_strings_in("world.add_access_point('x')") == []
