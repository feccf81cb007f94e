"""The HIL suite through a labgrid place, end to end on loopback: a boards.toml whose only
table is `[labgrid]`, a real coordinator and exporter, and the place's NetworkSerialPort
pointing at a kept-running virtual board, as ser2net would expose a NodeMCU on a farm host.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nodemcu_hil.sim import start_board
from nodemcu_hil.sim_rig import make_sim_image
from tests.labgrid_rig import LabgridFarm, find_labgrid_client

CLIENT = find_labgrid_client()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CLIENT is None, reason="labgrid-client not found (HIL_LABGRID_CLIENT, PATH, "
                                                        ".venv-labgrid): python3 tasks.py test installs it")]

ROOT = Path(__file__).resolve().parents[1]
PLACE = "farm-nodemcu"
EXPORTER = "farm-host"
BOARD_MAC = "5c:cf:7f:0a:16:e2"
WIFI_SSID = "farm-ap"
WIFI_PASSWORD = "farm-password-3"
SUITE_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def farm_rig(tmp_path_factory):
    home = tmp_path_factory.mktemp("farm")
    image = make_sim_image(home)
    world = home / "world.toml"
    world.write_text(f'[[wifi.ap]]\nssid = "{WIFI_SSID}"\npassword = "{WIFI_PASSWORD}"\n')
    with start_board(name="farm-board", mac=BOARD_MAC, state_dir=home / "board", world=world,
                     log=home / "sim.log") as board:
        farm = LabgridFarm(CLIENT, home)
        try:
            farm.start_exporter(EXPORTER, {PLACE: {"NetworkSerialPort": {
                "host": "127.0.0.1", "port": int(board.url.rsplit(":", 1)[1]), "speed": 115200}}})
            farm.create_place(PLACE, [f"{EXPORTER}/{PLACE}/*"], {"mac": BOARD_MAC, "flash_size": "4MB"})
            boards = home / "boards.toml"
            boards.write_text(f'[labgrid]\ncoordinator = "{farm.address}"\nplaces = ["{PLACE}"]\n')
            yield {"home": home, "farm": farm, "boards": boards, "image": image}
        finally:
            farm.stop()


def test_the_hil_suite_passes_through_a_labgrid_place(farm_rig):
    """The Wi-Fi world tests skip, as on any rig: the access point is not the harness's there."""
    reports = farm_rig["home"] / "reports"
    env = {**os.environ, "HIL_BOARDS_FILE": str(farm_rig["boards"]), "HIL_FIRMWARE_IMAGE": str(farm_rig["image"]),
           "HIL_WIFI_SSID": WIFI_SSID, "HIL_WIFI_PASSWORD": WIFI_PASSWORD, "HIL_BROKER_BIND": "127.0.0.1",
           "HIL_LEASE_DIR": str(farm_rig["home"] / "leases"), "HIL_LABGRID_CLIENT": CLIENT,
           "LG_HOSTNAME": "runner-a", "LG_USERNAME": "hil"}
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", "tests_hil", "-n", "0", "-p", "no:cacheprovider", "-q",
               "--hil-report-dir", str(reports)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed", result.stdout), result.stdout[-2000:]
    assert (reports / "serial" / f"{PLACE}.log").exists()  # the board is the place
    assert re.search(r"leased rfc2217://127\.0\.0\.1:\d+ \(labgrid\)", (reports / "junit.xml").read_text())
    farm = farm_rig["farm"]
    assert [(place.acquired, place.reservation) for place in farm.admin.places()] == [(None, None)]
