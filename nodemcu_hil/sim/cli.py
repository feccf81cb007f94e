"""`hil sim`: run one virtual NodeMCU behind an RFC2217 port (and optionally a PTY).

Prints one line once every endpoint accepts connections:

    READY rfc2217://HOST:PORT [pty=PATH] control=HOST:PORT

and runs until SIGINT or SIGTERM, then closes the flash file intact. `--make-image PATH`
writes a small MicroPython image the board boots and exits without starting a board. `--power
on|off|cycle --control HOST:PORT` switches the power of a board already running there (what a
per-port USB hub does to a real one) and exits. Every setting is
checked and every port taken before anything starts, so a bad value or a port in use
ends with one line on stderr, a non-zero exit, and nothing left behind.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from nodemcu_hil.sim.control import POWER_COMMANDS

EXIT_USAGE = 2
EXIT_START_FAILED = 1
DEFAULT_NAME = "nodemcu"
DEFAULT_LISTEN = "127.0.0.1:0"
FLASH_FILE_NAME = "flash.bin"
MEGABYTE = 1024 * 1024
FLASH_SIZES_MB = (1, 2, 4, 16)
_SIZE = re.compile(r"^\s*(\d+)\s*(m|mb|mib)?\s*$", re.IGNORECASE)


class SimError(Exception):
    """A setting or resource that stops the board from starting; one line for the user."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rfc2217", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help="where the RFC2217 server listens; port 0 picks a free one (default %(default)s)")
    parser.add_argument("--pty", metavar="LINK", help="also offer the port as a PTY, with a symlink at LINK")
    parser.add_argument("--no-auto-reset", dest="auto_reset", action="store_false",
                        help="a board without the USB auto-reset circuit on the PTY: esptool's SYNC no "
                             "longer resets a running chip into the ROM loader, nor its closing boot the "
                             "firmware (use the FLASH and RST buttons)")
    parser.add_argument("--flash", metavar="FILE", help="flash image file, created erased when absent "
                        "(default: STATE_DIR/flash.bin)")
    parser.add_argument("--mac", help="the board's MAC, aa:bb:cc:dd:ee:ff (default: derived from --name)")
    parser.add_argument("--flash-size", default="4MB", metavar="SIZE", help="1MB, 2MB, 4MB or 16MB (default %(default)s)")
    parser.add_argument("--state-dir", metavar="DIR", help="where the board keeps its files (default: a new temporary directory)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="board name, shown in messages and used for the default MAC")
    parser.add_argument("--control", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help="where the JSON-lines control endpoint listens (default %(default)s)")
    parser.add_argument("--pace", action="store_true", help="move bytes no faster than the configured baud rate")
    parser.add_argument("--max-baud", type=int, metavar="BAUD",
                        help="the line garbles what the host sends above this rate (a board that cannot "
                             "hold high flash rates)")
    parser.add_argument("--make-image", metavar="PATH", help="write a small MicroPython image the board "
                        "boots (firmware.bin layout) to PATH and exit, starting nothing")
    parser.add_argument("--power", choices=tuple(POWER_COMMANDS), help="switch the power of the board running with "
                        "its control endpoint at --control HOST:PORT, then exit, starting nothing "
                        "(cycle: off, then on)")
    parser.add_argument("--world", metavar="FILE", help="TOML file with the starting world: Wi-Fi access "
                        "points, link, latency, blackhole, GPIO inputs (format: nodemcu_hil/sim/world_control.py)")


def parse_listen(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SimError(f"{option} {text!r} is not HOST:PORT (port 0..65535)")
    return host, int(port)


def parse_flash_size(text: str) -> int:
    match = _SIZE.match(text)
    if match:
        number = int(match.group(1))
        size = number * MEGABYTE if match.group(2) or number in FLASH_SIZES_MB else number
        if size in (mb * MEGABYTE for mb in FLASH_SIZES_MB):
            return size
    choices = ", ".join(f"{mb}MB" for mb in FLASH_SIZES_MB)
    raise SimError(f"--flash-size {text!r} is not a flash chip this board can carry ({choices})")


def run(args) -> int:
    if getattr(args, "make_image", None):
        return _make_image(args.make_image)
    if getattr(args, "power", None):
        return _switch_power(args.power, args.control)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with ExitStack() as stack:
            sim = _start(args, stack)
            _announce(sim)
            while not stop.wait(1.0):
                pass
            for endpoint in (sim["server"], sim["pty"], sim["control"]):
                if endpoint is not None:
                    endpoint.close()  # no host byte reaches the chip from here on
            sim["board"].shutdown()
        return 0
    except SimError as exc:
        print(f"hil sim: {exc}", file=sys.stderr, flush=True)
        return EXIT_START_FAILED


def _make_image(path: str) -> int:
    from nodemcu_hil.sim.mpimage import make_image

    try:
        print(make_image(path), flush=True)
    except OSError as exc:
        print(f"hil sim: cannot write the image {path}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_START_FAILED
    return 0


def _switch_power(action: str, control: str) -> int:
    from nodemcu_hil.sim.control import ControlClient, ControlError

    try:
        host, port = parse_listen(control, "--control")
        if port == 0:
            raise SimError(f"--power {action} needs --control HOST:PORT: the control endpoint of the running "
                           f"board, as its READY line prints it")
        with ControlClient(f"{host}:{port}") as client:
            client.power(action)
    except (SimError, ControlError) as exc:
        print(f"hil sim: {exc}", file=sys.stderr, flush=True)
        return EXIT_START_FAILED
    return 0


def _start(args, stack: ExitStack) -> dict:
    from nodemcu_hil.sim.board import Board, BoardConfig
    from nodemcu_hil.sim.control import ControlServer, register_board_commands
    from nodemcu_hil.sim.flash import Flash, FlashFileError
    from nodemcu_hil.sim.link import Rfc2217Server
    from nodemcu_hil.sim.loader import default_mac, parse_mac
    from nodemcu_hil.sim.ptylink import PtyLink

    rfc_host, rfc_port = parse_listen(args.rfc2217, "--rfc2217")
    control_host, control_port = parse_listen(args.control, "--control")
    size = parse_flash_size(args.flash_size)
    try:
        mac = parse_mac(args.mac) if args.mac else default_mac(args.name)
    except ValueError as exc:
        raise SimError(f"--mac {args.mac!r}: {exc}") from None

    state_dir = _state_dir(args, stack)
    flash_path = Path(args.flash) if args.flash else state_dir / FLASH_FILE_NAME
    server = _take(lambda: Rfc2217Server.bind(rfc_host, rfc_port), f"RFC2217 port {args.rfc2217}")
    stack.callback(server.close)
    control = _take(lambda: ControlServer(control_host, control_port), f"control port {args.control}")
    stack.callback(control.close)
    pty = None
    if args.pty:
        pty = _take(lambda: PtyLink(args.pty, auto_reset=args.auto_reset), "PTY")
        stack.callback(pty.close)
    world = _start_world(args, control, stack)
    try:
        flash = Flash(flash_path, size)
    except FlashFileError as exc:
        raise SimError(str(exc)) from None
    stack.callback(flash.close)

    config = BoardConfig(args.name, flash_path, size, mac, state_dir, pace=args.pace, max_baud=args.max_baud)
    board = Board(config, flash, world=world)
    server.attach(board)
    if pty is not None:
        pty.attach(board)
    register_board_commands(control, board)
    board.power_on()
    for endpoint in (server, control, pty):
        if endpoint is not None:
            endpoint.start()
    return {"board": board, "server": server, "control": control, "pty": pty}


def _start_world(args, control, stack: ExitStack):
    """The world around the board (Wi-Fi, network path, GPIO), its commands on `control`."""
    from nodemcu_hil.sim.world import World
    from nodemcu_hil.sim.world_control import WorldFileError

    world = World()
    try:
        if args.world:
            world.load(args.world)
    except WorldFileError as exc:
        raise SimError(str(exc)) from None
    world.register_control(control)
    world.start()
    stack.callback(world.close)
    return world


def _take(opener, what: str):
    try:
        return opener()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SimError(f"cannot open the {what}: {reason}") from None


def _state_dir(args, stack: ExitStack) -> Path:
    if args.state_dir:
        path = Path(args.state_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimError(f"--state-dir {args.state_dir}: {exc.strerror}") from None
        return path
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hil-sim-")))


def _announce(sim: dict) -> None:
    parts = ["READY", sim["server"].url]
    if sim["pty"] is not None:
        parts.append(f"pty={sim['pty'].path}")
    parts.append(f"control={sim['control'].address}")
    print(" ".join(parts), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hil sim", description=__doc__.splitlines()[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
