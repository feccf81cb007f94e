"""Virtual boards for a run without hardware: the harness side of `hil sim`.

Each xdist worker starts its own virtual NodeMCU as a separate process (a device at the
end of an RFC2217 link, never an object in this process), with its flash file in the
session's temporary directory, and provides the Wi-Fi access point the firmware is
configured to join, and its power switch. This, the virtual source and the pin observer
are the only places the harness knows a board is virtual.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nodemcu_hil.errors import BoardNotFound, ImageRejected, PowerFailed
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
def virtual_board(name: str, state_dir: Path, *, wifi_ssid: str, wifi_password: object,
                  join_delay: float | None = None) -> Iterator[tuple]:
    """A running virtual board with the run's access point (joined in `join_delay` seconds,
    None: the world's own); yields (record, process)."""
    from nodemcu_hil.sim import SimStartError, start_board

    state_dir.mkdir(parents=True, exist_ok=True)
    mac = virtual_mac(name)
    try:
        process = start_board(name=name, flash=state_dir / "flash.bin", mac=mac, state_dir=state_dir,
                              log=state_dir / "sim.log")
    except SimStartError as exc:
        raise BoardNotFound(str(exc), board=name, hint=f"see {state_dir / 'sim.log'}") from None
    try:
        process.world.add_access_point(wifi_ssid, reveal(wifi_password) or None)
        if join_delay is not None:
            process.world.set_join_delay(join_delay)
        record = BoardRecord(name=name, port=process.url, mac=mac, virtual=True,
                             control=process.control_address)
        yield record, process
    finally:
        process.stop()


class SimPower:
    """The virtual board's power switch on its control endpoint, as a `PowerSwitch`: what a
    per-port USB power switch is on a rig, so the recovery ladder's power rung runs here too."""

    description = "the virtual board's power switch (control endpoint)"

    def __init__(self, control, board: str):
        self._control = control
        self._board = board

    def _switch(self, action: str) -> None:
        from nodemcu_hil.sim import ControlError

        try:
            self._control.power(action)
        except (ControlError, OSError) as exc:
            raise PowerFailed(f"power {action} on the virtual board's control endpoint failed: {exc}",
                              board=self._board, hint="see the virtual board's sim.log") from None

    def on(self) -> None:
        self._switch("on")

    def off(self) -> None:
        self._switch("off")

    def cycle(self) -> None:
        self._switch("cycle")


class WorldControl:
    """The virtual world, for tests: `nodemcu_hil.sim.World`'s methods, each change on the timeline.

    `Board.wifi` on a virtual board (None on a rig, where tests that need it skip). Reads
    (levels, counters, state) are not logged; a password is shown as ***.
    """

    def __init__(self, control, timeline, board: str):
        from nodemcu_hil.sim import World

        self._world = World(control)
        self._timeline = timeline
        self._board = board

    def _log(self, text: str) -> None:
        self._timeline.action(self._board, f"world: {text}")

    def add_access_point(self, ssid: str, password: object = None, *, present: bool = True) -> None:
        shown = "***" if reveal(password) else "none (open)"
        self._log(f"access point {ssid!r} added (password {shown}, {'present' if present else 'absent'})")
        self._world.add_access_point(ssid, reveal(password) or None, present=present)

    def remove_access_point(self, ssid: str) -> None:
        self._log(f"access point {ssid!r} removed")
        self._world.remove_access_point(ssid)

    def set_access_point_present(self, ssid: str, present: bool) -> None:
        self._log(f"access point {ssid!r} {'in range' if present else 'out of range'}")
        self._world.set_access_point_present(ssid, present)

    def set_link(self, up: bool) -> None:
        self._log(f"Wi-Fi link {'up' if up else 'down'}")
        self._world.set_link(up)

    def blackhole(self, on: bool) -> None:
        self._log(f"network blackhole {'on' if on else 'off'}")
        self._world.blackhole(on)

    def set_latency(self, ms: int) -> None:
        self._log(f"network latency {ms} ms")
        self._world.set_latency(ms)

    def drive_pin(self, pin: int, level: int | None) -> None:
        self._log(f"GPIO{pin} {'released' if level is None else f'driven to {level}'}")
        self._world.drive_pin(pin, level)

    def pin_level(self, pin: int) -> int:
        return self._world.pin_level(pin)

    def counters(self) -> dict:
        return self._world.counters()

    def state(self) -> dict:
        return self._world.state()
