"""A bench rig's daily path: one board reused run after run, in hardware mode.

A `hil sim` board is kept running with its flash file between runs and listed in a
boards.toml as an RFC2217 URL, exactly as a NodeMCU behind ser2net would be. The HIL
suite then runs on it twice without forcing a flash (the second run finds the firmware
already flashed and running), and once more after a CTRL-C-proof firmware was left on
the board, which only the recovery ladder's reflash can clear.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nodemcu_hil.repl import Repl
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim_rig import make_sim_image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RIG_MAC = "5c:cf:7f:0a:11:5e"
WIFI_SSID = "rig-ap"
WIFI_PASSWORD = "rig-password-7"
JOIN_DELAY_S = 0.5  # a quick access point: boot.py often finds Wi-Fi already up after a soft reset
SUITE_TIMEOUT_S = 240
CTRL_C_PROOF_MAIN = b"import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """A kept-running virtual board with its boards.toml, image and world, as on a rig."""
    home = tmp_path_factory.mktemp("rig")
    image = make_sim_image(home)
    world = home / "world.toml"
    world.write_text(f'[wifi]\njoin_delay_s = {JOIN_DELAY_S}\n[[wifi.ap]]\nssid = "{WIFI_SSID}"\n'
                     f'password = "{WIFI_PASSWORD}"\n')
    with start_board(name="rig-board", mac=RIG_MAC, state_dir=home / "board", world=world,
                     log=home / "sim.log") as process:
        url = process.url
        boards = home / "boards.toml"
        boards.write_text(f'[[board]]\nname = "rig-board"\nport = "{url}"\nmac = "{RIG_MAC}"\n')
        yield {"home": home, "url": url, "boards": boards, "image": image}


def run_suite(rig, name: str, *selection: str) -> tuple[subprocess.CompletedProcess, Path]:
    reports = rig["home"] / name
    env = {**os.environ, "HIL_BOARDS_FILE": str(rig["boards"]), "HIL_FIRMWARE_IMAGE": str(rig["image"]),
           "HIL_WIFI_SSID": WIFI_SSID, "HIL_WIFI_PASSWORD": WIFI_PASSWORD, "HIL_BROKER_BIND": "127.0.0.1",
           "HIL_LEASE_DIR": str(rig["home"] / "leases")}
    env.pop("HIL_FORCE_FLASH", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", *(selection or ("tests_hil",)), "-n", "0", "-p", "no:cacheprovider",
               "-q", "--hil-report-dir", str(reports)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S)
    return result, reports


def assert_passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed", result.stdout), result.stdout[-2000:]


def junit_timelines(reports: Path) -> str:
    """Every test's timeline, as the JUnit report carries it (property `timeline`)."""
    root = ET.parse(reports / "junit.xml").getroot()
    return "\n".join(prop.get("value", "") for prop in root.iter("property") if prop.get("name") == "timeline")


def test_the_suite_passes_twice_on_a_reused_board_then_recovers_a_hung_one(rig):
    first, _ = run_suite(rig, "run1")
    assert_passed(first)

    second, reports = run_suite(rig, "run2")
    assert_passed(second)
    serial_log = (reports / "serial" / "rig-board.log").read_text()
    assert "main: waiting for wifi" in serial_log.split("soft reboot")[0], \
        "the second run should have met the deployed firmware already running after its reset"

    with Repl.open(rig["url"], board="rig-board") as repl:
        repl.enter(soft_reset=False)
        repl.put("main.py", CTRL_C_PROOF_MAIN)
        repl.leave()

    third, reports = run_suite(rig, "run3", "tests_hil/test_boot.py")
    assert_passed(third)
    serial_log = (reports / "serial" / "rig-board.log").read_text()
    assert "recovery: the board answers again after reflash" in junit_timelines(reports)
    assert "main: waiting for wifi" in serial_log
