"""Virtual boards as a source: one `hil sim` process per worker, started on claim.

The board is a separate process at the end of an RFC2217 link (never an object in this
process); what the source adds beside the record is the world it lives in (access point,
pins) reached through the board's control endpoint.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from nodemcu_hil.bind_address import LOOPBACK
from nodemcu_hil.config import Settings
from nodemcu_hil.errors import BoardNotFound
from nodemcu_hil.gpio import NoPins, SimPins
from nodemcu_hil.inventory import MODE_SIM, BoardRecord
from nodemcu_hil.sim_rig import SimPower, WorldControl, make_sim_image, virtual_board
from nodemcu_hil.sources.base import SourcedBoard
from nodemcu_hil.timeline import Timeline


class VirtualSource:
    kind = "virtual"
    mode = MODE_SIM

    def __init__(self, reason: str):
        self.reason = reason

    def describe(self) -> str:
        return f"mode=sim ({self.reason}); boards: virtual NodeMCU per worker"

    def check_workers(self, workers: int) -> None:
        """Any number: each worker starts its own board."""

    def broker_address(self, settings: Settings) -> str:
        return settings.broker_bind if settings.broker_bind != "auto" else LOOPBACK

    def default_image(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        return make_sim_image(directory)

    def records(self) -> list[BoardRecord]:
        return []

    def claim(self, settings: Settings, *, worker: str, worker_index: int, state_dir: Path,
              timeline: Timeline, stack: ExitStack) -> SourcedBoard:
        record, process = stack.enter_context(virtual_board(
            f"vnode-{worker}", state_dir / worker, wifi_ssid=settings.wifi_ssid,
            wifi_password=settings.wifi_password, join_delay=settings.sim_join_delay))
        timeline.action(record.name, f"started virtual board at {record.port}")
        pins = NoPins(record.name) if settings.gpio_backend == "none" else SimPins(process.control)
        return SourcedBoard(record=record, pins=pins, wifi=WorldControl(process.control, timeline, record.name),
                            power=SimPower(process.control, record.name))

    def power_for(self, record: BoardRecord) -> None:
        """A virtual board's switch comes with its claim (`SimPower`); a record alone has none."""
        return None

    def lease(self, settings: Settings, worker_index: int) -> AbstractContextManager[BoardRecord]:
        raise BoardNotFound("no real board in sim mode: virtual boards are started by the board fixture",
                            hint="use the board fixture, or list boards in boards.toml")

    def lease_named(self, name: str, settings: Settings,
                    timeout: float | None = None) -> AbstractContextManager[BoardRecord]:
        raise BoardNotFound(f"--board {name}: there is no boards file {settings.boards_file}",
                            hint="use --port URL (a `hil sim` board's rfc2217:// URL), or create boards.toml "
                                 "(see README)")
