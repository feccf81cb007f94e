"""Issue 11, defect 10: a setting the firmware or the harness cannot use stops the run at
start-up, naming the setting, the value and its source; markers get the same checks."""

from __future__ import annotations


import pytest

from nodemcu_hil import config
from nodemcu_hil.cli import main as hil_main
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.setting_types import host_addresses

pytest_plugins = ["pytester"]
# A documentation address (RFC 5737) this host does not have.
NOT_HERE = next(f"203.0.113.{n}" for n in range(1, 255) if f"203.0.113.{n}" not in host_addresses())

DURATIONS = ("boot_timeout", "wifi_timeout", "mqtt_timeout", "lease_timeout", "telemetry_period", "mqtt_keepalive")
BAD = [
    ("gpio_allow", "7", "flash"), ("gpio_allow", "2,9", "flash"), ("gpio_allow", "99", "no GPIO99"),
    ("gpio_allow", "-1", "no GPIO-1"), ("gpio_allow", "1", "UART"), ("gpio_allow", "3", "UART"),
    ("gpio_allow", "2,x", "integers"),
    ("topic_prefix", "a/#", "wildcard"), ("topic_prefix", "a/+/b", "wildcard"), ("topic_prefix", "/hil", "leading /"),
    ("topic_prefix", "a//b", "empty level"), ("topic_prefix", "hil/", "empty level"),
    ("topic_prefix", "$SYS/hil", "$"), ("topic_prefix", "", "empty"), ("topic_prefix", "a\x00b", "NUL"),
    ("wifi_ssid", "", "empty"), ("wifi_ssid", "x" * 33, "32 bytes"), ("wifi_ssid", "é" * 17, "32 bytes"),
    ("broker_bind", NOT_HERE, "not an address of this host"),
    ("broker_bind", "no-such-host.invalid", "does not resolve"),
    ("broker_bind", "127.0.0.1:1883", "hil_broker_port"),
    *[(name, value, "seconds") for name in DURATIONS for value in ("inf", "nan", "-1", "0", "-inf", "1e9")],
]
GOOD = [
    ("gpio_allow", "0,2,4,5,12,13,14,15,16", (0, 2, 4, 5, 12, 13, 14, 15, 16)), ("gpio_allow", "", ()),
    ("topic_prefix", "lab/bench-1", "lab/bench-1"), ("wifi_ssid", "x" * 32, "x" * 32),
    ("wifi_ssid", "café lab", "café lab"), ("boot_timeout", "0.5", 0.5), ("mqtt_keepalive", "60", 60),
    ("broker_bind", "127.0.0.1", "127.0.0.1"), ("broker_bind", "localhost", "localhost"),
    ("broker_bind", "0.0.0.0", "0.0.0.0"), ("broker_bind", "AUTO", "auto"),
]


@pytest.mark.parametrize("name, value, reason", BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_bad_value_is_refused_at_resolution_naming_setting_value_and_source(name, value, reason):
    setting = config.SETTINGS_BY_NAME[name]
    with pytest.raises(ConfigError) as error:
        config.resolve(env={setting.env: value})
    message = str(error.value)
    assert f"setting {name}: bad value {value.strip()!r}" in message or f"setting {name}: bad value {value!r}" in message
    assert f"environment variable {setting.env}" in message
    assert reason in message, message


@pytest.mark.parametrize("name, value, reason", BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_the_same_checks_apply_to_hil_settings_markers(name, value, reason):
    with pytest.raises(ConfigError, match=rf"setting {name}: bad value .* from marker"):
        config.resolve(env={}).with_overrides({name: value})


@pytest.mark.parametrize("name, value, expected", GOOD, ids=[f"{n}={v!r}" for n, v, _ in GOOD])
def test_good_values_pass(name, value, expected):
    setting = config.SETTINGS_BY_NAME[name]
    assert getattr(config.resolve(env={setting.env: value}), name) == expected


def test_markers_given_native_values_are_checked_too():
    settings = config.resolve(env={})
    for overrides in ({"boot_timeout": float("inf")}, {"gpio_allow": [4, 7]}, {"wifi_ssid": ""},
                      {"mqtt_keepalive": 0}, {"topic_prefix": "hil/#"}):
        with pytest.raises(ConfigError, match="from marker"):
            settings.with_overrides(overrides)
    assert settings.with_overrides({"gpio_allow": [16, 4, 4]}).gpio_allow == (4, 16)


def test_hil_command_exits_1_on_a_bad_setting(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIL_BOOT_TIMEOUT", "inf")
    assert hil_main(["boards"]) == 1
    assert "setting boot_timeout: bad value 'inf' from environment variable HIL_BOOT_TIMEOUT" in capsys.readouterr().err


@pytest.mark.parametrize("env, shown", [
    ({"HIL_TOPIC_PREFIX": "a/#"}, "setting topic_prefix: bad value 'a/#' from environment variable HIL_TOPIC_PREFIX"),
    ({"HIL_GPIO_ALLOW": "7"}, "setting gpio_allow: bad value '7' from environment variable HIL_GPIO_ALLOW"),
])
def test_pytest_stops_at_start_up(pytester, monkeypatch, env, shown):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pytester.makeini("[pytest]\nhil_boards_file = no-such-boards.toml\n")
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert shown in result.stderr.str()
