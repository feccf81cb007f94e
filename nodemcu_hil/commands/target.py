"""Which board a `hil` subcommand works on: `--board NAME` (a board of boards.toml or a
labgrid place), or `--port URL`.

Either way the board is leased before its port is opened, so a manual command never
fights a running test session for a board.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from nodemcu_hil.config import Settings
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.lease import lease_for


def add_target_arguments(parser, *, required: bool = True, positional: bool = False) -> None:
    """`--board NAME` or `--port URL`; with `positional`, a bare NAME means `--board NAME`."""
    target = parser.add_mutually_exclusive_group(required=required)
    if positional:
        target.add_argument("board_name", nargs="?", metavar="BOARD", help="a board from boards.toml")
    target.add_argument("--board", metavar="NAME", help="a board from boards.toml or a labgrid place (held while in use)")
    target.add_argument("--port", metavar="URL", help="a serial device path or rfc2217://host:port URL")


def target_record(args, settings: Settings) -> BoardRecord:
    """`--port URL` as a record of its own (the board named by its port's last part)."""
    return BoardRecord(name=args.port.rstrip("/").rsplit("/", 1)[-1], port=args.port)


@contextmanager
def leased_target(args, settings: Settings) -> Iterator[BoardRecord]:
    """The chosen board, held for the block: a `--board NAME` from the run's board source
    (boards.toml or a labgrid place), or `--port URL` under a local lease (waiting up to
    hil_lease_timeout)."""
    name = args.board or getattr(args, "board_name", None)
    if name:
        from nodemcu_hil.sources import choose_source  # boards.toml, labgrid: not for --port

        with choose_source(settings).lease_named(name, settings) as record:
            yield record
        return
    record = target_record(args, settings)
    with lease_for(record, settings.lease_dir).acquire(settings.lease_timeout):
        yield record
