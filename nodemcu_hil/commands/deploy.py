"""`hil deploy`: sync firmware_under_test, its libraries and the config to a board by hash."""

from __future__ import annotations

import argparse

from nodemcu_hil.commands.target import add_target_arguments
from nodemcu_hil.device_config import DEFAULT_BROKER_PORT


def configure(parser) -> None:
    add_target_arguments(parser, required=False)
    parser.add_argument("--mpy", action="store_true", help="compile modules to .mpy with mpy-cross (ESP8266)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and change nothing (with a board: read its hashes only)")
    parser.add_argument("--broker-host", help="address the board reaches the MQTT broker at")
    parser.add_argument("--broker-port", type=int, help=f"broker port (default: setting, else {DEFAULT_BROKER_PORT})")
    parser.add_argument("--no-reset", action="store_true", help="do not soft-reset after writing")


def _device_settings(args: argparse.Namespace, settings) -> dict[str, object]:
    """The harness settings plus the broker address the board is to reach."""
    return {**settings.as_mapping(), "broker_host": args.broker_host or "",
            "broker_port": args.broker_port or settings.broker_port}


def run(args) -> int:
    from nodemcu_hil import deploy
    from nodemcu_hil.bringup import firmware_tuning
    from nodemcu_hil.identify import verify_board
    from nodemcu_hil.commands.target import leased_target
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.device_config import describe_device_config
    from nodemcu_hil.errors import ConfigError

    settings = resolve_for_cli({})
    device = _device_settings(args, settings)
    if not (args.board or args.port):
        if not args.dry_run:
            raise ConfigError("no board given: use --port URL or --board NAME", hint="or --dry-run to list the files")
        files = deploy.local_files(device, mpy=args.mpy, tuning=firmware_tuning(settings))
        print(f"deploy (no board): {len(files)} files, {sum(map(len, files.values()))} B")
        for path in sorted(files):
            print(f"  {path} ({len(files[path])} B)")
        print(f"  config: {describe_device_config(device, **firmware_tuning(settings))}")
        return 0
    with leased_target(args, settings) as record:
        if record.mac:
            verify_board(record)
        deploy.deploy_to(record.port, device, board=record.name, mpy=args.mpy, dry_run=args.dry_run,
                         reset=not args.no_reset, tuning=firmware_tuning(settings))
    return 0
