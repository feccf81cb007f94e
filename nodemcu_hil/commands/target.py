"""Which board a `hil` subcommand works on: `--board NAME` from boards.toml, or `--port URL`.

Either way the board is leased before its port is opened, so a manual command never
fights a running test session for a board.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from nodemcu_hil.config import Settings
from nodemcu_hil.errors import BoardNotFound
from nodemcu_hil.inventory import BoardRecord, load_inventory
from nodemcu_hil.lease import lease_for


def add_target_arguments(parser, *, required: bool = True, positional: bool = False) -> None:
    """`--board NAME` or `--port URL`; with `positional`, a bare NAME means `--board NAME`."""
    target = parser.add_mutually_exclusive_group(required=required)
    if positional:
        target.add_argument("board_name", nargs="?", metavar="BOARD", help="a board from boards.toml")
    target.add_argument("--board", metavar="NAME", help="a board from boards.toml (leased while in use)")
    target.add_argument("--port", metavar="URL", help="a serial device path or rfc2217://host:port URL")


def find_board(name: str, settings: Settings) -> BoardRecord:
    path = settings.boards_file
    if not path.exists():
        raise BoardNotFound(f"--board {name}: there is no boards file {path}",
                            hint="use --port URL, or create boards.toml (see README)")
    boards = {board.name: board for board in load_inventory(path)}
    if name not in boards:
        raise BoardNotFound(f"--board {name}: not in {path}", hint=f"known boards: {', '.join(boards) or 'none'}")
    return boards[name]


def target_record(args, settings: Settings) -> BoardRecord:
    name = args.board or getattr(args, "board_name", None)
    if name:
        return find_board(name, settings)
    return BoardRecord(name=args.port.rstrip("/").rsplit("/", 1)[-1], port=args.port)


@contextmanager
def leased_target(args, settings: Settings) -> Iterator[BoardRecord]:
    """The chosen board, leased for the block (waiting up to hil_lease_timeout)."""
    record = target_record(args, settings)
    with lease_for(record, settings.lease_dir).acquire(settings.lease_timeout):
        yield record
