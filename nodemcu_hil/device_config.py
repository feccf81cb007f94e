"""Settings -> the `config.json` the firmware reads at boot.

The file is written to the board at deploy time and never committed: it carries the Wi-Fi
and broker passwords. Its bytes are deterministic (sorted keys, compact), so the deploy
engine's content hash only moves it when a setting really changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from nodemcu_hil.errors import ConfigError
from nodemcu_hil.secrets import MASK, Secret, reveal

DEVICE_CONFIG_PATH = "config.json"   # relative to the board's root, as boot.py opens it
SECRET_SETTINGS = ("wifi_password", "broker_password")
FLASH_PINS = frozenset(range(6, 12))  # GPIO6-11 drive the SPI flash
ESP8266_PINS = frozenset((0, 1, 2, 3, 4, 5, 9, 10, 12, 13, 14, 15, 16))
DEFAULT_BROKER_PORT = 1883
# Firmware tuning the harness may set; anything else in the settings is not the board's.
TUNING = {"keepalive_s": 30, "telemetry_s": 10, "wifi_timeout_s": 20, "watchdog": True, "outbox_limit": 8}


def secret_values(settings: Mapping[str, object]) -> list[str]:
    """The secret values among `settings`, for `nodemcu_hil.secrets.redact`."""
    found = {reveal(settings.get(name)) for name in SECRET_SETTINGS}
    found |= {value.reveal() for value in settings.values() if isinstance(value, Secret)}
    return sorted(value for value in found if isinstance(value, str) and value)


def _text(settings: Mapping[str, object], name: str, *, required: bool = False) -> str:
    value = reveal(settings.get(name))
    value = "" if value is None else str(value)
    if required and not value.strip():
        raise ConfigError(f"setting {name} is empty; the firmware cannot run without it",
                          hint=f"set HIL_{name.upper()} or the hil_{name} ini key")
    return value


def _port(settings: Mapping[str, object]) -> int:
    raw = settings.get("broker_port") or DEFAULT_BROKER_PORT
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting broker_port: {raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"setting broker_port: {port} is outside 1-65535")
    return port


def _pins(settings: Mapping[str, object]) -> list[int]:
    pins = sorted({int(pin) for pin in settings.get("gpio_allow") or ()})
    flash = sorted(FLASH_PINS.intersection(pins))
    if flash:
        raise ConfigError(f"setting gpio_allow holds flash pins {flash}",
                          hint="GPIO6-11 drive the SPI flash and are always refused; remove them")
    unknown = sorted(set(pins) - ESP8266_PINS)
    if unknown:
        raise ConfigError(f"setting gpio_allow holds pins the ESP8266 does not have: {unknown}",
                          hint=f"valid: {sorted(ESP8266_PINS - FLASH_PINS)}")
    return pins


def _tuned(name: str, value: object) -> object:
    """Tuning values as the firmware needs them: whole positive numbers (ticks arithmetic
    on the board refuses floats), or a bool for the watchdog."""
    if isinstance(TUNING[name], bool):
        return bool(value)
    try:
        number = int(round(float(value)))
    except (TypeError, ValueError):
        raise ConfigError(f"firmware tuning {name}={value!r} is not a number") from None
    if number < 1:
        raise ConfigError(f"firmware tuning {name}={value!r} must be at least 1")
    return number


def device_config(settings: Mapping[str, object], **tuning: object) -> dict[str, object]:
    """The config the firmware reads, as a dict holding the real secret values."""
    unknown = sorted(set(tuning) - set(TUNING))
    if unknown:
        raise ConfigError(f"unknown firmware tuning {unknown}", hint=f"known: {sorted(TUNING)}")
    config: dict[str, object] = dict(TUNING)
    if settings.get("wifi_timeout"):
        config["wifi_timeout_s"] = max(1, int(float(settings["wifi_timeout"])))
    config.update({name: _tuned(name, value) for name, value in tuning.items()})
    config.update({
        "wifi_ssid": _text(settings, "wifi_ssid", required=True),
        "wifi_password": _text(settings, "wifi_password"),
        "broker_host": _text(settings, "broker_host", required=True),
        "broker_port": _port(settings),
        "broker_user": _text(settings, "broker_user"),
        "broker_password": _text(settings, "broker_password"),
        "topic_prefix": _text(settings, "topic_prefix") or "hil",
        "gpio_allow": _pins(settings),
    })
    if any(wildcard in config["topic_prefix"] for wildcard in "+#"):
        raise ConfigError(f"setting topic_prefix {config['topic_prefix']!r} holds MQTT wildcards")
    config["topic_prefix"] = config["topic_prefix"].strip("/")
    return config


def build_device_config(settings: Mapping[str, object], **tuning: object) -> bytes:
    """The bytes of config.json for the board (deterministic for equal settings)."""
    return json.dumps(device_config(settings, **tuning), sort_keys=True, separators=(",", ":")).encode()


def describe_device_config(settings: Mapping[str, object], **tuning: object) -> dict[str, object]:
    """The same config with secrets masked, for logs and `hil deploy --dry-run`."""
    shown = device_config(settings, **tuning)
    for name in SECRET_SETTINGS:
        if shown.get(name):
            shown[name] = MASK
    return shown
