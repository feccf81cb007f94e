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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from nodemcu_hil.board_tables import GpioProbe, KeyedError, PowerCommands, check_port, parse_power, parse_probe
from nodemcu_hil.errors import ConfigError, InventoryError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAC_PATTERN = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
FLASH_SIZES = {"1MB": 1 << 20, "2MB": 2 << 20, "4MB": 4 << 20, "8MB": 8 << 20, "16MB": 16 << 20}
TOP_LEVEL_KEYS = {"board", "labgrid"}
BOARD_KEYS = {"name", "port", "mac", "flash_size", "tags", "gpio_probe", "description", "power"}

MODE_SIM = "sim"
MODE_HARDWARE = "hardware"


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


@dataclass(frozen=True)
class BoardsFile:
    """boards.toml as read: its [[board]] records and, for boards that are labgrid places,
    its [labgrid] table as written (parsed by `nodemcu_hil.labgrid_places`)."""

    path: Path
    text: str
    boards: list[BoardRecord]
    labgrid: dict | None = None


def load_inventory(path: Path) -> list[BoardRecord]:
    return read_boards_file(path).boards


def read_boards_file(path: Path) -> BoardsFile:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InventoryError(f"boards file {path} does not exist") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from None
    unknown_top = set(data) - TOP_LEVEL_KEYS
    if unknown_top:
        raise InventoryError(f"{path}: unknown top-level keys {sorted(unknown_top)}",
                             hint="boards are declared as [[board]] tables, labgrid places in a [labgrid] table")
    labgrid = data.get("labgrid")
    if labgrid is not None and not isinstance(labgrid, dict):
        raise InventoryError(f"{path}: 'labgrid' must be a table ([labgrid])")
    return BoardsFile(path=path, text=text, boards=_parse_boards(path, text, data), labgrid=labgrid)


def _parse_boards(path: Path, text: str, data: dict) -> list[BoardRecord]:
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
            probe = parse_probe(entry["gpio_probe"])
        except ValueError as exc:
            line = _first_line(text, start, end, ("gpio_probe", getattr(exc, "key", "pins"), "[board.gpio_probe]"))
            raise InventoryError(f"{path}:{line}: {exc}") from None
    power = None
    if "power" in entry:
        try:
            power = parse_power(entry["power"], has_mac=mac is not None)
        except KeyedError as exc:
            line = _first_line(text, start, end, ("power", exc.key, "[board.power]"))
            raise InventoryError(f"{path}:{line}: {exc}") from None
    return BoardRecord(name=entry["name"].strip(), port=port, mac=mac, flash_size=flash_size,
                       tags=tuple(tags), gpio_probe=probe, description=str(entry.get("description", "")),
                       power=power)


def _first_line(text: str, start: int, end: int, keys: Iterable[str]) -> int:
    """The line of the first of `keys` (or a table header) found in the board's lines."""
    lines = text.splitlines()
    for key in keys:
        pattern = rf"^\s*{re.escape(key)}\s*$" if key.startswith("[") else rf"^\s*{re.escape(key)}\s*="
        for number in range(start, min(end, len(lines) + 1)):
            if re.match(pattern, lines[number - 1]):
                return number
    return start


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
