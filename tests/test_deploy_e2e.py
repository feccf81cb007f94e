"""End to end on the virtual board: deploy, join Wi-Fi, publish, answer a GPIO command;
a wrong Wi-Fi password is reported, retried, and CTRL-C still gives the REPL."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from fixtures.device_config import config_bytes
from nodemcu_hil import deploy, packages
from nodemcu_hil.broker import HilBroker
from nodemcu_hil.errors import HilError
from nodemcu_hil.mqtt import MqttClient
from nodemcu_hil.repl import Repl
from nodemcu_hil.secrets import Secret
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import build_image

MICROPYTHON = Path(sys.executable).with_name("micropython")
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_under_test"
pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(), reason="MicroPython unix port not installed ([sim] extra)")

WIFI_PASSWORD = "pw-never-printed-42"
SETTINGS = {"wifi_ssid": "lab", "wifi_password": Secret(WIFI_PASSWORD), "broker_host": "127.0.0.1",
            "broker_port": 1883, "topic_prefix": "hil", "gpio_allow": [2, 4]}

E2E_SSID = "hil-e2e-ap"
E2E_TUNING = {"telemetry_s": 1, "keepalive_s": 4, "wifi_timeout_s": 15}


@pytest.fixture
def virtual_board(tmp_path):
    image = build_image("v1.28.0", "2026-04-06")
    flash = tmp_path / "flash.bin"
    flash.write_bytes(image + b"\xff" * (4 * 1024 * 1024 - len(image)))   # as if flashed
    process = start_board(name="deploy-e2e", flash=flash, state_dir=tmp_path / "state", log=tmp_path / "board.log")
    try:
        process.control.call("wifi.ap.add", ssid=E2E_SSID, password=WIFI_PASSWORD)
        yield process
    finally:
        process.stop()


@pytest.fixture
def real_libraries():
    try:
        return packages.fetch_all(packages.read_manifest(packages.manifest_path(FIRMWARE)))
    except HilError as exc:
        pytest.skip(f"device libraries unavailable (offline and not cached): {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("mpy", [False, True], ids=["source", "mpy"])
def test_end_to_end_deploy_join_publish_and_answer_gpio(virtual_board, real_libraries, tmp_path, mpy):
    with HilBroker() as broker:
        address = broker.start()
        settings = dict(SETTINGS, wifi_ssid=E2E_SSID, broker_port=address.port, topic_prefix="e2e")
        files = deploy.local_files(FIRMWARE, {"config.json": config_bytes(settings, **E2E_TUNING)},
                                   libraries=real_libraries, mpy=mpy, cache=tmp_path / "cache")
        with MqttClient(address.host, address.port, "e2e-observer") as observer:
            observer.subscribe("e2e/#")
            lines: list[str] = []
            with Repl.open(virtual_board.url, board="deploy-e2e") as repl:
                result = deploy.deploy(repl, files, out=lines.append, secrets=[WIFI_PASSWORD])
            assert result.plan.put and WIFI_PASSWORD not in "\n".join(lines)

            online = observer.wait_for("e2e/+/status", lambda m: m.payload == b"online", timeout=30)
            base = online.topic.rsplit("/", 1)[0]
            tele = observer.wait_for(f"{base}/telemetry", timeout=10)
            body = __import__("json").loads(tele.payload)
            assert body["version"] and body["reconnects"] == 0
            assert body["heap_free"] > 8000, f"too little heap left on a 38 KB ESP8266: {body}"
            print(f"free heap after start ({'mpy' if mpy else 'source'}): {body['heap_free']} B")

            observer.publish(f"{base}/gpio/2/set", b"1")
            state = observer.wait_for(f"{base}/gpio/2/state", timeout=10)
            assert state.payload == b"1"
            assert virtual_board.control.call("gpio.read", pin=2)["level"] == 1

            observer.publish(f"{base}/gpio/7/set", b"1")
            error = observer.wait_for(f"{base}/error", timeout=10)
            assert b"pin not allowed" in error.payload

        with Repl.open(virtual_board.url, board="deploy-e2e") as repl:
            again = deploy.deploy(repl, files, out=lines.append, reset=False)
        assert again.plan.put == [] and again.plan.remove == []


@pytest.mark.slow
def test_wrong_wifi_password_is_reported_retried_and_ctrl_c_gives_the_repl(virtual_board, real_libraries):
    settings = dict(SETTINGS, wifi_ssid=E2E_SSID, wifi_password=Secret("not-the-password"))
    files = deploy.local_files(FIRMWARE, {"config.json": config_bytes(settings, **E2E_TUNING)},
                               libraries=real_libraries)
    with Repl.open(virtual_board.url, board="deploy-e2e") as repl:
        deploy.deploy(repl, files, out=lambda line: None)
        started = time.monotonic()
        console = repl.read_until(b"CTRL-C for the REPL", timeout=E2E_TUNING["wifi_timeout_s"] + 5)
        assert b"wifi failed: wrong password" in console
        assert time.monotonic() - started < E2E_TUNING["wifi_timeout_s"]   # a wrong password ends the wait early
        repl.read_until(b"wifi: join failed (status 2); trying again", timeout=10)
        repl.enter(soft_reset=False)
        assert repl.eval("1 + 1") == 2
