"""Switching a board's power: what clears a hung USB-serial bridge when no reset can.

`PowerSwitch` is all the recovery ladder and `hil power` need: `on()`, `off()`, `cycle()`
and a `description` for messages and the timeline. `CommandPower` runs the command
templates of a board's `power` entry in boards.toml (uhubctl's per-port USB power, a relay
tool, ...); a labgrid place's power driver is another implementation of the same protocol.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from typing import Protocol, runtime_checkable

from nodemcu_hil.errors import BoardNotFound, HilError, PortBusy, PowerFailed
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.ports import open_port

COMMAND_TIMEOUT_S = 30.0  # uhubctl waits 2 s per cycle by default; a relay tool less
STDERR_TAIL_CHARS = 400
REOPEN_POLL_S = 0.2  # how often a re-enumerating USB-serial device is looked for
FIX_HINT = "check the board's `power` entry in boards.toml and run the command by hand"
WIRING_HINT = ("give it a `power` entry in boards.toml (uhubctl per-port USB power on a hub that "
               "supports it) or a labgrid place with a power driver")


@runtime_checkable
class PowerSwitch(Protocol):
    """Switches one board's power; every failure is `PowerFailed` naming the board."""

    description: str

    def on(self) -> None: ...

    def off(self) -> None: ...

    def cycle(self) -> None:
        """Off, then on once the power is really off; returns with the power on."""


class CommandPower:
    """The command templates of a board's `power` entry in boards.toml (`record.power`),
    each run without a shell and with a deadline.

    Placeholders {name}, {port} and {mac} are filled per word after shlex splitting, so
    a value with spaces stays one argument. Without a `cycle` template a cycle is `off`,
    then `on` once the off command has returned.
    """

    def __init__(self, record: BoardRecord, *, timeout: float = COMMAND_TIMEOUT_S):
        if record.power is None:
            raise ValueError(f"board {record.name!r} has no power commands")
        self.record = record
        self.commands = commands = record.power
        self.timeout = timeout
        programs = sorted({shlex.split(template)[0] for template in (commands.on, commands.off, commands.cycle)
                           if template})
        self.description = f"power commands of boards.toml ({', '.join(programs)})"

    def on(self) -> None:
        self._run("on", self.commands.on)

    def off(self) -> None:
        self._run("off", self.commands.off)

    def cycle(self) -> None:
        if self.commands.cycle:
            self._run("cycle", self.commands.cycle)
            return
        self.off()
        self.on()

    def argv(self, template: str) -> list[str]:
        values = {"name": self.record.name, "port": self.record.port, "mac": self.record.mac or ""}
        return [word.format(**values) for word in shlex.split(template)]

    def _run(self, action: str, template: str) -> None:
        argv = self.argv(template)
        shown = shlex.join(argv)

        def failed(what: str, stderr: str | bytes | None = None) -> PowerFailed:
            tail = _tail(stderr)
            return PowerFailed(f"power {action}: `{shown}` {what}" + (f"; stderr: {tail}" if tail else ""),
                               board=self.record.name, port=self.record.port, hint=FIX_HINT)

        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=self.timeout)
        except FileNotFoundError:
            raise failed(f"cannot run: {argv[0]!r} is not installed or not on PATH") from None
        except subprocess.TimeoutExpired as exc:
            raise failed(f"did not finish within {self.timeout:g} s", exc.stderr) from None
        except OSError as exc:
            raise failed(f"cannot run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise failed(f"exited with status {done.returncode}", done.stderr)


def _tail(stderr: str | bytes | None) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    return (stderr or "").strip()[-STDERR_TAIL_CHARS:]


def check_power_programs(record: BoardRecord) -> None:
    """At start-up, not when the ladder needs it: each power command's program must be
    there (on PATH, or the path given), else `PowerFailed` naming board and program."""
    if record.power is None:
        return
    for action, template in (("on", record.power.on), ("off", record.power.off), ("cycle", record.power.cycle)):
        if template and shutil.which(program := shlex.split(template)[0]) is None:
            raise PowerFailed(f"power {action} command: {program!r} is not installed or not on PATH",
                              board=record.name, port=record.port, hint=FIX_HINT)


def power_switch_for(record: BoardRecord) -> PowerSwitch | None:
    """The board's power switch from its record, or None when nothing switches its power."""
    if record.power is None:
        return None
    return CommandPower(record)


def no_power_control(board: str, port: str | None) -> PowerFailed:
    """The error for a board whose power nothing switches: it says what to wire."""
    return PowerFailed("the board has no power control", board=board, port=port, hint=WIRING_HINT)


def survives_power_cut(port: str) -> bool:
    """A network port (rfc2217://, ser2net) stays connected while the board is off; a local
    USB-serial device disappears with the power and comes back as a new device."""
    return "://" in port


def reopen_port(path: str, timeout: float):
    """Open a local port once its device is back after power returned: absent while the
    bridge re-enumerates, then briefly not yet readable until udev has set its group."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return open_port(path)
        except PortBusy:
            raise
        except HilError as exc:
            if time.monotonic() >= deadline:
                raise BoardNotFound(f"the device did not come back within {timeout:g} s of power-on: {exc.what}",
                                    port=path, hint="check that the hub gives the port its power back "
                                                    "(uhubctl shows each port's state)") from None
        time.sleep(REOPEN_POLL_S)
