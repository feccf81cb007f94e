"""Virtual boards for a run without hardware: the harness side of `hil sim`.

Each xdist worker starts its own virtual NodeMCU as a separate process (a device at the
end of an RFC2217 link, never an object in this process), with its flash file in the
session's temporary directory, and provides the Wi-Fi access point the firmware is
configured to join. This and the pin observer are the only places the harness knows a
board is virtual.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nodemcu_hil.errors import BoardNotFound, ImageRejected
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.secrets import reveal

LOCALLY_ADMINISTERED = 0x02
SIM_IMAGE_NAME = "ESP8266_GENERIC-sim.bin"
MAKE_IMAGE_TIMEOUT_S = 60


def virtual_mac(name: str) -> str:
    """A stable, locally administered MAC per board name, so leases and reports are stable."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{byte:02x}" for byte in bytes([LOCALLY_ADMINISTERED]) + digest[:5])


def make_sim_image(directory: Path) -> Path:
    """A small MicroPython image the virtual board boots, made by `hil sim --make-image`."""
    path = directory / SIM_IMAGE_NAME
    if path.exists():
        return path
    result = subprocess.run([sys.executable, "-m", "nodemcu_hil.cli", "sim", "--make-image", str(path)],
                            capture_output=True, text=True, timeout=MAKE_IMAGE_TIMEOUT_S)
    if result.returncode != 0 or not path.exists():
        raise ImageRejected(f"hil sim --make-image failed: {result.stderr.strip() or result.stdout.strip()}",
                            hint="run it by hand to see why")
    return path


@contextmanager
def virtual_board(name: str, state_dir: Path, *, wifi_ssid: str, wifi_password: object) -> Iterator[tuple]:
    """A running virtual board with the run's access point; yields (record, process)."""
    from nodemcu_hil.sim import SimStartError, start_board

    state_dir.mkdir(parents=True, exist_ok=True)
    mac = virtual_mac(name)
    try:
        process = start_board(name=name, flash=state_dir / "flash.bin", mac=mac, state_dir=state_dir,
                              log=state_dir / "sim.log")
    except SimStartError as exc:
        raise BoardNotFound(str(exc), board=name, hint=f"see {state_dir / 'sim.log'}") from None
    try:
        process.control.call("wifi.ap.add", ssid=wifi_ssid, password=reveal(wifi_password) or None)
        record = BoardRecord(name=name, port=process.url, mac=mac, virtual=True,
                             control=process.control_address)
        yield record, process
    finally:
        process.stop()


QUIET_COMMANDS = ("gpio.read", "gpio.history", "counters", "world.state", "state")  # reads, not changes
MASKED_PARAMS = ("password",)


class WorldControl:
    """The virtual world's control channel for tests; every change lands on the timeline."""

    def __init__(self, control, timeline, board: str):
        self._control = control
        self._timeline = timeline
        self._board = board

    def call(self, cmd: str, **params) -> dict:
        if cmd not in QUIET_COMMANDS:
            shown = {key: ("***" if key in MASKED_PARAMS and value else value) for key, value in params.items()}
            self._timeline.action(self._board, f"world: {cmd} {shown}")
        return self._control.call(cmd, **params)
