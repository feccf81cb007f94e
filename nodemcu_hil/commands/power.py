"""`hil power BOARD on|off|cycle`: switch a board's power as the recovery ladder would.

The board is found and leased as `hil flash` finds and leases it (`leased_target`), so a
manual power cut never hits a board a test session is using.
"""

from __future__ import annotations

from nodemcu_hil.config import SETTINGS_BY_NAME

ACTIONS = ("on", "off", "cycle")


def configure(parser) -> None:
    parser.add_argument("board_name", metavar="BOARD", help="a board from boards.toml with a `power` entry")
    parser.add_argument("action", choices=ACTIONS, help="cycle: off, then on once the power is off")
    parser.add_argument("--boards-file", help=SETTINGS_BY_NAME["boards_file"].help)
    parser.set_defaults(board=None, port=None)


def run(args) -> int:
    from nodemcu_hil.commands.target import leased_target
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.power import no_power_control, power_switch_for

    settings = resolve_for_cli({"boards_file": args.boards_file} if args.boards_file else {})
    with leased_target(args, settings) as record:
        switch = power_switch_for(record)
        if switch is None:
            raise no_power_control(record.name, record.port)
        getattr(switch, args.action)()
    print(f"hil power: {record.name} {args.action} ({switch.description})", flush=True)
    return 0
