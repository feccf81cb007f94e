"""The seam between the harness and a firmware's configuration.

The harness does not know what a firmware reads at boot. The setting `device_config`
(`--hil-device-config`, `HIL_DEVICE_CONFIG`, ini `hil_device_config`) names a function
`module:function` that the harness imports (with the project root on sys.path) and calls
as

    function(device: DeviceContext) -> dict[str, bytes]

to get the extra files the board gets besides the firmware's tree (board path -> bytes,
e.g. {"config.json": b"..."}). `DeviceContext` holds the resolved settings (with a test's
`hil_settings` markers applied) and what only the session knows: the broker address the
board reaches and its topic prefix. The function raises `ConfigError` (or anything else)
for settings its firmware cannot use; the harness reports that naming hil_device_config
and its value. The returned bytes must be deterministic for equal settings (the deploy
compares them by hash), and they may hold secrets: the harness masks every secret
setting's value in its logs and errors.

`generic_files` (the default) writes a minimal `config.json`: wifi_ssid, wifi_password,
broker_host, broker_port, topic_prefix, and broker_user and broker_password when there are any.

The session broker admits no anonymous client: the settings broker_user and
broker_password a builder sees are the board's credentials on it (generated for each
session, unless those settings were given; see `nodemcu_hil.bringup.with_broker_credentials`),
and the board may use topics under `topic_prefix` only.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nodemcu_hil.config import Settings
from nodemcu_hil.errors import ConfigError, HilError
from nodemcu_hil.secrets import Secret, redact, reveal

DEVICE_CONFIG_SETTING = "device_config"
DEVICE_CONFIG_PATH = "config.json"   # what generic_files writes, relative to the board's root
SECRET_SETTINGS = ("wifi_password", "broker_password")
DEFAULT_BROKER_PORT = 1883

Builder = Callable[["DeviceContext"], Mapping[str, bytes]]


@dataclass(frozen=True)
class DeviceContext:
    """What a firmware's config builder gets: the settings and the session's broker and topics."""

    settings: Settings
    broker_host: str
    broker_port: int
    topic_prefix: str

    @property
    def broker_user(self) -> str:
        return self.settings.broker_user or ""

    @property
    def broker_password(self) -> str:
        """The real password (the settings hold it as a masked `Secret`)."""
        return reveal(self.settings.broker_password) or ""

    def secrets(self) -> list[str]:
        return secret_values(self.settings.as_mapping())


def secret_values(settings: Mapping[str, object]) -> list[str]:
    """The secret values among `settings`, for `nodemcu_hil.secrets.redact`."""
    found = {reveal(settings.get(name)) for name in SECRET_SETTINGS}
    found |= {value.reveal() for value in settings.values() if isinstance(value, Secret)}
    return sorted(value for value in found if isinstance(value, str) and value)


def config_json(config: Mapping[str, object]) -> bytes:
    """Deterministic JSON (sorted keys, compact): equal settings give equal bytes."""
    return json.dumps(dict(config), sort_keys=True, separators=(",", ":")).encode()


def generic_files(device: DeviceContext) -> dict[str, bytes]:
    """A minimal config.json for a firmware that joins Wi-Fi and reaches the broker."""
    settings = device.settings
    config = {
        "wifi_ssid": settings.wifi_ssid,
        "wifi_password": reveal(settings.wifi_password) or "",
        "broker_host": device.broker_host,
        "broker_port": device.broker_port,
        "topic_prefix": device.topic_prefix,
    }
    if device.broker_user or device.broker_password:  # always, on the session broker
        config.update(broker_user=device.broker_user, broker_password=device.broker_password)
    return {DEVICE_CONFIG_PATH: config_json(config)}


def _describe(settings: Settings) -> str:
    try:
        return f"hil_device_config={settings.device_config} ({settings.source_of(DEVICE_CONFIG_SETTING)})"
    except KeyError:
        return f"hil_device_config={settings.device_config}"


def load_builder(spec: str, root: Path | None = None) -> Builder:
    """Import `module:function`, with the project root `root` (default: cwd) on sys.path."""
    module_name, _, function_name = spec.partition(":")
    where = str(Path(root or Path.cwd()).resolve())
    if where not in sys.path:
        sys.path.insert(0, where)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is a bad setting
        raise ConfigError(f"hil_device_config={spec}: cannot import {module_name} from {where}: "
                          f"{type(exc).__name__}: {exc}",
                          hint="set hil_device_config (HIL_DEVICE_CONFIG) to module:function of your "
                               "firmware's config builder") from None
    builder = getattr(module, function_name, None)
    if not callable(builder):
        raise ConfigError(f"hil_device_config={spec}: {module_name} has no function {function_name}",
                          hint="the function is called as function(device: DeviceContext) -> dict[str, bytes]")
    return builder


def build_files(device: DeviceContext, root: Path | None = None) -> dict[str, bytes]:
    """The firmware's config files for `device`, from the builder the settings name."""
    settings = device.settings
    spec = settings.device_config
    builder = load_builder(spec, root)
    secrets = device.secrets()
    try:
        files = builder(device)
    except Exception as exc:  # noqa: BLE001 - the builder's refusal, reported with the setting
        what = str(exc.what) if isinstance(exc, HilError) else f"{type(exc).__name__}: {exc}"
        hint = getattr(exc, "hint", None) if isinstance(exc, HilError) else None
        raise ConfigError(redact(f"{_describe(settings)} refused the settings: {what}", secrets),
                          hint=redact(hint, secrets) if hint else None) from None
    if not isinstance(files, Mapping) or not all(
            isinstance(path, str) and path and isinstance(data, bytes) for path, data in files.items()):
        raise ConfigError(f"{_describe(settings)} returned {type(files).__name__}, not a dict of board path -> bytes")
    return dict(files)
