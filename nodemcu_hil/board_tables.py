"""The inline tables of a boards.toml board, `gpio_probe` and `power`, and its port.

Parsed apart from the board's plain keys because each has a form of its own to explain;
a mistake raises `KeyedError` naming the key whose line the inventory's message points at.
"""

from __future__ import annotations

import re
import shlex
import string
from dataclasses import dataclass
from typing import Any

from nodemcu_hil import chip
from nodemcu_hil.ports import RFC2217_FORM, RFC2217_SCHEME, check_rfc2217_url

PROBE_KEYS = {"port", "pins"}
PINS_FORM = 'pins = { "4" = "12" } (DUT GPIO = probe GPIO, both as strings or numbers)'
POWER_ACTIONS = ("on", "off", "cycle")
POWER_REQUIRED = ("on", "off")
POWER_PLACEHOLDERS = ("name", "port", "mac")
POWER_FORM = ('power = { on = "uhubctl -l 1-1 -p 2 -a on", off = "uhubctl -l 1-1 -p 2 -a off" } '
              '(cycle optional; placeholders {name}, {port}, {mac})')
ESP8266_PINS = frozenset(chip.GPIO_PINS)
ESP8266_PINS = frozenset(chip.GPIO_PINS)


@dataclass(frozen=True)
class GpioProbe:
    """A second MicroPython board wired pin to pin: DUT pin -> probe pin."""

    port: str
    pins: dict[int, int]


@dataclass(frozen=True)
class PowerCommands:
    """How a board's power is switched: one command template per action.

    Without `cycle` a power cycle is `off`, then `on`. The templates are kept as written;
    nodemcu_hil.power fills in the placeholders and runs them.
    """

    on: str
    off: str
    cycle: str | None = None


class KeyedError(ValueError):
    """A mistake inside a board's sub-table, with the key whose line the message should point at."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def check_port(port: str) -> str:
    if port.startswith(RFC2217_SCHEME):
        return check_rfc2217_url(port)
    if not port.startswith("/") and not re.match(r"^COM\d+$", port):
        raise ValueError(f"port {port!r}: expected a device path (/dev/ttyUSB0, /dev/serial/by-id/...) "
                         f"or {RFC2217_FORM}")
    return port


def _pin_number(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def parse_probe(raw: Any) -> GpioProbe:
    if not isinstance(raw, dict):
        raise KeyedError("gpio_probe", f'gpio_probe must be a table: gpio_probe = {{ port = "/dev/ttyUSB1", '
                                        f"{PINS_FORM} }}")
    unknown = set(raw) - PROBE_KEYS
    if unknown:
        raise KeyedError(sorted(unknown)[0], f"gpio_probe: unknown keys {sorted(unknown)} (known: port, pins)")
    port = raw.get("port")
    if not isinstance(port, str) or not port.strip():
        raise KeyedError("port", f"gpio_probe needs a 'port': a device path or {RFC2217_FORM}")
    try:
        check_port(port)
    except ValueError as exc:
        raise KeyedError("port", f"gpio_probe {exc}") from None
    wiring = raw.get("pins")
    if not isinstance(wiring, dict):
        raise KeyedError("pins", f"gpio_probe pins must be a table, not {wiring!r}: expected {PINS_FORM}")
    pins: dict[int, int] = {}
    for dut_pin, probe_pin in wiring.items():
        dut, probe = _pin_number(dut_pin), _pin_number(probe_pin)
        if dut is None or probe is None:
            raise KeyedError("pins", f"gpio_probe pin {dut_pin!r} = {probe_pin!r} is not a pair of GPIO numbers: "
                                      f"expected {PINS_FORM}")
        if dut not in ESP8266_PINS or probe not in ESP8266_PINS:
            raise KeyedError("pins", f"gpio_probe pin {dut}->{probe}: not an ESP8266 GPIO")
        pins[dut] = probe
    if not pins:
        raise KeyedError("pins", f"gpio_probe needs at least one wired pin: {PINS_FORM}")
    return GpioProbe(port=port, pins=pins)


def _check_template(action: str, template: str, has_mac: bool) -> None:
    """Refuse what would only fail when the power is needed: unknown placeholders, bad quoting."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
        words = shlex.split(template)
    except ValueError as exc:
        raise KeyedError(action, f"power {action} command {template!r}: {exc}") from None
    for name in fields:
        if name not in POWER_PLACEHOLDERS:
            raise KeyedError(action, f"power {action} command {template!r}: unknown placeholder {{{name}}} "
                                      f"(known: {', '.join('{' + p + '}' for p in POWER_PLACEHOLDERS)})")
        if name == "mac" and not has_mac:
            raise KeyedError(action, f"power {action} command uses {{mac}} but the board has no 'mac'")
    if not words:
        raise KeyedError(action, f"power {action} command is empty: expected {POWER_FORM}")


def parse_power(raw: Any, has_mac: bool) -> PowerCommands:
    if not isinstance(raw, dict):
        raise KeyedError("power", f"power must be a table: {POWER_FORM}")
    unknown = set(raw) - set(POWER_ACTIONS)
    if unknown:
        key = sorted(unknown)[0]
        raise KeyedError(key, f"power: unknown action {key!r} (known: {', '.join(POWER_ACTIONS)})")
    for action in POWER_REQUIRED:
        if action not in raw:
            raise KeyedError("power", f"power needs an {action!r} command: {POWER_FORM}")
    for action, template in raw.items():
        if not isinstance(template, str):
            raise KeyedError(action, f"power {action} must be a command string, not {template!r}: {POWER_FORM}")
        _check_template(action, template, has_mac)
    return PowerCommands(on=raw["on"], off=raw["off"], cycle=raw.get("cycle"))
