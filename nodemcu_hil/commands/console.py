"""`hil console`: a lease-aware serial monitor (what picocom does, without stealing a board).

It takes the board's lease first, so it never fights a running test for the port, shows
the ROM's 74880-baud boot message and then the firmware's 115200 output, and appends
every line with its timestamp to a log file. Keys typed go to the board; CTRL-] quits.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from nodemcu_hil.commands.target import add_target_arguments

QUIT_KEY = b"\x1d"  # CTRL-]


def configure(parser) -> None:
    add_target_arguments(parser, positional=True)
    parser.add_argument("--log", type=Path, help="log file (default: <report_dir>/serial/<board>.log)")
    parser.add_argument("--reset", action="store_true", help="hard-reset the board first to show its boot")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until CTRL-])")


def run(args) -> int:
    from nodemcu_hil.commands.target import leased_target
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.console import Console
    from nodemcu_hil.ports import open_port
    from nodemcu_hil.timeline import Timeline

    settings = resolve_for_cli({})
    with leased_target(args, settings) as record, open_port(record.port) as port:
        log_path = args.log or settings.report_dir / "serial" / f"{record.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        console = Console(port, board=record.name, timeline=Timeline(), log_path=log_path,
                          on_text=lambda text: (sys.stdout.write(text), sys.stdout.flush()))
        print(f"hil console: {record.name} on {record.port}, logging to {log_path}; CTRL-] quits",
              file=sys.stderr)
        try:
            if args.reset:
                console.hard_reset()
            _pass_keys(console, args.seconds)
        finally:
            console.close()
    return 0


def _pass_keys(console, seconds: float | None) -> None:
    """Forward keystrokes until CTRL-] (or `seconds` pass, or stdin closes)."""
    done = threading.Event()
    if sys.stdin.isatty():
        threading.Thread(target=_keyboard, args=(console, done), daemon=True).start()
    done.wait(seconds)


def _keyboard(console, done: threading.Event) -> None:
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        while True:
            key = os.read(fd, 64)
            if not key or QUIT_KEY in key:
                break
            console.port.write(key)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        done.set()
