"""What labgrid 26's client prints, read into data: places (`places -v`, `show`) and
reservations (`reservations`, `reserve`, `wait`).

The client has no machine-readable form of these (its `export --format json` needs an
environment file and blocks), so this reads the text of labgrid's `Place.show`,
`Reservation.show` and a resource's `pformat` dict (a Python literal). Every reader raises
ValueError on text it does not recognise, which the client turns into an error naming the
command: a guess would hand a test the wrong board. labgrid prints tags as `k=v, k=v`, so a
tag value that itself contains ", " cannot be read back (MACs and flash sizes never do).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Mapping

SERIAL_CLASS = "NetworkSerialPort"
RFC2217_PROTOCOL = "rfc2217"
DEFAULT_SPEED = 115200
PLACE_HEADER = re.compile(r"^Place '(?P<name>.*)':$")
RESERVATION_HEADER = re.compile(r"^Reservation '(?P<token>.*)':$")
RESOURCE_HEADER = re.compile(r"^(?P<kind>Acquired|Matching) resource '(?P<name>.*)' \((?P<path>[^)]*)\):$")
ORPHAN_LINE = re.compile(r"^Orphaned resource '(?P<name>.*)' \((?P<path>[^)]*)\)$")
FIELD_LINE = re.compile(r"^  (?P<key>[a-z][a-z ]*):(?: (?P<value>.*))?$")
ITEM_LINE = re.compile(r"^    (?P<item>\S.*)$")
WAIT_BLOCK_START = "owner: "  # `wait` prints the reservation at each poll, without a header


@dataclass(frozen=True)
class Resource:
    """One resource of a place as `show` prints it."""

    name: str
    path: str  # exporter/group/class/name
    cls: str
    params: Mapping
    avail: bool
    acquired: str | None


@dataclass(frozen=True)
class SerialEndpoint:
    """A NetworkSerialPort: the exporter's ser2net (or any RFC2217 server)."""

    host: str
    port: int | None  # None until acquired when the exporter runs ser2net for a USBSerialPort
    speed: int
    protocol: str
    avail: bool

    @property
    def url(self) -> str:
        return f"rfc2217://{self.host}:{self.port}"


@dataclass(frozen=True)
class PlaceInfo:
    """A place as the coordinator reports it; `resources` only from `show`."""

    name: str
    coordinator: str
    tags: Mapping[str, str] = field(default_factory=dict)
    matches: tuple[str, ...] = ()
    acquired: str | None = None  # "host/user" of the holder
    reservation: str | None = None  # token of the reservation the place is allocated to
    resources: tuple[Resource, ...] = ()

    @property
    def tag_strings(self) -> tuple[str, ...]:
        return tuple(f"{key}={value}" for key, value in sorted(self.tags.items()))

    def carries(self, filters: Mapping[str, str]) -> bool:
        """Whether a reservation with these filters could get this place (labgrid's scheduler
        also treats the name as a tag)."""
        tags = {**self.tags, "name": self.name}
        return all(tags.get(key) == value for key, value in filters.items())

    @property
    def serial(self) -> SerialEndpoint | None:
        for resource in self.resources:
            if resource.cls == SERIAL_CLASS:
                params = resource.params
                port = params.get("port")
                return SerialEndpoint(host=str(params.get("host", "")), port=int(port) if port else None,
                                      speed=int(params.get("speed") or DEFAULT_SPEED),
                                      protocol=str(params.get("protocol") or RFC2217_PROTOCOL),
                                      avail=resource.avail)
        return None


@dataclass(frozen=True)
class ReservationInfo:
    token: str
    owner: str  # "host/user"
    state: str  # waiting, allocated, acquired, expired, invalid
    place: str | None  # the allocated place


def read_places(output: str, coordinator: str) -> list[PlaceInfo]:
    """`labgrid-client -v places`: every place, without resources."""
    return [_place(name, lines, coordinator) for name, lines in _blocks(output, PLACE_HEADER)]


def read_show(output: str, coordinator: str) -> PlaceInfo:
    """`labgrid-client -p PLACE show`: the place and its resources."""
    blocks = _blocks(output, PLACE_HEADER)
    if len(blocks) != 1:
        raise ValueError("expected one place")
    name, lines = blocks[0]
    place_lines = [line for line in lines if line.startswith("  ")]
    return _place(name, place_lines, coordinator, resources=_resources(lines))


def read_reservations(output: str) -> list[ReservationInfo]:
    """`labgrid-client reservations` (none is fine) or `reserve` (one)."""
    found = []
    for token, lines in _blocks(output, RESERVATION_HEADER):
        fields = _fields(lines)
        allocations = fields.get("allocations") or []
        place = next((item.split(": ", 1)[1] for item in allocations if ": " in item), None)
        if not isinstance(fields.get("owner"), str) or not isinstance(fields.get("state"), str):
            raise ValueError(f"reservation {token} without owner or state")
        found.append(ReservationInfo(token=token, owner=fields["owner"], state=fields["state"], place=place))
    return found


def read_wait(output: str, token: str) -> ReservationInfo:
    """The last state `labgrid-client wait TOKEN` printed."""
    last = output.rsplit("\n" + WAIT_BLOCK_START, 1)[-1].removeprefix(WAIT_BLOCK_START)
    text = f"Reservation '{token}':\n" + "\n".join("  " + line for line in (WAIT_BLOCK_START + last).splitlines())
    found = read_reservations(text)
    if not found:
        raise ValueError("no reservation state")
    return found[-1]


def _place(name: str, lines: list[str], coordinator: str, resources: tuple[Resource, ...] = ()) -> PlaceInfo:
    fields = _fields(lines)
    if "acquired" not in fields:
        raise ValueError(f"place {name} without an acquired line")
    tags = {}
    for pair in (fields.get("tags") or "").split(", "):
        key, sep, value = pair.partition("=")
        if sep:
            tags[key] = value
    acquired = fields["acquired"]
    return PlaceInfo(name=name, coordinator=coordinator, tags=tags, matches=tuple(fields.get("matches") or ()),
                     acquired=None if acquired in (None, "None") else acquired,
                     reservation=fields.get("reservation") or None, resources=resources)


def _blocks(output: str, header: re.Pattern) -> list[tuple[str, list[str]]]:
    """(name, lines) for each block that starts with a header line; text before the first is dropped."""
    blocks: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        match = header.match(line)
        if match:
            blocks.append((match.group(1), []))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _fields(lines: list[str]) -> dict[str, str | list[str] | None]:
    """`  key: value` lines, and `  key:` followed by `    item` lines as lists."""
    fields: dict[str, str | list[str] | None] = {}
    current: str | None = None
    for line in lines:
        item = ITEM_LINE.match(line)
        if item and current is not None:
            fields[current].append(item["item"])
            continue
        match = FIELD_LINE.match(line)
        if not match:
            current = None
            continue
        if match["value"] is None:
            current = match["key"]
            fields[current] = []
        else:
            current = None
            fields[match["key"]] = match["value"]
    return fields


def _resources(lines: list[str]) -> tuple[Resource, ...]:
    """The resource entries `show` prints after the place: a header line, then a pformat dict."""
    found: list[Resource] = []
    index = 0
    while index < len(lines):
        header = RESOURCE_HEADER.match(lines[index])
        orphan = ORPHAN_LINE.match(lines[index])
        index += 1
        if orphan:  # acquired, but its exporter is gone: nothing to connect to
            parts = orphan["path"].split("/")
            found.append(Resource(name=orphan["name"], path=orphan["path"], cls=parts[2] if len(parts) > 2 else "",
                                  params={}, avail=False, acquired=None))
        if not header:
            continue
        body = []
        while index < len(lines) and lines[index].startswith("  "):
            body.append(lines[index][2:])
            index += 1
        try:
            data = ast.literal_eval("\n".join(body))
            found.append(Resource(name=header["name"], path=header["path"], cls=str(data["cls"]),
                                  params=dict(data.get("params") or {}), avail=bool(data.get("avail")),
                                  acquired=data.get("acquired")))
        except (ValueError, SyntaxError, KeyError, TypeError):
            raise ValueError(f"resource {header['name']}: not a dict literal") from None
    return tuple(found)
