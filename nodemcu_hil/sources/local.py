"""The boards of the local boards.toml as a source: file leases on this host.

Leases are file locks under hil_lease_dir keyed by port and MAC, so they exclude runs and
`hil` commands on this machine only; boards shared between machines are labgrid places
(`nodemcu_hil.sources.labgrid`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nodemcu_hil.config import Settings
from nodemcu_hil.errors import BoardNotFound, ConfigError
from nodemcu_hil.inventory import BoardRecord, BoardsFile, select_boards
from nodemcu_hil.lease import lease_first_free, lease_for
from nodemcu_hil.power import check_power_programs
from nodemcu_hil.sources.base import RigSource, refuse_more_workers


class LocalSource(RigSource):
    kind = "boards.toml"

    def __init__(self, boards: list[BoardRecord], path: Path, reason: str):
        if not boards:
            raise ConfigError(f"the boards file {path} lists no boards",
                              hint="add a [[board]] table or remove the file to run on virtual boards")
        for board in boards:
            check_power_programs(board)
        self.boards = tuple(boards)
        self.path = path
        self.reason = reason

    def describe(self) -> str:
        names = ", ".join(f"{b.name} ({b.port})" for b in self.boards)
        return f"mode=hardware ({self.reason}); boards: {names}"

    def check_workers(self, workers: int) -> None:
        refuse_more_workers(workers, [board.name for board in self.boards], "boards", add="boards to the inventory")

    def records(self) -> list[BoardRecord]:
        return list(self.boards)

    @contextmanager
    def lease(self, settings: Settings, worker_index: int) -> Iterator[BoardRecord]:
        """The board this worker drives; `PortBusy` after hil_lease_timeout."""
        if settings.assignment == "first-free":
            record, held = lease_first_free(self.boards, settings.lease_dir, settings.lease_timeout)
        else:
            record = self.boards[worker_index % len(self.boards)]
            held = lease_for(record, settings.lease_dir).acquire(settings.lease_timeout)
        with held:
            yield record

    @contextmanager
    def lease_named(self, name: str, settings: Settings, timeout: float | None = None) -> Iterator[BoardRecord]:
        by_name = {board.name: board for board in self.boards}
        if name not in by_name:
            raise BoardNotFound(f"--board {name}: not in {self.path}",
                                hint=f"known boards: {', '.join(by_name) or 'none'}")
        with lease_for(by_name[name], settings.lease_dir).acquire(
                settings.lease_timeout if timeout is None else timeout):
            yield by_name[name]


def local_source(boards_file: BoardsFile, settings: Settings, reason: str) -> LocalSource:
    """The boards.toml boards the setting `boards` selects (by name or tag; all when empty)."""
    return LocalSource(select_boards(boards_file.boards, settings.boards), boards_file.path, reason)
