"""The `hil` command: one table of subcommands, each implemented in its own module.

A subcommand module exposes `configure(parser)` to declare its arguments and
`run(args) -> int` to do the work. Subcommand modules keep their heavy imports inside
`run`, so that building the parser (and `hil --help`) stays fast on a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from nodemcu_hil.errors import HilError


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str
    summary: str


SUBCOMMANDS = (
    Subcommand("boards", "nodemcu_hil.commands.boards", "list the boards (boards.toml or labgrid places); --probe checks each one"),
    Subcommand("flash", "nodemcu_hil.commands.flash", "validate an image and flash it to a board"),
    Subcommand("deploy", "nodemcu_hil.commands.deploy", "sync the firmware tree, its libraries and its config to a board"),
    Subcommand("sim", "nodemcu_hil.sim.cli", "run a virtual NodeMCU behind an RFC2217 port"),
    Subcommand("broker", "nodemcu_hil.commands.broker", "run the in-process MQTT broker for manual tests"),
    Subcommand("power", "nodemcu_hil.commands.power", "switch a board's power on, off or cycle (boards.toml `power`, labgrid)"),
    Subcommand("console", "nodemcu_hil.commands.console", "lease-aware serial monitor with a log file"),
    Subcommand("compare", "nodemcu_hil.commands.compare", "runs' figures side by side (JUnit, bench, campaigns; text, markdown, html); exit 1 on a regression"),
    Subcommand("bench", "nodemcu_hil.commands.bench", "run the repository's benchmarks (from a checkout): one table and JSON"),
    Subcommand("init", "nodemcu_hil.commands.init", "scaffold a firmware project tested on real and virtual boards"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hil", description="ESP8266 MicroPython hardware-in-the-loop harness")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS:
        sub_parser = commands.add_parser(sub.name, help=sub.summary, description=sub.summary)
        sub_parser.set_defaults(_module=sub.module)
        _load(sub.module).configure(sub_parser)
    return parser


def _load(module_name: str):
    return importlib.import_module(module_name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_load(args._module).run(args) or 0)
    except HilError as exc:
        print(f"hil {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
