"""The firmware's config seam: the setting device_config names a builder
`function(DeviceContext) -> dict[str, bytes]`; this repository's (fixtures.device_config)
writes firmware_under_test's config.json: deterministic, secrets real on the board and
masked everywhere else, bad settings refused; a bad builder is an error naming the setting."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from fixtures.device_config import RECONNECT_BACKOFF_BASE_MS, TUNING, build, config_bytes, describe
from nodemcu_hil import config
from nodemcu_hil.device_config import DeviceContext, build_files, generic_files
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.secrets import Secret

WIFI_PASSWORD = "pw-never-printed-42"
SETTINGS = {"wifi_ssid": "lab", "wifi_password": Secret(WIFI_PASSWORD), "broker_host": "127.0.0.1",
            "broker_port": 1883, "topic_prefix": "hil", "gpio_allow": [2, 4]}


def context(**env: str) -> DeviceContext:
    settings = config.resolve(env={"HIL_WIFI_PASSWORD": WIFI_PASSWORD, **env})
    return DeviceContext(settings=settings, broker_host="10.1.2.3", broker_port=1884, topic_prefix="hil/gw0")


def test_device_config_is_deterministic_json_with_real_secrets():
    data = config_bytes(SETTINGS)
    assert data == config_bytes(dict(reversed(list(SETTINGS.items()))))
    firmware = json.loads(data)
    assert firmware["wifi_password"] == WIFI_PASSWORD and firmware["gpio_allow"] == [2, 4]
    assert firmware["broker_host"] == "127.0.0.1" and firmware["topic_prefix"] == "hil"
    assert describe(SETTINGS)["wifi_password"] == "***"
    assert WIFI_PASSWORD not in repr(describe(SETTINGS))


def test_device_config_tuning_is_whole_numbers_for_the_board():
    firmware = json.loads(config_bytes(SETTINGS, telemetry_s=2.0, keepalive_s="4"))
    assert firmware["telemetry_s"] == 2 and type(firmware["telemetry_s"]) is int and firmware["keepalive_s"] == 4
    with pytest.raises(ConfigError, match="at least 1"):
        config_bytes(SETTINGS, keepalive_s=0)
    with pytest.raises(ConfigError, match="unknown firmware tuning"):
        config_bytes(SETTINGS, colour="red")


@pytest.mark.parametrize("change, message", [
    ({"gpio_allow": [2, 6]}, "flash pins"),
    ({"gpio_allow": [17]}, "does not have"),
    ({"wifi_ssid": ""}, "wifi_ssid is empty"),
    ({"broker_host": None}, "broker_host is empty"),
    ({"broker_port": 70000}, "outside"),
    ({"topic_prefix": "a/#"}, "wildcards"),
])
def test_device_config_refuses_bad_settings(change, message):
    with pytest.raises(ConfigError, match=message):
        config_bytes(dict(SETTINGS, **change))


def test_this_firmwares_builder_maps_the_settings_to_its_keys():
    device = context(HIL_TELEMETRY_PERIOD="7", HIL_MQTT_KEEPALIVE="9", HIL_WIFI_TIMEOUT="12", HIL_GPIO_ALLOW="5,4")
    files = build(device)
    assert list(files) == ["config.json"]
    firmware = json.loads(files["config.json"])
    assert (firmware["telemetry_s"], firmware["keepalive_s"], firmware["wifi_timeout_s"]) == (7, 9, 12)
    assert (firmware["broker_host"], firmware["broker_port"], firmware["topic_prefix"]) == ("10.1.2.3", 1884, "hil/gw0")
    assert firmware["gpio_allow"] == [4, 5] and firmware["wifi_password"] == WIFI_PASSWORD
    assert {"watchdog", "outbox_limit"} <= set(firmware)
    assert firmware["backoff_base_ms"] == RECONNECT_BACKOFF_BASE_MS < TUNING["backoff_base_ms"]


def test_the_generic_builder_writes_a_minimal_config():
    files = generic_files(context(HIL_WIFI_SSID="shop-floor"))
    assert json.loads(files["config.json"]) == {
        "wifi_ssid": "shop-floor", "wifi_password": WIFI_PASSWORD, "broker_host": "10.1.2.3",
        "broker_port": 1884, "topic_prefix": "hil/gw0"}
    assert build_files(context()) == generic_files(context())   # the default of hil_device_config


@pytest.fixture
def layer(tmp_path, monkeypatch):
    """A project root holding a firmware layer of its own (a module name no other test uses)."""
    (tmp_path / "seam_layer_a1.py").write_text(textwrap.dedent(f"""
        def build(device):
            return {{"settings.toml": ("host = '%s'\\n" % device.broker_host).encode()}}

        def refuses(device):
            raise ValueError("no such pin, password was %s" % device.settings.wifi_password.reveal())

        def wrong_type(device):
            return {{"config.json": "text, not bytes"}}
        """))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    sys.modules.pop("seam_layer_a1", None)


def test_a_builder_from_the_project_root(layer):
    files = build_files(context(HIL_DEVICE_CONFIG="seam_layer_a1:build"), root=layer)
    assert files == {"settings.toml": b"host = '10.1.2.3'\n"}


@pytest.mark.parametrize("spec, message", [
    ("seam_layer_missing_9:build", "cannot import seam_layer_missing_9"),
    ("seam_layer_a1:nothing", "has no function nothing"),
    ("seam_layer_a1:refuses", "refused the settings: ValueError: no such pin"),
    ("seam_layer_a1:wrong_type", "not a dict of board path -> bytes"),
])
def test_a_bad_builder_is_an_error_naming_the_setting_and_its_value(layer, spec, message):
    with pytest.raises(ConfigError) as info:
        build_files(context(HIL_DEVICE_CONFIG=spec), root=layer)
    text = str(info.value)
    assert f"hil_device_config={spec}" in text and message in text
    assert WIFI_PASSWORD not in text


def test_a_malformed_builder_path_fails_at_start_up_naming_its_source():
    with pytest.raises(ConfigError, match="setting device_config: bad value 'fixtures.device_config' from "
                                          "environment variable HIL_DEVICE_CONFIG: expected module:function"):
        config.resolve(env={"HIL_DEVICE_CONFIG": "fixtures.device_config"})
