"""`hil flash`: validate an image, then flash it to one board (leased) as the fixtures do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from nodemcu_hil.commands.target import add_target_arguments


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("image", type=Path, help="MicroPython image, e.g. ESP8266_GENERIC-v1.28.0.bin")
    parser.add_argument("--baud", type=int, help="the setting flash_baud: write baud rate")
    parser.add_argument("--force", action="store_true",
                        help="the setting force_flash: write even when the board already holds the image")


def flash_file(record, image_path: Path, *, baud: int, force: bool = False,
               log: Callable[[str], None] = lambda line: None, announce: Callable = lambda image: None):
    """What `hil flash` does on a leased board (`nodemcu_hil.flashing.flash_record`): validate
    the whole image, only then open the port and write it as the `flashed` fixture does.

    Shared with the image fault campaign, so what it proves is what the command does.
    Returns (ValidatedImage, FlashOutcome); raises ImageRejected before the port is opened.
    """
    from nodemcu_hil.flashing import flash_record

    return flash_record(record, image_path, baud=baud, force=force, log=log, announce=announce)


def settings_given(args) -> dict[str, object]:
    given: dict[str, object] = {}
    if args.baud:
        given["flash_baud"] = args.baud
    if args.force:
        given["force_flash"] = True
    return given


def run(args) -> int:
    from nodemcu_hil.commands.target import leased_target
    from nodemcu_hil.config import resolve_for_cli

    settings = resolve_for_cli(settings_given(args))
    terminal = sys.stdout  # esptool's own prints are redirected while it runs
    with leased_target(args, settings) as record:
        _, outcome = flash_file(
            record, args.image, baud=settings.flash_baud, force=settings.force_flash,
            log=lambda line: print(f"  {line}", file=terminal, flush=True),
            announce=lambda image: print(
                f"hil flash: {args.image} ({len(image.data)} B, MicroPython "
                f"{image.micropython_version or 'unknown'}) -> {record.name} on {record.port}", flush=True))
    what = f"already held the image (checked by {outcome.checked_by}): nothing written" if outcome.skipped else \
        f"written in {outcome.seconds:.1f} s at {outcome.baud} baud"
    print(f"hil flash: {record.name} ({outcome.mac}) {what}{' (fell back to 115200)' if outcome.fell_back else ''}")
    return 0
