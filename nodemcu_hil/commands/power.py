"""`hil power BOARD on|off|cycle`: switch a board's power as the recovery ladder would.

The board is found and held through the run's board source, as `hil flash --board` holds
it, so a manual power cut never hits a board a test session is using; the source says what
switches it (a `power` entry of boards.toml, or a labgrid place's power driver).
"""

from __future__ import annotations

from nodemcu_hil.config import SETTINGS_BY_NAME

ACTIONS = ("on", "off", "cycle")


def configure(parser) -> None:
    parser.add_argument("board_name", metavar="BOARD",
                        help="a board from boards.toml with a `power` entry, or a labgrid place with a power driver")
    parser.add_argument("action", choices=ACTIONS, help="cycle: off, then on once the power is off")
    parser.add_argument("--boards-file", help=SETTINGS_BY_NAME["boards_file"].help)


def run(args) -> int:
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.power import no_power_control
    from nodemcu_hil.sources import choose_source

    settings = resolve_for_cli({"boards_file": args.boards_file} if args.boards_file else {})
    source = choose_source(settings)
    with source.lease_named(args.board_name, settings) as record:
        switch = source.power_for(record)
        if switch is None:
            raise no_power_control(record.name, record.port)
        getattr(switch, args.action)()
    print(f"hil power: {record.name} {args.action} ({switch.description})", flush=True)
    return 0
