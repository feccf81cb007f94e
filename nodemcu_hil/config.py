"""Every harness setting, declared once, resolved with one precedence.

The table `SETTINGS` feeds the pytest command line (`--hil-<name>`), pytest.ini keys
(`hil_<name>`), environment variables (`HIL_<NAME>`) and the `hil` command. A value is
taken from the first source that has it, in the order marker > command line >
environment > ini > default, and a bad value fails at start-up naming the setting, the
value and where it came from. Secrets are never read from the command line or the ini
file (both end up in shell history, process lists or the repository): only from the
environment or the secrets file.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from nodemcu_hil import chip
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.secrets import Secret, load_secrets_file, remember, reveal
from nodemcu_hil.setting_types import (
    MAX_SECONDS,
    choice,
    parse_baud,
    parse_bind_address,
    parse_bool,
    parse_host,
    parse_import_path,
    parse_name_list,
    parse_optional_delay,
    parse_optional_path,
    parse_output_pins,
    parse_path,
    parse_port_number,
    parse_positive_int,
    parse_seconds,
    parse_ssid,
    parse_text,
    parse_topic_prefix,
    whole_seconds,
)

ENV_PREFIX = "HIL_"
INI_PREFIX = "hil_"
OPTION_PREFIX = "--hil-"

# Sources, highest precedence first.
SOURCE_MARKER = "marker"
SOURCE_CLI = "command line"
SOURCE_ENV = "environment"
SOURCE_SECRETS_FILE = "secrets file"
SOURCE_INI = "ini"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def option(self) -> str:
        return OPTION_PREFIX + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def ini(self) -> str:
        return INI_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("boards_file", parse_path, Path("boards.toml"),
            "inventory of real boards; when it does not exist the suite runs on virtual boards"),
    Setting("mode", choice("auto", "sim", "hardware"), "auto",
            "auto: hardware when the boards file exists, else sim"),
    Setting("boards", parse_name_list, (),
            "use only these boards (names or tags, comma separated); empty: all"),
    Setting("assignment", choice("worker-index", "first-free"), "worker-index",
            "how xdist workers pick boards: worker gwN takes the Nth board, or any free one"),
    Setting("sim_boards", parse_positive_int, 1,
            "virtual boards to start in sim mode when not running under xdist"),
    Setting("sim_join_delay", parse_optional_delay, None,
            "seconds a virtual board's Wi-Fi join takes; empty: the virtual world's own (about a real "
            "ESP8266's). A suite that does not test join times may make its access point quicker"),
    Setting("firmware_image", parse_optional_path, None,
            "MicroPython image to flash; empty: the virtual board's own image in sim mode"),
    Setting("force_flash", parse_bool, False, "flash even when the board already holds the image"),
    Setting("flash_baud", parse_baud, 460800, "baud rate for esptool writes (falls back to 115200)"),
    Setting("broker_bind", parse_bind_address, "auto",
            "address the in-process broker binds to; auto: loopback in sim mode, on a rig the host's one "
            "non-loopback IPv4 interface (several: a start-up error listing them)"),
    Setting("broker_port", parse_port_number, 0, "broker TCP port; 0 picks a free one"),
    Setting("broker_host", parse_host, "",
            "address the boards reach the broker at, written into their config; empty: the broker's bind address"),
    Setting("broker_user", parse_text, "", "the board's broker user name; empty: one made per session (the broker refuses anonymous clients)"),
    Setting("broker_password", parse_text, "", "the board's broker password (environment or secrets file only); empty: one made per session",
            secret=True),
    Setting("wifi_ssid", parse_ssid, "hil-test-ap", "Wi-Fi network the firmware joins"),
    Setting("wifi_password", parse_text, "", "Wi-Fi password (environment or secrets file only)", secret=True),
    Setting("secrets_file", parse_optional_path, None,
            "TOML file outside the repository with wifi_password and broker_password"),
    Setting("topic_prefix", parse_topic_prefix, "hil", "MQTT topic prefix; each worker adds its own namespace"),
    Setting("gpio_allow", parse_output_pins, chip.OUTPUT_PINS,
            "GPIO pins the firmware may switch on MQTT command (ESP8266 outputs: 0, 2, 4, 5, 12-16)"),
    Setting("gpio_backend", choice("auto", "sim", "probe", "none"), "auto",
            "how pins are observed: sim control channel, a probe board, or not at all (tests skip)"),
    Setting("lease_timeout", parse_seconds, 60.0, "seconds to wait for a busy board"),
    Setting("labgrid_client", parse_path, Path("labgrid-client"),
            "labgrid 26's client program, run as a process from its own environment (pipx install "
            "labgrid==26.0): a name looked up on PATH or a path"),
    Setting("lease_dir", parse_path, Path("/tmp/nodemcu-hil-leases"),
            "directory of the cross-process board locks (shared by every user of the rig)"),
    Setting("boot_timeout", parse_seconds, 20.0, "seconds for a board to reach its prompt after reset"),
    Setting("wifi_timeout", parse_seconds, 30.0, "seconds for the firmware to join Wi-Fi"),
    Setting("mqtt_timeout", parse_seconds, 15.0, "seconds to wait for an expected MQTT message"),
    Setting("telemetry_period", whole_seconds(MAX_SECONDS, "the firmware's tick counter"), 3,
            "seconds between the firmware's telemetry messages (written into its config at deploy)"),
    Setting("mqtt_keepalive", whole_seconds(65535, "MQTT's keepalive field"), 5,
            "MQTT keepalive the firmware uses; a silent broker is detected after about 1.5 times this"),
    Setting("firmware_dir", parse_path, Path("firmware"),
            "the firmware's source tree to deploy (relative to the project root); its libraries in manifest.toml"),
    Setting("device_config", parse_import_path, "nodemcu_hil.device_config:generic_files",
            "module:function building the firmware's config files from the settings (nodemcu_hil.device_config)"),
    Setting("report_dir", parse_path, Path("reports"), "directory for JUnit XML, HTML report and serial logs"),
)

SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Resolved:
    value: Any
    source: str
    raw: Any = None


@dataclass
class Settings:
    """Resolved settings, each value remembering where it came from."""

    values: dict[str, Resolved] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name].value
        except KeyError:
            raise AttributeError(name) from None

    def source_of(self, name: str) -> str:
        return self.values[name].source

    def as_mapping(self) -> dict[str, Any]:
        return {name: resolved.value for name, resolved in self.values.items()}

    def with_overrides(self, overrides: Mapping[str, Any], source: str = SOURCE_MARKER) -> "Settings":
        """The settings for one test: a `hil_settings` marker beats every other source."""
        values = dict(self.values)
        for name, raw in overrides.items():
            setting = _lookup(name, source)
            values[name] = Resolved(_parse(setting, raw, source), source, raw)
        return Settings(values)

    def describe(self, name: str) -> str:
        resolved = self.values[name]
        shown = "***" if SETTINGS_BY_NAME[name].secret and resolved.value else resolved.value
        return f"{name}={shown} ({resolved.source})"


def _lookup(name: str, source: str) -> Setting:
    try:
        return SETTINGS_BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown setting {name!r} in {source}",
                          hint=f"known settings: {', '.join(SETTINGS_BY_NAME)}") from None


def describe_source(setting: Setting, source: str) -> str:
    """Where a value came from, in the words a user can act on (which option, variable, key)."""
    return {
        SOURCE_CLI: f"command line option {setting.option}",
        SOURCE_ENV: f"environment variable {setting.env}",
        SOURCE_INI: f"ini key {setting.ini}",
    }.get(source, source)


def _parse(setting: Setting, raw: Any, source: str) -> Any:
    try:
        value = setting.parse(reveal(raw))
    except (ValueError, TypeError) as exc:
        shown = "***" if setting.secret else repr(raw)
        where = describe_source(setting, source)
        hint = f"expected a value for {setting.parse.__name__}" if setting.secret else str(exc)
        raise ConfigError(f"setting {setting.name}: bad value {shown} from {where}", hint=hint) from None
    if setting.secret:
        remember(value)  # masked in console logs and the timeline from now on
    return Secret(value) if setting.secret and isinstance(value, str) else value


def resolve(*, cli: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
            ini: Mapping[str, Any] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
    """Resolve every setting: command line > environment > secrets file > ini > default.

    `cli` and `ini` map setting names to raw values, holding only what was given; `env`
    is the process environment. Markers are applied later, per test, with
    `Settings.with_overrides`.
    """
    cli, ini = dict(cli or {}), dict(ini or {})
    env = os.environ if env is None else env
    for source, given in ((SOURCE_CLI, cli), (SOURCE_INI, ini)):
        for name in given:
            setting = _lookup(name, source)
            if setting.secret:
                raise ConfigError(f"setting {name} is a secret and cannot be given in the {source}",
                                  hint=f"set {setting.env} or put it in the secrets file")
    values: dict[str, Resolved] = {}
    for setting in SETTINGS:
        values[setting.name] = _resolve_one(setting, cli, env, ini)
    file_secrets = dict(secrets) if secrets is not None else _read_secrets_file(values["secrets_file"].value)
    for name, raw in file_secrets.items():
        setting = _lookup(name, f"secrets file {values['secrets_file'].value}")
        if values[name].source in (SOURCE_INI, SOURCE_DEFAULT):
            values[name] = Resolved(_parse(setting, raw, SOURCE_SECRETS_FILE), SOURCE_SECRETS_FILE, raw)
    return Settings(values)


def _resolve_one(setting: Setting, cli: Mapping[str, Any], env: Mapping[str, str],
                 ini: Mapping[str, Any]) -> Resolved:
    if setting.name in cli:
        return Resolved(_parse(setting, cli[setting.name], SOURCE_CLI), SOURCE_CLI, cli[setting.name])
    if setting.env in env:
        return Resolved(_parse(setting, env[setting.env], SOURCE_ENV), SOURCE_ENV, env[setting.env])
    if setting.name in ini:
        return Resolved(_parse(setting, ini[setting.name], SOURCE_INI), SOURCE_INI, ini[setting.name])
    return Resolved(setting.default, SOURCE_DEFAULT)


def _read_secrets_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = load_secrets_file(path)
    unknown = [key for key in data if key not in SETTINGS_BY_NAME or not SETTINGS_BY_NAME[key].secret]
    if unknown:
        raise ConfigError(f"secrets file {path} has keys that are not secrets: {', '.join(unknown)}",
                          hint=f"allowed: {', '.join(s.name for s in SETTINGS if s.secret)}")
    return data


def read_ini_file(path: Path) -> dict[str, str]:
    """The `hil_*` keys of a pytest.ini, for the `hil` command (pytest reads its own)."""
    parser = configparser.ConfigParser(interpolation=None)
    if not path.exists():
        return {}
    parser.read(path)
    if not parser.has_section("pytest"):
        return {}
    return {key[len(INI_PREFIX):]: value for key, value in parser.items("pytest")
            if key.startswith(INI_PREFIX) and key[len(INI_PREFIX):] in SETTINGS_BY_NAME}


def resolve_for_cli(cli: Mapping[str, Any], ini_path: Path = Path("pytest.ini")) -> Settings:
    """The same resolution for the `hil` command, reading the ini keys from pytest.ini."""
    return resolve(cli=cli, ini=read_ini_file(ini_path))


def public_settings() -> Iterable[Setting]:
    return (setting for setting in SETTINGS if not setting.secret)


def settings_markdown() -> str:
    """The README's settings table, generated so that docs and code cannot drift apart."""
    rows = ["| setting | command line | environment | ini key | default | meaning |",
            "|---|---|---|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, tuple):
            default = ",".join(map(str, default)) or "(all)"
        shown_default = "(none)" if default in (None, "") else default
        option = "—" if setting.secret else f"`{setting.option}`"
        ini = "—" if setting.secret else f"`{setting.ini}`"
        rows.append(f"| `{setting.name}` | {option} | `{setting.env}` | {ini} | `{shown_default}` | {setting.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
