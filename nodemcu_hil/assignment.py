"""Which boards a run uses, and which one each xdist worker takes.

Kept apart from the plugin so that `hil` subcommands and the plugin choose boards the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodemcu_hil.config import Settings
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.inventory import MODE_HARDWARE, BoardRecord, effective_mode, load_inventory, select_boards
from nodemcu_hil.lease import BoardLease, lease_first_free, lease_for


@dataclass(frozen=True)
class BoardPlan:
    mode: str
    boards: tuple[BoardRecord, ...]  # empty in sim mode: virtual boards are started per worker
    reason: str

    def describe(self) -> str:
        if self.mode == MODE_HARDWARE:
            names = ", ".join(f"{b.name} ({b.port})" for b in self.boards)
            return f"mode=hardware ({self.reason}); boards: {names}"
        return f"mode=sim ({self.reason}); boards: virtual NodeMCU per worker"


def plan_boards(settings: Settings) -> BoardPlan:
    mode = effective_mode(settings.mode, settings.boards_file)
    if mode != MODE_HARDWARE:
        reason = (f"no boards file {settings.boards_file}" if settings.mode == "auto"
                  else f"mode from {settings.source_of('mode')}")
        return BoardPlan(mode, (), reason)
    records = select_boards(load_inventory(settings.boards_file), settings.boards)
    if not records:
        raise ConfigError(f"the boards file {settings.boards_file} lists no boards",
                          hint="add a [[board]] table or remove the file to run on virtual boards")
    reason = (f"boards file {settings.boards_file}" if settings.mode == "auto"
              else f"mode from {settings.source_of('mode')}")
    return BoardPlan(mode, tuple(records), reason)


def check_capacity(plan: BoardPlan, workers: int) -> None:
    """More xdist workers than boards would leave workers waiting on leases: refuse at start."""
    if plan.mode == MODE_HARDWARE and workers > len(plan.boards):
        raise ConfigError(f"{workers} xdist workers but only {len(plan.boards)} boards "
                          f"({', '.join(b.name for b in plan.boards)})",
                          hint=f"run with -n {len(plan.boards)} or fewer, or add boards to the inventory")


def lease_assigned_board(plan: BoardPlan, settings: Settings, worker_index: int) -> tuple[BoardRecord, BoardLease]:
    """The board this worker drives, leased; `PortBusy` after hil_lease_timeout."""
    if settings.assignment == "first-free":
        return lease_first_free(plan.boards, settings.lease_dir, settings.lease_timeout)
    record = plan.boards[worker_index % len(plan.boards)]
    return record, lease_for(record, settings.lease_dir).acquire(settings.lease_timeout)
