"""`hil deploy`: sync the firmware tree (setting firmware_dir), its libraries and its config
files to a board by hash, with the same bring-up functions and settings as the fixtures."""

from __future__ import annotations

from nodemcu_hil.commands.target import add_target_arguments

# Options that are just a setting given on the command line (they beat environment and ini).
SETTING_OPTIONS = {"broker_host": "--broker-host", "broker_port": "--broker-port", "topic_prefix": "--topic-prefix"}


def configure(parser) -> None:
    add_target_arguments(parser, required=False)
    parser.add_argument("--mpy", action="store_true", help="compile modules to .mpy with mpy-cross (ESP8266)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and change nothing (with a board: read its hashes only)")
    parser.add_argument("--broker-host", help="the setting broker_host: address the board reaches the broker at "
                                              "(default: broker_bind when it is an address)")
    parser.add_argument("--broker-port", help="the setting broker_port (0, the default: 1883)")
    parser.add_argument("--topic-prefix", help="the setting topic_prefix (the suite adds /gwN per worker)")
    parser.add_argument("--no-reset", action="store_true", help="do not soft-reset after writing")


def settings_given(args) -> dict[str, str]:
    return {name: value for name in SETTING_OPTIONS if (value := getattr(args, name)) is not None}


def run(args) -> int:
    import hashlib

    from nodemcu_hil import bringup
    from nodemcu_hil.commands.target import leased_target
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.errors import ConfigError
    from nodemcu_hil.identify import verify_board
    from nodemcu_hil.secrets import redact

    settings = resolve_for_cli(settings_given(args))
    if not (args.board or args.port):
        if not args.dry_run:
            raise ConfigError("no board given: use --port URL or --board NAME", hint="or --dry-run to list the files")
        files = bringup.manual_files(settings, mpy=args.mpy)
        host, port = bringup.manual_broker(settings)
        config = bringup.config_files(settings, host, port, settings.topic_prefix)
        print(f"deploy (no board): {len(files)} files, {sum(map(len, files.values()))} B from "
              f"{bringup.firmware_dir(settings)}; config by {settings.device_config} for broker "
              f"{settings.broker_host or host}:{port}, topic prefix {settings.topic_prefix}")
        for path in sorted(files):
            print(f"  {path} ({len(files[path])} B, sha256 {hashlib.sha256(files[path]).hexdigest()[:16]})")
        secrets = bringup.deploy_secrets(settings)
        for path in sorted(config):
            print(f"  {path}: {redact(config[path].decode(errors='replace'), secrets)}")
        return 0
    with leased_target(args, settings) as record:
        if record.mac:
            verify_board(record)
        bringup.deploy_manual(record.port, settings, board=record.name, mpy=args.mpy, dry_run=args.dry_run,
                              reset=not args.no_reset)
    return 0
