"""What every board source gives a session: a board record with its lease, its pins, its
world and its power switch, and the address at which the board reaches the broker.

A source is where boards come from: virtual boards started per worker, the local
boards.toml, or labgrid places on a coordinator. Bring-up, the plugin and the `hil`
commands ask the source and never which kind it is, so adding a source touches no
fixture (architecture: one code path).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nodemcu_hil.bind_address import rig_bind_address
from nodemcu_hil.config import Settings
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.gpio import NoPins, PinObserver, probe_pins
from nodemcu_hil.inventory import MODE_HARDWARE, BoardRecord
from nodemcu_hil.power import PowerSwitch, power_switch_for
from nodemcu_hil.timeline import Timeline


@dataclass
class SourcedBoard:
    """One board as its source hands it over; the lease and processes live in the
    caller's ExitStack."""

    record: BoardRecord
    pins: PinObserver
    wifi: object | None = None  # nodemcu_hil.sim_rig.WorldControl on a virtual board
    power: PowerSwitch | None = None  # None: nothing switches the board's power


class BoardSource(Protocol):
    kind: str  # "virtual", "boards.toml", "labgrid": for headers and reports
    mode: str  # MODE_SIM or MODE_HARDWARE: whether boards are simulated
    reason: str  # why this source was chosen (file, setting), for the run's header

    def describe(self) -> str: ...

    def check_workers(self, workers: int) -> None:
        """Refuse at start-up a worker count the source cannot serve."""

    def broker_address(self, settings: Settings) -> str:
        """Where the session's broker listens so that this source's boards reach it."""

    def default_image(self, directory: Path) -> Path:
        """The MicroPython image to flash when the setting firmware_image is empty."""

    def records(self) -> list[BoardRecord]:
        """The boards known without claiming any (for `hil boards`); virtual: none."""

    def claim(self, settings: Settings, *, worker: str, worker_index: int, state_dir: Path,
              timeline: Timeline, stack: ExitStack) -> SourcedBoard:
        """This worker's board, held until `stack` closes."""

    def power_for(self, record: BoardRecord) -> PowerSwitch | None:
        """What switches this board's power (`hil power`); None: nothing, it is done by hand."""

    def lease(self, settings: Settings, worker_index: int) -> AbstractContextManager[BoardRecord]:
        """Only the record of this worker's board, held for the block (no bring-up)."""

    def lease_named(self, name: str, settings: Settings,
                    timeout: float | None = None) -> AbstractContextManager[BoardRecord]:
        """The board a `hil` command names with `--board NAME`, held for the block; waits up
        to `timeout` seconds (None: the setting lease_timeout) for another holder."""


class RigSource:
    """What the sources of real boards share: pins from a wired probe, power from the
    record, the broker on the host's address the boards' network reaches, no default image."""

    mode = MODE_HARDWARE

    def broker_address(self, settings: Settings) -> str:
        return rig_bind_address(settings.broker_bind)

    def default_image(self, directory: Path) -> Path:
        raise ConfigError("no firmware image to flash on real boards",
                          hint="set --hil-firmware-image (e.g. ESP8266_GENERIC-v1.28.0.bin)")

    def power_for(self, record: BoardRecord) -> PowerSwitch | None:
        return power_switch_for(record)

    def claim(self, settings: Settings, *, worker: str, worker_index: int, state_dir: Path,
              timeline: Timeline, stack: ExitStack) -> SourcedBoard:
        record = stack.enter_context(self.lease(settings, worker_index))
        timeline.action(record.name, f"leased {record.port} ({self.kind})")
        return SourcedBoard(record=record, pins=rig_pins(record, settings, stack), power=self.power_for(record))


def refuse_more_workers(workers: int, names: list[str], what: str, *, add: str) -> None:
    """More xdist workers than boards would leave workers waiting on leases: refused at start."""
    if workers > len(names):
        raise ConfigError(f"{workers} xdist workers but only {len(names)} {what} ({', '.join(names)})",
                          hint=f"run with -n {len(names)} or fewer, or add {add}")


def rig_pins(record: BoardRecord, settings: Settings, stack: ExitStack) -> PinObserver:
    """How a real board's pins are observed: a wired probe board, or not at all."""
    backend = settings.gpio_backend
    if backend == "sim":
        raise ConfigError("hil_gpio_backend=sim needs virtual boards", board=record.name,
                          hint="use probe (with gpio_probe in boards.toml) or none on a rig")
    if backend == "none" or (backend == "auto" and record.gpio_probe is None):
        return NoPins(record.name)
    if record.gpio_probe is None:
        raise ConfigError("hil_gpio_backend=probe but the board has no gpio_probe in boards.toml",
                          board=record.name, hint="wire a probe board and declare it, or use auto/none")
    return stack.enter_context(probe_pins(record, lease_dir=settings.lease_dir,
                                          lease_timeout=settings.lease_timeout))
