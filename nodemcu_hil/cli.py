"""The `hil` command: one table of subcommands, each implemented in its own module.

A subcommand module exposes `configure(parser)` to declare its arguments and
`run(args) -> int` to do the work. Only the subcommand named on the command line is
imported and configured (`hil --help` lists the summaries from this table), and modules
keep their heavy imports inside `run`, so that a command starts as fast as the tool it
wraps, on a Raspberry Pi too.
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


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hil", description="ESP8266 MicroPython hardware-in-the-loop harness")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _named_subcommand(argv)
    for sub in SUBCOMMANDS:
        sub_parser = commands.add_parser(sub.name, help=sub.summary, description=sub.summary)
        sub_parser.set_defaults(_module=sub.module)
        if sub.name == chosen:
            _load(sub.module).configure(sub_parser)
    return parser


def _named_subcommand(argv: list[str]) -> str | None:
    """The subcommand argparse will pick: the first argument that is not an option."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if any(sub.name == first for sub in SUBCOMMANDS) else None


def _load(module_name: str):
    return importlib.import_module(module_name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return int(_load(args._module).run(args) or 0)
    except HilError as exc:
        print(f"hil {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
