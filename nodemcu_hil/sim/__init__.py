"""The virtual NodeMCU, as the harness may use it: start one, reach it, stop it.

`start_board(...)` runs `hil sim` in its own process (a board is a device at the far end
of a serial link, never an object in the harness's process) and returns a `BoardProcess`
with `.url` (rfc2217://...), `.pty` (path or None), `.control` (a `ControlClient`),
`.world` (a `World`: the board's surroundings as typed methods) and `.stop()`. This module,
`ControlClient` and `World` are the only things the rest of `nodemcu_hil/` may import from
`nodemcu_hil.sim`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from nodemcu_hil.sim.control import ControlClient, ControlError
from nodemcu_hil.sim.world_client import World

__all__ = ["BoardProcess", "ControlClient", "ControlError", "SimStartError", "World", "start_board"]

READY_PREFIX = "READY "
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


# The folder that holds the nodemcu_hil package (a source tree or site-packages).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class SimStartError(RuntimeError):
    """`hil sim` did not come up; the message carries its own one-line reason."""


class BoardProcess:
    def __init__(self, process: subprocess.Popen, ready_line: str, name: str):
        self.process = process
        self.name = name
        fields = ready_line.split()
        self.url = fields[1]
        options = dict(field.split("=", 1) for field in fields[2:] if "=" in field)
        self.pty = options.get("pty")
        self.control_address = options["control"]
        self.control = ControlClient(self.control_address)
        self.world = World(self.control)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        """SIGTERM, then wait; the board closes its flash file before it exits."""
        self.control.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> "BoardProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def sim_command(*, name: str = "nodemcu", flash: str | os.PathLike | None = None,
                mac: str | None = None, flash_size: str | None = None,
                pty: str | os.PathLike | None = None, state_dir: str | os.PathLike | None = None,
                pace: bool = False, rfc2217: str = "127.0.0.1:0",
                control: str = "127.0.0.1:0", world: str | os.PathLike | None = None,
                max_baud: int | None = None, auto_reset: bool = True) -> list[str]:
    """The `hil sim` command line for these settings."""
    command = [sys.executable, "-m", "nodemcu_hil.sim.cli", "--name", name,
               "--rfc2217", rfc2217, "--control", control]
    for option, value in (("--flash", flash), ("--mac", mac), ("--flash-size", flash_size),
                          ("--pty", pty), ("--state-dir", state_dir), ("--world", world),
                          ("--max-baud", max_baud)):
        if value is not None:
            command += [option, str(value)]
    if pace:
        command.append("--pace")
    if not auto_reset:
        command.append("--no-auto-reset")
    return command


def start_board(*, timeout: float = START_TIMEOUT, log: str | os.PathLike | None = None,
                **settings) -> BoardProcess:
    """Start a virtual board process and wait (up to `timeout`) for its READY line.

    `settings` are those of `sim_command`. The board's stderr goes to `log` when given
    (its diagnostics), else it is collected and quoted if the start fails.
    """
    command = sim_command(**settings)
    stderr_target = open(log, "ab") if log else subprocess.PIPE
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_target,
                               stdin=subprocess.DEVNULL, text=True,
                               cwd=PACKAGE_ROOT)
    if log:
        stderr_target.close()
    line = _read_ready(process, timeout)
    if line is None or not line.startswith(READY_PREFIX):
        process.kill()
        _, errors = process.communicate()
        reason = (errors or "").strip().splitlines()[-1:] or [f"no READY line within {timeout:.0f} s"]
        raise SimStartError(f"virtual board {settings.get('name', 'nodemcu')!r} did not start: {reason[0]}")
    if not log:
        threading.Thread(target=_drain, args=(process.stderr,), daemon=True).start()
    return BoardProcess(process, line.strip(), settings.get("name", "nodemcu"))


def _read_ready(process: subprocess.Popen, timeout: float) -> str | None:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        return None
    return result[0]


def _drain(stream) -> None:
    for _ in stream:
        pass
    stream.close()


def wait_for_state(control: ControlClient, predicate, timeout: float = 5.0, poll: float = 0.02) -> dict:
    """Poll the board's state until `predicate(state)` holds; the last state on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        state = control.state()
        if predicate(state) or time.monotonic() >= deadline:
            return state
        time.sleep(poll)
