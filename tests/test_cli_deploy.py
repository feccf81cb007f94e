"""`hil deploy --board` on a virtual board listed in a boards.toml: the MAC is checked
before anything is written, and the firmware gets the same settings the suite gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodemcu_hil import bringup, config
from nodemcu_hil.repl import Repl
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import build_image

MICROPYTHON = Path(sys.executable).with_name("micropython")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not MICROPYTHON.exists(), reason="MicroPython unix port not installed ([sim] extra)")]

HIL = [sys.executable, "-m", "nodemcu_hil.cli"]
ROOT = Path(__file__).resolve().parents[1]
BOARD_MAC = "5c:cf:7f:de:91:02"
OTHER_MAC = "5c:cf:7f:de:91:03"
FLASH_SIZE = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def flashed_board(tmp_path_factory):
    home = tmp_path_factory.mktemp("deploy-cli")
    image = build_image("v1.28.0", "2026-04-06")
    flash = home / "flash.bin"
    flash.write_bytes(image + b"\xff" * (FLASH_SIZE - len(image)))
    with start_board(name="deploy-cli", mac=BOARD_MAC, flash=flash, state_dir=home / "state",
                     log=home / "board.log") as process:
        yield home, process


def environment(home: Path, **env: str) -> dict[str, str]:
    return {**os.environ, "HIL_BOARDS_FILE": str(home / "boards.toml"), "HIL_LEASE_DIR": str(home / "leases"), **env}


def hil_deploy(home: Path, url: str, mac: str, **env: str) -> subprocess.CompletedProcess:
    (home / "boards.toml").write_text(f'[[board]]\nname = "bench"\nport = "{url}"\nmac = "{mac}"\n')
    return subprocess.run([*HIL, "deploy", "--board", "bench", "--broker-host", "127.0.0.1", "--no-reset"],
                          capture_output=True, text=True, env=environment(home, **env), timeout=120, cwd=ROOT)


def board_files(url: str) -> dict[str, bytes]:
    with Repl.open(url, board="deploy-cli") as repl:
        repl.enter(soft_reset=False)
        names = repl.eval("__import__('os').listdir()")
        files = {name: repl.get(name) for name in names if name.endswith(".json")}
        repl.leave()
    return files


def test_a_board_with_another_mac_is_refused_and_nothing_is_written(flashed_board):
    home, process = flashed_board
    result = hil_deploy(home, process.url, OTHER_MAC)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"found MAC {BOARD_MAC}, the inventory expects {OTHER_MAC}" in result.stderr
    assert "config.json" not in board_files(process.url)


def test_the_deploy_writes_the_settings_the_suite_would(flashed_board):
    home, process = flashed_board
    result = hil_deploy(home, process.url, BOARD_MAC, HIL_TELEMETRY_PERIOD="4", HIL_MQTT_KEEPALIVE="11")
    assert result.returncode == 0, result.stdout + result.stderr
    written = board_files(process.url)["config.json"]
    assert (json.loads(written)["telemetry_s"], json.loads(written)["keepalive_s"]) == (4, 11)
    # byte for byte what the fixtures' bring-up builds with the same settings and broker
    settings = config.resolve(env=environment(home, HIL_TELEMETRY_PERIOD="4", HIL_MQTT_KEEPALIVE="11"),
                              ini=config.read_ini_file(ROOT / "pytest.ini"))
    assert written == bringup.config_files(settings, "127.0.0.1", 1883, settings.topic_prefix, root=ROOT)["config.json"]
