"""labgrid's client, driven as a process: run `labgrid-client` commands and read their output.

labgrid 26 needs `pyserial-labgrid`, a fork that installs the same `serial` module as the
pyserial 3.5 whose RFC2217 client the harness extends (`ports.py`); in one environment the
two overwrite each other's files. So labgrid lives in its own environment (pipx, or the
checkout's `.venv-labgrid`) and the harness only runs its `labgrid-client` program, found
through the setting `labgrid_client`. Every call has a deadline: against a coordinator that
accepts the connection and never answers, the client itself waits 20 s (gRPC's connect
timeout) before giving up.

What the client prints is read by `nodemcu_hil.labgrid_output`; output it cannot read is
an error naming the command.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Mapping

from nodemcu_hil.errors import BoardNotFound, ConfigError, HilError
from nodemcu_hil.labgrid_output import (
    RFC2217_PROTOCOL,
    PlaceInfo,
    ReservationInfo,
    Resource,
    SerialEndpoint,
    read_places,
    read_reservations,
    read_show,
    read_wait,
)

__all__ = ["CoordinatorUnreachable", "LabgridClient", "LabgridCommandFailed", "LabgridUnavailable", "PlaceInfo",
           "PlaceWithoutSerialPort", "RFC2217_PROTOCOL", "ReservationInfo", "Resource", "SerialEndpoint",
           "UnknownPlace", "find_client", "normalise_coordinator"]

COMMAND_TIMEOUT_S = 10.0  # connect, sync with the coordinator, act: ~0.3 s on a LAN
DEFAULT_COORDINATOR_PORT = 20408  # labgrid's own default
STDERR_TAIL_CHARS = 400
INSTALL_HINT = ("install labgrid's client in its own environment (pipx install labgrid==26.0) or point "
                "the setting labgrid_client (HIL_LABGRID_CLIENT, --hil-labgrid-client) at it")
# Variables that would make the client read an environment file or pick a place by itself.
IGNORED_ENVIRONMENT = ("LG_ENV", "LG_PLACE", "PLACE", "LG_TOKEN", "LG_STATE", "STATE", "LG_INITIAL_STATE",
                       "LG_COORDINATOR")
UNREACHABLE_MARKER = "Could not connect to coordinator"
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
        return self._read("wait", read_wait, done.stdout, token)

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
        return self._read("places -v", read_places, self.run("-v", "places"), self.coordinator)

    def show(self, place: str) -> PlaceInfo:
        """One place with its resources: the acquired ones, else those its matches find."""
        return self._read("show", read_show, self.run("show", place=place), self.coordinator)

    def reservations(self) -> list[ReservationInfo]:
        return self._read("reservations", read_reservations, self.run("reservations"))

    def reserve(self, filters: Mapping[str, str]) -> ReservationInfo:
        """A new reservation; the coordinator allocates it a place carrying the filters, at once
        when one is free."""
        output = self.run("reserve", *(f"{key}={value}" for key, value in filters.items()))
        found = self._read("reserve", read_reservations, output)
        if not found:
            raise self._unreadable("reserve", output)
        return found[0]

    def _read(self, command: str, reader, output: str, *args):
        try:
            return reader(output, *args)
        except ValueError:
            raise self._unreadable(command, output) from None

    def _unreadable(self, command: str, output: str) -> LabgridCommandFailed:
        return LabgridCommandFailed(f"cannot read the output of `labgrid-client {command}` from {self.program}: "
                                    f"{output.strip()[:STDERR_TAIL_CHARS]!r}",
                                    hint="the harness reads labgrid 26's output; install labgrid==26.0")


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][-STDERR_TAIL_CHARS:] if lines else ""
