"""What a board is: the records of boards.toml, and the choice between real and virtual.

```toml
[[board]]
name = "nodemcu-1"
port = "/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0"
mac = "5c:cf:7f:12:34:56"
flash_size = "4MB"
tags = ["rig-a"]
gpio_probe = { port = "rfc2217://rig-a.local:4001", pins = { "4" = "12", "5" = "13" } }
power = { on = "uhubctl -l 1-1 -p 2 -a on", off = "uhubctl -l 1-1 -p 2 -a off" }
```

Every mistake is reported with the file and the line of the offending board, because a
rig's inventory is edited by hand at the bench.
"""

from __future__ import annotations

import re
import shlex
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from nodemcu_hil import chip
from nodemcu_hil.errors import ConfigError, InventoryError
from nodemcu_hil.ports import RFC2217_FORM, RFC2217_SCHEME, check_rfc2217_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAC_PATTERN = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
FLASH_SIZES = {"1MB": 1 << 20, "2MB": 2 << 20, "4MB": 4 << 20, "8MB": 8 << 20, "16MB": 16 << 20}
BOARD_KEYS = {"name", "port", "mac", "flash_size", "tags", "gpio_probe", "description", "power"}
PROBE_KEYS = {"port", "pins"}
PINS_FORM = 'pins = { "4" = "12" } (DUT GPIO = probe GPIO, both as strings or numbers)'
POWER_ACTIONS = ("on", "off", "cycle")
POWER_REQUIRED = ("on", "off")
POWER_PLACEHOLDERS = ("name", "port", "mac")
POWER_FORM = ('power = { on = "uhubctl -l 1-1 -p 2 -a on", off = "uhubctl -l 1-1 -p 2 -a off" } '
              '(cycle optional; placeholders {name}, {port}, {mac})')
ESP8266_PINS = frozenset(chip.GPIO_PINS)

MODE_SIM = "sim"
MODE_HARDWARE = "hardware"


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


@dataclass(frozen=True)
class BoardRecord:
    name: str
    port: str
    mac: str | None = None
    flash_size: int = 4 << 20
    tags: tuple[str, ...] = ()
    gpio_probe: GpioProbe | None = None
    description: str = ""
    power: PowerCommands | None = None
    virtual: bool = False
    control: str | None = None  # the virtual board's control endpoint, host:port
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def lease_key(self) -> str:
        """Leases follow the board, not the cable: by MAC when known, else by port."""
        return self.mac.replace(":", "") if self.mac else re.sub(r"[^A-Za-z0-9._-]", "_", self.port)


def normalise_mac(text: str) -> str:
    mac = text.strip().lower().replace("-", ":")
    if not MAC_PATTERN.match(mac):
        raise ValueError(f"malformed MAC {text!r}: expected six hex pairs like 5c:cf:7f:12:34:56")
    return mac


def parse_flash_size(text: str) -> int:
    key = str(text).strip().upper().replace(" ", "")
    if key not in FLASH_SIZES:
        raise ValueError(f"flash size {text!r}: expected one of {', '.join(FLASH_SIZES)}")
    return FLASH_SIZES[key]


def check_port(port: str) -> str:
    if port.startswith(RFC2217_SCHEME):
        return check_rfc2217_url(port)
    if not port.startswith("/") and not re.match(r"^COM\d+$", port):
        raise ValueError(f"port {port!r}: expected a device path (/dev/ttyUSB0, /dev/serial/by-id/...) "
                         f"or {RFC2217_FORM}")
    return port


def _board_lines(text: str) -> list[int]:
    """1-based line of each [[board]] header, in file order."""
    return [number for number, line in enumerate(text.splitlines(), 1)
            if re.match(r"^\s*\[\[\s*board\s*\]\]", line)]


def _board_bounds(text: str, count: int) -> list[tuple[int, int]]:
    """Line range of each board's table; the whole file when boards are inline tables."""
    headers = _board_lines(text)
    last = len(text.splitlines()) + 1
    if len(headers) != count:
        return [(1, last)] * count
    return list(zip(headers, headers[1:] + [last]))


def _key_line(text: str, start: int, end: int, key: str) -> int:
    lines = text.splitlines()
    for number in range(start, min(end, len(lines) + 1)):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[number - 1]):
            return number
    return start


def load_inventory(path: Path) -> list[BoardRecord]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InventoryError(f"boards file {path} does not exist") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from None
    unknown_top = set(data) - {"board"}
    if unknown_top:
        raise InventoryError(f"{path}: unknown top-level keys {sorted(unknown_top)}",
                             hint="boards are declared as [[board]] tables")
    entries = data.get("board", [])
    if not isinstance(entries, list):
        raise InventoryError(f"{path}: 'board' must be an array of tables ([[board]])")
    bounds = _board_bounds(text, len(entries))
    boards: list[BoardRecord] = []
    seen_names: dict[str, int] = {}
    seen_ports: dict[str, int] = {}
    for index, entry in enumerate(entries):
        start, end = bounds[index]
        board = _parse_board(path, text, entry, start, end)
        for seen, key, value in ((seen_names, "name", board.name), (seen_ports, "port", board.port)):
            if value in seen:
                line = _key_line(text, start, end, key)
                raise InventoryError(f"{path}:{line}: duplicate {key} {value!r} (first at line {seen[value]})")
            seen[value] = _key_line(text, start, end, key)
        boards.append(board)
    return boards


def _parse_board(path: Path, text: str, entry: dict, start: int, end: int) -> BoardRecord:
    def fail(key: str | None, message: str) -> InventoryError:
        line = _key_line(text, start, end, key) if key else start
        return InventoryError(f"{path}:{line}: {message}")

    unknown = set(entry) - BOARD_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise fail(key, f"unknown key {key!r} (known: {', '.join(sorted(BOARD_KEYS))})")
    for required in ("name", "port"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise fail(required if required in entry else None, f"board needs a non-empty {required!r} string")
    try:
        port = check_port(entry["port"])
    except ValueError as exc:
        raise fail("port", str(exc)) from None
    mac = None
    if "mac" in entry:
        try:
            mac = normalise_mac(str(entry["mac"]))
        except ValueError as exc:
            raise fail("mac", str(exc)) from None
    flash_size = FLASH_SIZES["4MB"]
    if "flash_size" in entry:
        try:
            flash_size = parse_flash_size(entry["flash_size"])
        except ValueError as exc:
            raise fail("flash_size", str(exc)) from None
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise fail("tags", "tags must be a list of strings")
    probe = None
    if "gpio_probe" in entry:
        try:
            probe = _parse_probe(entry["gpio_probe"])
        except ValueError as exc:
            line = _first_line(text, start, end, ("gpio_probe", getattr(exc, "key", "pins"), "[board.gpio_probe]"))
            raise InventoryError(f"{path}:{line}: {exc}") from None
    power = None
    if "power" in entry:
        try:
            power = _parse_power(entry["power"], has_mac=mac is not None)
        except _KeyedError as exc:
            line = _first_line(text, start, end, ("power", exc.key, "[board.power]"))
            raise InventoryError(f"{path}:{line}: {exc}") from None
    return BoardRecord(name=entry["name"].strip(), port=port, mac=mac, flash_size=flash_size,
                       tags=tuple(tags), gpio_probe=probe, description=str(entry.get("description", "")),
                       power=power)


class _KeyedError(ValueError):
    """A mistake inside a board's sub-table, with the key whose line the message should point at."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _first_line(text: str, start: int, end: int, keys: Iterable[str]) -> int:
    """The line of the first of `keys` (or a table header) found in the board's lines."""
    lines = text.splitlines()
    for key in keys:
        pattern = rf"^\s*{re.escape(key)}\s*$" if key.startswith("[") else rf"^\s*{re.escape(key)}\s*="
        for number in range(start, min(end, len(lines) + 1)):
            if re.match(pattern, lines[number - 1]):
                return number
    return start


def _pin_number(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def _parse_probe(raw: Any) -> GpioProbe:
    if not isinstance(raw, dict):
        raise _KeyedError("gpio_probe", f'gpio_probe must be a table: gpio_probe = {{ port = "/dev/ttyUSB1", '
                                        f"{PINS_FORM} }}")
    unknown = set(raw) - PROBE_KEYS
    if unknown:
        raise _KeyedError(sorted(unknown)[0], f"gpio_probe: unknown keys {sorted(unknown)} (known: port, pins)")
    port = raw.get("port")
    if not isinstance(port, str) or not port.strip():
        raise _KeyedError("port", f"gpio_probe needs a 'port': a device path or {RFC2217_FORM}")
    try:
        check_port(port)
    except ValueError as exc:
        raise _KeyedError("port", f"gpio_probe {exc}") from None
    wiring = raw.get("pins")
    if not isinstance(wiring, dict):
        raise _KeyedError("pins", f"gpio_probe pins must be a table, not {wiring!r}: expected {PINS_FORM}")
    pins: dict[int, int] = {}
    for dut_pin, probe_pin in wiring.items():
        dut, probe = _pin_number(dut_pin), _pin_number(probe_pin)
        if dut is None or probe is None:
            raise _KeyedError("pins", f"gpio_probe pin {dut_pin!r} = {probe_pin!r} is not a pair of GPIO numbers: "
                                      f"expected {PINS_FORM}")
        if dut not in ESP8266_PINS or probe not in ESP8266_PINS:
            raise _KeyedError("pins", f"gpio_probe pin {dut}->{probe}: not an ESP8266 GPIO")
        pins[dut] = probe
    if not pins:
        raise _KeyedError("pins", f"gpio_probe needs at least one wired pin: {PINS_FORM}")
    return GpioProbe(port=port, pins=pins)


def _check_template(action: str, template: str, has_mac: bool) -> None:
    """Refuse what would only fail when the power is needed: unknown placeholders, bad quoting."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
        words = shlex.split(template)
    except ValueError as exc:
        raise _KeyedError(action, f"power {action} command {template!r}: {exc}") from None
    for name in fields:
        if name not in POWER_PLACEHOLDERS:
            raise _KeyedError(action, f"power {action} command {template!r}: unknown placeholder {{{name}}} "
                                      f"(known: {', '.join('{' + p + '}' for p in POWER_PLACEHOLDERS)})")
        if name == "mac" and not has_mac:
            raise _KeyedError(action, f"power {action} command uses {{mac}} but the board has no 'mac'")
    if not words:
        raise _KeyedError(action, f"power {action} command is empty: expected {POWER_FORM}")


def _parse_power(raw: Any, has_mac: bool) -> PowerCommands:
    if not isinstance(raw, dict):
        raise _KeyedError("power", f"power must be a table: {POWER_FORM}")
    unknown = set(raw) - set(POWER_ACTIONS)
    if unknown:
        key = sorted(unknown)[0]
        raise _KeyedError(key, f"power: unknown action {key!r} (known: {', '.join(POWER_ACTIONS)})")
    for action in POWER_REQUIRED:
        if action not in raw:
            raise _KeyedError("power", f"power needs an {action!r} command: {POWER_FORM}")
    for action, template in raw.items():
        if not isinstance(template, str):
            raise _KeyedError(action, f"power {action} must be a command string, not {template!r}: {POWER_FORM}")
        _check_template(action, template, has_mac)
    return PowerCommands(on=raw["on"], off=raw["off"], cycle=raw.get("cycle"))


def effective_mode(mode: str, boards_file: Path) -> str:
    if mode == "auto":
        return MODE_HARDWARE if boards_file.exists() else MODE_SIM
    if mode == MODE_HARDWARE and not boards_file.exists():
        raise ConfigError(f"mode is hardware but the boards file {boards_file} does not exist",
                          hint="write boards.toml (see README) or use --hil-mode=sim")
    return mode


def select_boards(boards: Iterable[BoardRecord], wanted: Iterable[str]) -> list[BoardRecord]:
    """Boards whose name or one of whose tags is in `wanted` (all when empty)."""
    boards = list(boards)
    wanted = list(wanted)
    if not wanted:
        return boards
    chosen = [board for board in boards if board.name in wanted or set(board.tags) & set(wanted)]
    missing = [w for w in wanted if not any(b.name == w or w in b.tags for b in boards)]
    if missing:
        raise ConfigError(f"no board has the name or tag {', '.join(map(repr, missing))}",
                          hint=f"boards: {', '.join(b.name for b in boards) or 'none'}")
    return chosen
