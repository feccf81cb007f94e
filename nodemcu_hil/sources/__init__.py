"""Where a run's boards come from: virtual boards, the local boards.toml, labgrid places.

`choose_source(settings)` is the one place that decides; everything after it (bring-up,
fixtures, `hil` commands) works on the `BoardSource` it returns.
"""

from __future__ import annotations

from typing import Callable

from nodemcu_hil.config import Settings
from nodemcu_hil.errors import InventoryError
from nodemcu_hil.inventory import MODE_HARDWARE, BoardsFile, effective_mode, read_boards_file
from nodemcu_hil.sources.base import BoardSource, RigSource, SourcedBoard
from nodemcu_hil.sources.local import LocalSource, local_source
from nodemcu_hil.sources.virtual import VirtualSource

__all__ = ["BoardSource", "LocalSource", "RigSource", "SourcedBoard", "VirtualSource", "choose_source"]


def labgrid_source(boards_file: BoardsFile, settings: Settings, reason: str) -> BoardSource:
    from nodemcu_hil.sources.labgrid import labgrid_source as make

    return make(boards_file, settings, reason)


# What a boards file declares -> the source of its boards. A new kind of rig is a row here.
RIG_SOURCES: dict[str, Callable[[BoardsFile, Settings, str], BoardSource]] = {
    "board": local_source,
    "labgrid": labgrid_source,
}


def _reason(settings: Settings, chosen_by_file: str) -> str:
    return chosen_by_file if settings.mode == "auto" else f"mode from {settings.source_of('mode')}"


def _declared_kind(boards_file: BoardsFile) -> str:
    if boards_file.labgrid is None:
        return "board"
    if boards_file.boards:
        raise InventoryError(f"{boards_file.path}: both [[board]] tables and a [labgrid] table; a run takes its "
                             "boards from one of them",
                             hint="make the local boards labgrid places too (docs/rig-runner.md), or keep two "
                                  "boards files and choose with hil_boards_file")
    return "labgrid"


def choose_source(settings: Settings) -> BoardSource:
    """Virtual boards unless a boards file is there (or mode says otherwise); the file's
    boards or labgrid places otherwise. Reads files only: nothing is started or leased here."""
    path = settings.boards_file
    if effective_mode(settings.mode, path) != MODE_HARDWARE:
        return VirtualSource(_reason(settings, f"no boards file {path}"))
    boards_file = read_boards_file(path)
    return RIG_SOURCES[_declared_kind(boards_file)](boards_file, settings, _reason(settings, f"boards file {path}"))
