"""One precedence for every setting: marker > command line > environment > ini > default."""

from __future__ import annotations

import textwrap

import pytest

from nodemcu_hil import config
from nodemcu_hil.errors import ConfigError

pytest_plugins = ["pytester"]


def test_each_source_beats_the_ones_below_it():
    name, setting = "flash_baud", config.SETTINGS_BY_NAME["flash_baud"]
    layers = [("ini", {"ini": {name: "115200"}}),
              ("environment", {"env": {setting.env: "230400"}}),
              ("command line", {"cli": {name: "921600"}})]
    given: dict = {"env": {}}
    assert config.resolve(**given).values[name].source == "default"
    expected = {"ini": 115200, "environment": 230400, "command line": 921600}
    for source, layer in layers:
        for key, value in layer.items():
            given.setdefault(key, {}).update(value)
        settings = config.resolve(**given)
        assert (settings.flash_baud, settings.source_of(name)) == (expected[source], source)
    marked = config.resolve(**given).with_overrides({name: 74880})
    assert (marked.flash_baud, marked.source_of(name)) == (74880, "marker")


@pytest.mark.parametrize("source, given, named", [
    ("command line", {"cli": {"flash_baud": "fast"}}, "command line option --hil-flash-baud"),
    ("environment", {"env": {"HIL_FLASH_BAUD": "fast"}}, "environment variable HIL_FLASH_BAUD"),
    ("ini", {"ini": {"flash_baud": "fast"}, "env": {}}, "ini key hil_flash_baud"),
])
def test_bad_value_names_setting_value_and_source(source, given, named):
    with pytest.raises(ConfigError) as error:
        config.resolve(**given)
    message = str(error.value)
    assert "flash_baud" in message and "'fast'" in message and named in message


def test_bad_marker_value_names_the_marker():
    with pytest.raises(ConfigError, match=r"setting mode: bad value 'sideways' from marker"):
        config.resolve(env={}).with_overrides({"mode": "sideways"})


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="unknown setting 'flash_bd'"):
        config.resolve(env={}).with_overrides({"flash_bd": 1})


def test_secrets_only_from_environment_or_secrets_file(tmp_path):
    with pytest.raises(ConfigError, match="wifi_password is a secret"):
        config.resolve(cli={"wifi_password": "hunter2"}, env={})
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('wifi_password = "from-file"\n')
    settings = config.resolve(env={"HIL_SECRETS_FILE": str(secrets)})
    assert (settings.wifi_password, settings.source_of("wifi_password")) == ("from-file", "secrets file")
    settings = config.resolve(env={"HIL_SECRETS_FILE": str(secrets), "HIL_WIFI_PASSWORD": "from-env"})
    assert settings.wifi_password == "from-env"
    assert str(settings.wifi_password) == "***" and "from-env" not in f"{settings.wifi_password}"
    assert "from-env" not in settings.describe("wifi_password")


def test_secrets_file_refuses_non_secret_keys(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('wifi_ssid = "lab"\n')
    with pytest.raises(ConfigError, match="not secrets: wifi_ssid"):
        config.resolve(env={"HIL_SECRETS_FILE": str(secrets)})


def test_secret_value_is_not_echoed_in_errors(monkeypatch):
    pin = config.Setting("pin_code", config.parse_positive_int, 0, "a numeric secret", secret=True)
    monkeypatch.setitem(config.SETTINGS_BY_NAME, "pin_code", pin)
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS + (pin,))
    with pytest.raises(ConfigError) as error:
        config.resolve(env={"HIL_PIN_CODE": "s3cr3t-value"})
    assert "HIL_PIN_CODE" in str(error.value) and "s3cr3t-value" not in str(error.value)


def test_ini_file_reader_takes_only_hil_keys(tmp_path):
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nhil_flash_baud = 115200\ntimeout = 5\nhil_nonsense = 1\n")
    assert config.read_ini_file(ini) == {"flash_baud": "115200"}


def _plugin_project(pytester, ini_extra: str = "") -> None:
    pytester.makeini(textwrap.dedent(f"""
        [pytest]
        hil_flash_baud = 115200
        hil_boards_file = no-such-boards.toml
        {ini_extra}
    """))
    pytester.makepyfile(test_probe="""
        import pytest

        def test_default(hil_settings):
            print("BAUD", hil_settings.flash_baud, hil_settings.source_of("flash_baud"))

        @pytest.mark.hil_settings(flash_baud=74880)
        def test_marked(hil_settings):
            print("BAUD", hil_settings.flash_baud, hil_settings.source_of("flash_baud"))
    """)


def test_plugin_applies_the_same_precedence(pytester, monkeypatch):
    monkeypatch.delenv("HIL_FLASH_BAUD", raising=False)
    _plugin_project(pytester)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*BAUD 115200 ini*", "*BAUD 74880 marker*"])
    monkeypatch.setenv("HIL_FLASH_BAUD", "230400")
    result = pytester.runpytest_subprocess("-s")
    result.stdout.fnmatch_lines(["*BAUD 230400 environment*"])
    result = pytester.runpytest_subprocess("-s", "--hil-flash-baud", "921600")
    result.stdout.fnmatch_lines(["*BAUD 921600 command line*", "*BAUD 74880 marker*"])


def test_plugin_fails_at_start_up_on_a_bad_value(pytester, monkeypatch):
    monkeypatch.setenv("HIL_MODE", "sideways")
    _plugin_project(pytester)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*setting mode: bad value 'sideways' from environment variable HIL_MODE*"])


def test_report_header_shows_mode_and_boards(pytester, monkeypatch):
    monkeypatch.delenv("HIL_MODE", raising=False)
    _plugin_project(pytester)
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["hil: mode=sim (no boards file no-such-boards.toml)*",
                                 "hil: *flash_baud=115200 (ini)*"])


def test_a_bad_marker_stops_the_run_at_start_up(pytester, monkeypatch):
    monkeypatch.delenv("HIL_MODE", raising=False)
    _plugin_project(pytester)
    pytester.makepyfile(test_bad_marker="""
        import pytest

        @pytest.mark.hil_settings(boot_timeout="inf")
        def test_never_reached():
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hil_settings marker on test_bad_marker.py::test_never_reached*boot_timeout*"])
