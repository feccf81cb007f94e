"""The `[labgrid]` table of boards.toml: which coordinator, which places (by name or by tags),
and whether the places' power drivers switch the boards' power.

Every mistake names the file and the line, as for the `[[board]]` tables, because a rig's
boards.toml is edited by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from nodemcu_hil.errors import InventoryError

TABLE_KEYS = ("coordinator", "places", "match", "power")
TAG_KEY = re.compile(r"^[a-z][a-z0-9_]+$")  # what labgrid-client set-tags and reserve accept as a key
HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?$")
FILTER_FORM = 'match = ["board=nodemcu", "rig=a"] (labgrid tags, key=value)'


@dataclass(frozen=True)
class LabgridSpec:
    """Where the boards come from: a coordinator (HOST[:PORT]) and either named places or
    tag filters ("key=value") that each held place must carry."""

    coordinator: str
    places: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    power: bool = False


def parse_filters(pairs: Sequence[str]) -> dict[str, str]:
    """{"key": "value"} from "key=value" strings; ValueError naming the bad one."""
    filters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not value or "=" in value or not TAG_KEY.match(key):
            raise ValueError(f"tag filter {pair!r}: expected key=value with a key of lower-case letters, "
                             f"digits and _ (labgrid's tag keys) and one non-empty value")
        if key in filters:
            raise ValueError(f"tag filter {pair!r}: {key} is given twice")
        filters[key] = value
    return filters


def _table_bounds(text: str) -> tuple[int, int]:
    """1-based first and one-past-last line of the [labgrid] table (the whole file if inline)."""
    lines = text.splitlines()
    start = next((number for number, line in enumerate(lines, 1) if re.match(r"^\s*\[\s*labgrid\s*\]", line)), None)
    if start is None:
        return 1, len(lines) + 1
    end = next((number for number in range(start + 1, len(lines) + 1) if re.match(r"^\s*\[", lines[number - 1])),
               len(lines) + 1)
    return start, end


def parse_labgrid_table(path: Path, text: str, table: Any) -> LabgridSpec:
    """The spec of a `[labgrid]` table as tomllib read it from `text` (the file's content)."""
    start, end = _table_bounds(text)
    lines = text.splitlines()

    def fail(key: str | None, message: str, hint: str | None = None) -> InventoryError:
        line = next((number for number in range(start, end) if key and number <= len(lines)
                     and re.match(rf"^\s*{re.escape(key)}\s*=", lines[number - 1])), start)
        return InventoryError(f"{path}:{line}: [labgrid] {message}", hint=hint)

    if not isinstance(table, Mapping):
        raise fail(None, "must be a table")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key {unknown[0]!r} (known: {', '.join(TABLE_KEYS)})")
    coordinator = table.get("coordinator")
    if not isinstance(coordinator, str) or not coordinator.strip():
        raise fail("coordinator" if "coordinator" in table else None,
                   'needs coordinator = "HOST[:PORT]", the labgrid coordinator\'s address (port 20408 by default)')
    address = HOST_PORT.match(coordinator.strip())
    if not address or (address["port"] is not None and not 0 < int(address["port"]) < 65536):
        raise fail("coordinator", f"coordinator {coordinator!r}: expected HOST[:PORT] with a port 1-65535")
    places = table.get("places", [])
    if not isinstance(places, list) or not all(isinstance(name, str) and name.strip() for name in places):
        raise fail("places", 'places must be a list of place names: places = ["nodemcu-1"]')
    duplicates = sorted({name for name in places if places.count(name) > 1})
    if duplicates:
        raise fail("places", f"place {duplicates[0]!r} is listed twice")
    match = table.get("match", [])
    if not isinstance(match, list) or not all(isinstance(pair, str) for pair in match):
        raise fail("match", f"match must be a list of strings: {FILTER_FORM}")
    try:
        parse_filters(match)
    except ValueError as exc:
        raise fail("match", str(exc)) from None
    if bool(places) == bool(match):
        raise fail("places" if places else None, "names its places or matches them by tags: exactly one of "
                   f'places = ["nodemcu-1"] or {FILTER_FORM}')
    power = table.get("power", False)
    if not isinstance(power, bool):
        raise fail("power", "power must be true or false (switch the boards through the places' power drivers)")
    return LabgridSpec(coordinator=coordinator.strip(), places=tuple(name.strip() for name in places),
                       match=tuple(match), power=power)


def filters_text(filters: Mapping[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in filters.items())

