"""labgrid's client, driven as a process: run `labgrid-client` commands and read their output.

labgrid 26 needs `pyserial-labgrid`, a fork that installs the same `serial` module as the
pyserial 3.5 whose RFC2217 client the harness extends (`ports.py`); in one environment the
two overwrite each other's files. So labgrid lives in its own environment (pipx, or the
checkout's `.venv-labgrid`) and the harness only runs its `labgrid-client` program, found
through the setting `labgrid_client`. Every call has a deadline: against a coordinator that
accepts the connection and never answers, the client itself waits 20 s (gRPC's connect
timeout) before giving up.

The client prints no machine-readable form of places or reservations (its `export --format
json` needs an environment file and blocks), so this module reads the text that labgrid 26's
`places -v`, `show` and `reservations` print (`Place.show`, `Reservation.show`, and the
resource's `pformat` dict, a Python literal). Output it cannot read is an error naming the
command, not a guess.
"""

from __future__ import annotations

import ast
import getpass
import os
import re
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from nodemcu_hil.errors import BoardNotFound, ConfigError, HilError

COMMAND_TIMEOUT_S = 10.0  # connect, sync with the coordinator, act: ~0.3 s on a LAN
DEFAULT_COORDINATOR_PORT = 20408  # labgrid's own default
STDERR_TAIL_CHARS = 400
INSTALL_HINT = ("install labgrid's client in its own environment (pipx install labgrid==26.0) or point "
                "the setting labgrid_client (HIL_LABGRID_CLIENT, --hil-labgrid-client) at it")
# Variables that would make the client read an environment file or pick a place by itself.
IGNORED_ENVIRONMENT = ("LG_ENV", "LG_PLACE", "PLACE", "LG_TOKEN", "LG_STATE", "STATE", "LG_INITIAL_STATE",
                       "LG_COORDINATOR")
UNREACHABLE_MARKER = "Could not connect to coordinator"
SERIAL_CLASS = "NetworkSerialPort"
RFC2217_PROTOCOL = "rfc2217"

PLACE_HEADER = re.compile(r"^Place '(?P<name>.*)':$")
RESERVATION_HEADER = re.compile(r"^Reservation '(?P<token>.*)':$")
RESOURCE_HEADER = re.compile(r"^(?P<kind>Acquired|Matching) resource '(?P<name>.*)' \((?P<path>[^)]*)\):$")
ORPHAN_LINE = re.compile(r"^Orphaned resource '(?P<name>.*)' \((?P<path>[^)]*)\)$")
FIELD_LINE = re.compile(r"^  (?P<key>[a-z][a-z ]*):(?: (?P<value>.*))?$")
ITEM_LINE = re.compile(r"^    (?P<item>\S.*)$")
NO_PLACE = re.compile(r"place pattern (?P<pattern>.*) matches nothing")


class LabgridUnavailable(ConfigError):
    """The labgrid-client program is not installed where the setting says."""


class CoordinatorUnreachable(BoardNotFound):
    """No labgrid coordinator answers at the configured address."""


class UnknownPlace(ConfigError):
    """The coordinator has no place of that name, or none carrying the wanted tags."""


class PlaceWithoutSerialPort(ConfigError):
    """The place has no RFC2217 serial port (NetworkSerialPort) the harness could open."""


class LabgridCommandFailed(HilError):
    """A labgrid-client command failed for another reason; its own message is quoted."""


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
                                      speed=int(params.get("speed") or 115200),
                                      protocol=str(params.get("protocol") or RFC2217_PROTOCOL),
                                      avail=resource.avail)
        return None


@dataclass(frozen=True)
class ReservationInfo:
    token: str
    owner: str  # "host/user"
    state: str  # waiting, allocated, acquired, expired, invalid
    place: str | None  # the allocated place


def normalise_coordinator(address: str) -> str:
    """HOST[:PORT] with labgrid's default port made explicit, so one coordinator has one name."""
    text = address.strip()
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and (not host.count(":") or host.endswith("]")):
        return text
    return f"{text}:{DEFAULT_COORDINATOR_PORT}"


def find_client(program: str | os.PathLike) -> str:
    """The labgrid-client executable the setting names: a path, or a name on PATH."""
    text = str(program)
    if os.sep in text:
        path = Path(text).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise LabgridUnavailable(f"labgrid-client {path} does not exist or is not executable", hint=INSTALL_HINT)
    found = shutil.which(text)
    if not found:
        raise LabgridUnavailable(f"labgrid-client program {text!r} is not on PATH", hint=INSTALL_HINT)
    return found


class LabgridClient:
    """One coordinator, one labgrid identity (LG_HOSTNAME/LG_USERNAME, else this host and
    user, as labgrid itself takes them); every method is one `labgrid-client` run."""

    def __init__(self, coordinator: str, *, program: str | os.PathLike = "labgrid-client",
                 environment: Mapping[str, str] | None = None, command_timeout: float = COMMAND_TIMEOUT_S):
        self.coordinator = normalise_coordinator(coordinator)
        self.program = find_client(program)
        env = dict(os.environ if environment is None else environment)
        for name in IGNORED_ENVIRONMENT:
            env.pop(name, None)
        self.environment = env
        self.command_timeout = command_timeout
        self.identity = f"{env.get('LG_HOSTNAME', socket.gethostname())}/{env.get('LG_USERNAME', getpass.getuser())}"

    def run(self, *args: str, place: str | None = None, timeout: float | None = None) -> str:
        """stdout of `labgrid-client -x COORDINATOR [-p PLACE] ARGS`, or a typed error."""
        limit = self.command_timeout if timeout is None else timeout
        try:
            done = self._execute(args, place, limit)
        except subprocess.TimeoutExpired:
            raise CoordinatorUnreachable(f"`{self._shown(args, place)}` got no answer from the labgrid coordinator "
                                         f"{self.coordinator} within {limit:g} s",
                                         hint="check the coordinator address and that labgrid-coordinator "
                                              "runs there") from None
        if done.returncode != 0:
            raise self._failure(self._shown(args, place), place, done.stdout, done.stderr)
        return done.stdout

    def wait(self, token: str, timeout: float) -> ReservationInfo | None:
        """The reservation once it left its waiting state, None if `timeout` passed first
        (`labgrid-client wait` polls every second, which keeps the reservation from expiring)."""
        try:
            done = self._execute(("wait", token), None, timeout)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            raise self._failure(self._shown(("wait", token), None), None, done.stdout, done.stderr)
        # `wait` prints the reservation at every poll, without the header `reservations` gives it
        last = done.stdout.rsplit("\nowner: ", 1)[-1].removeprefix("owner: ")
        text = f"Reservation '{token}':\n" + "\n".join("  " + line for line in f"owner: {last}".splitlines())
        return self._reservation_blocks(text, "wait")[-1]

    def _execute(self, args: tuple[str, ...], place: str | None, timeout: float) -> subprocess.CompletedProcess:
        argv = [self.program, "-x", self.coordinator, *(["-p", place] if place else []), *args]
        try:
            return subprocess.run(argv, env=self.environment, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)
        except FileNotFoundError:
            raise LabgridUnavailable(f"labgrid-client {self.program} disappeared", hint=INSTALL_HINT) from None

    def _shown(self, args: tuple[str, ...], place: str | None) -> str:
        return shlex.join(["labgrid-client", *(["-p", place] if place else []), *args])

    def _failure(self, shown: str, place: str | None, stdout: str, stderr: str) -> HilError:
        tail = (stderr or "").strip()[-STDERR_TAIL_CHARS:]
        if UNREACHABLE_MARKER in tail:
            reason = next((line.split("coordinator is unavailable: ", 1)[1] for line in tail.splitlines()
                           if "coordinator is unavailable: " in line), tail.splitlines()[-1])
            return CoordinatorUnreachable(f"no labgrid coordinator answers at {self.coordinator}: {reason}",
                                          hint="check the [labgrid] coordinator address in boards.toml and "
                                               "that labgrid-coordinator runs there")
        missing = NO_PLACE.search(tail)
        if missing:
            return UnknownPlace(f"the labgrid coordinator {self.coordinator} has no place {missing['pattern']}",
                                hint="list the places with labgrid-client -x "
                                     f"{self.coordinator} places, and fix boards.toml")
        said = " ".join(_last_line(text) for text in (stderr, stdout) if _last_line(text))  # a traceback's last line says it
        return LabgridCommandFailed(f"`{shown}` failed on coordinator {self.coordinator}: {said or 'no message'}",
                                    board=place, hint="run the command by hand to see why")

    def places(self) -> list[PlaceInfo]:
        """Every place with its tags, holder and reservation (no resources)."""
        output = self.run("-v", "places")
        return [self._place(name, lines, "places -v") for name, lines in _blocks(output, PLACE_HEADER)]

    def show(self, place: str) -> PlaceInfo:
        """One place with its resources: the acquired ones, else those its matches find."""
        output = self.run("show", place=place)
        blocks = _blocks(output, PLACE_HEADER)
        if len(blocks) != 1:
            raise self._unreadable("show", output)
        name, lines = blocks[0]
        place_lines = [line for line in lines if line.startswith("  ")]
        return self._place(name, place_lines, "show", resources=_resources(lines, self))

    def reservations(self) -> list[ReservationInfo]:
        return self._reservation_blocks(self.run("reservations"), "reservations", allow_none=True)

    def reserve(self, filters: Mapping[str, str]) -> ReservationInfo:
        """A new reservation; the coordinator allocates it a place carrying the filters, at once
        when one is free."""
        output = self.run("reserve", *(f"{key}={value}" for key, value in filters.items()))
        return self._reservation_blocks(output, "reserve")[0]

    def _reservation_blocks(self, output: str, command: str, allow_none: bool = False) -> list[ReservationInfo]:
        found = []
        for token, lines in _blocks(output, RESERVATION_HEADER):
            fields = _fields(lines)
            allocations = fields.get("allocations") or []
            place = next((item.split(": ", 1)[1] for item in allocations if ": " in item), None)
            if not isinstance(fields.get("owner"), str) or not isinstance(fields.get("state"), str):
                raise self._unreadable(command, output)
            found.append(ReservationInfo(token=token, owner=fields["owner"], state=fields["state"], place=place))
        if not found and not allow_none:
            raise self._unreadable(command, output)
        return found

    def _place(self, name: str, lines: list[str], command: str, resources: tuple[Resource, ...] = ()) -> PlaceInfo:
        fields = _fields(lines)
        if "acquired" not in fields:
            raise self._unreadable(command, "\n".join(lines))
        tags = {}
        for pair in (fields.get("tags") or "").split(", "):
            key, sep, value = pair.partition("=")
            if sep:
                tags[key] = value
        acquired = fields["acquired"]
        return PlaceInfo(name=name, coordinator=self.coordinator, tags=tags,
                         matches=tuple(fields.get("matches") or ()),
                         acquired=None if acquired in (None, "None") else acquired,
                         reservation=fields.get("reservation") or None, resources=resources)

    def _unreadable(self, command: str, output: str) -> LabgridCommandFailed:
        return LabgridCommandFailed(f"cannot read the output of `labgrid-client {command}` from {self.program}: "
                                    f"{output.strip()[:STDERR_TAIL_CHARS]!r}",
                                    hint="the harness reads labgrid 26's output; install labgrid==26.0")


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][-STDERR_TAIL_CHARS:] if lines else ""


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


def _resources(lines: list[str], client: LabgridClient) -> tuple[Resource, ...]:
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
            raise client._unreadable("show", "\n".join(body)) from None
    return tuple(found)
