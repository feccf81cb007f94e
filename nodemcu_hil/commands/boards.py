"""`hil boards`: the run's boards (boards.toml or labgrid places) as a table; `--probe`
checks each board with esptool."""

from __future__ import annotations

from pathlib import Path

from nodemcu_hil.config import SETTINGS_BY_NAME, resolve_for_cli
from nodemcu_hil.table import format_table


def configure(parser) -> None:
    parser.add_argument("--boards-file", help=SETTINGS_BY_NAME["boards_file"].help)
    parser.add_argument("--probe", action="store_true",
                        help="open each port, read chip type and MAC with esptool; exit 1 unless all are ok")
    parser.add_argument("--lease-timeout", default="0",
                        help="seconds to wait for a board another run holds (default 0)")


def _size(flash_size: int) -> str:
    return f"{flash_size >> 20}MB"


def run(args) -> int:
    from nodemcu_hil.sources import choose_source

    cli = {"boards_file": args.boards_file} if args.boards_file else {}
    settings = resolve_for_cli(cli)
    path: Path = settings.boards_file
    if not path.exists():
        print(f"no boards file {path} ({settings.source_of('boards_file')}): "
              "the suite runs on virtual boards (see README, 'boards.toml')")
        return 0
    source = choose_source(settings)
    boards = source.records()
    if not args.probe:
        rows = [(b.name, b.port, b.mac or "-", _size(b.flash_size), ",".join(b.tags) or "-",
                 f"{b.gpio_probe.port} pins {b.gpio_probe.pins}" if b.gpio_probe else "-") for b in boards]
        print(format_table(("NAME", "PORT", "MAC", "FLASH", "TAGS", "GPIO PROBE"), rows))
        return 0
    return _probe(boards, source, settings, float(args.lease_timeout))


def _probe(boards, source, settings, lease_timeout: float) -> int:
    from nodemcu_hil.identify import probe_board

    results = [probe_board(board, source.lease_named(board.name, settings, lease_timeout)) for board in boards]
    rows = [(r.board, r.port, r.status, r.identity.chip if r.identity else "-",
             r.identity.mac if r.identity else "-", r.detail) for r in results]
    print(format_table(("NAME", "PORT", "STATUS", "CHIP", "MAC", "DETAIL"), rows))
    return 0 if all(r.ok for r in results) else 1
