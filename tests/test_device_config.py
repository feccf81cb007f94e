"""The config file the harness writes to the board: deterministic, secrets real on the board
and masked everywhere else, bad settings refused."""

from __future__ import annotations

import json

import pytest

from nodemcu_hil.device_config import build_device_config, describe_device_config
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.secrets import Secret

WIFI_PASSWORD = "pw-never-printed-42"
SETTINGS = {"wifi_ssid": "lab", "wifi_password": Secret(WIFI_PASSWORD), "broker_host": "127.0.0.1",
            "broker_port": 1883, "topic_prefix": "hil", "gpio_allow": [2, 4]}


def test_device_config_is_deterministic_json_with_real_secrets():
    data = build_device_config(SETTINGS)
    assert data == build_device_config(dict(reversed(list(SETTINGS.items()))))
    config = json.loads(data)
    assert config["wifi_password"] == WIFI_PASSWORD and config["gpio_allow"] == [2, 4]
    assert config["broker_host"] == "127.0.0.1" and config["topic_prefix"] == "hil"
    assert describe_device_config(SETTINGS)["wifi_password"] == "***"
    assert WIFI_PASSWORD not in repr(describe_device_config(SETTINGS))


def test_device_config_tuning_is_whole_numbers_for_the_board():
    config = json.loads(build_device_config(SETTINGS, telemetry_s=2.0, keepalive_s="4"))
    assert config["telemetry_s"] == 2 and type(config["telemetry_s"]) is int and config["keepalive_s"] == 4
    with pytest.raises(ConfigError, match="at least 1"):
        build_device_config(SETTINGS, keepalive_s=0)
    with pytest.raises(ConfigError, match="unknown firmware tuning"):
        build_device_config(SETTINGS, colour="red")


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
        build_device_config(dict(SETTINGS, **change))
