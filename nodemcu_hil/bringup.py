"""Bringing a board up for a session: reach it, flash it, deploy to it.

The plugin's fixtures are a few lines over these functions; `hil flash` and `hil deploy`
use the same ones, so the manual path and the test path cannot drift apart.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from nodemcu_hil import packages
from nodemcu_hil.board import Board, connect_board, disconnect_board
from nodemcu_hil.config import SOURCE_MARKER, Settings
from nodemcu_hil.deploy import DeployResult, deploy, deploy_to, local_files
from nodemcu_hil.device_config import DEFAULT_BROKER_PORT, DeviceContext, build_files
from nodemcu_hil.errors import BoardNotFound, ConfigError, DeviceHung
from nodemcu_hil.flashing import FlashOutcome, write_validated
from nodemcu_hil.secrets import reveal
from nodemcu_hil.images import ValidatedImage, validate_image
from nodemcu_hil.recovery import RUNG_SOFT_RESET, OutOfService, climb
from nodemcu_hil.power import reopen_port
from nodemcu_hil.sources import BoardSource, SourcedBoard
from nodemcu_hil.timeline import Timeline

RUNG_RESET = "reset"  # start_firmware: the board answered after a plain reset


@contextmanager
def session_board(source: BoardSource, settings: Settings, *, worker: str, worker_index: int,
                  state_dir: Path, timeline: Timeline) -> Iterator[Board]:
    """This worker's board from the run's source (leased, started or acquired), identified,
    with its console."""
    with ExitStack() as stack:
        sourced = source.claim(settings, worker=worker, worker_index=worker_index, state_dir=state_dir,
                               timeline=timeline, stack=stack)
        board = _connect_sourced(sourced, settings, timeline)
        stack.callback(disconnect_board, board)
        yield board


def _connect_sourced(sourced: SourcedBoard, settings: Settings, timeline: Timeline) -> Board:
    """Identify the board; one that does not answer at all (a hung USB-serial bridge) gets a
    power cycle first when its source can switch its power, as the recovery ladder would."""
    def connect() -> Board:
        return connect_board(sourced.record, timeline=timeline, pins=sourced.pins, wifi=sourced.wifi,
                             power=sourced.power, log_dir=settings.report_dir / "serial")

    try:
        return connect()
    except BoardNotFound as exc:
        if sourced.power is None:
            raise
        timeline.action(sourced.record.name, f"no answer at start-up ({exc.what}): power cycle "
                                             f"({sourced.power.description})")
    sourced.power.cycle()
    reopen_port(sourced.record.port, settings.boot_timeout).close()  # a USB device re-enumerates
    return connect()


def firmware_image_path(settings: Settings, source: BoardSource, image_dir: Path) -> Path:
    """The setting firmware_image, else the source's own (virtual boards' image; a rig has none)."""
    if settings.firmware_image is not None:
        return settings.firmware_image
    return source.default_image(image_dir)


def flash_board(board: Board, image_path: Path, settings: Settings) -> FlashOutcome:
    """Validate first (board untouched on failure), flash unless already there, boot it.

    A board a rig reuses already runs the firmware: booting it means reaching its REPL
    through whatever main.py does, and climbing the recovery ladder when it will not stop.
    """
    image = validate_image(image_path, board.record.flash_size, board=board.name)
    board.image_path = image_path
    outcome = _write_image(board, image, settings, force=settings.force_flash)
    start_firmware(board, settings)
    return outcome


def _write_image(board: Board, image: ValidatedImage, settings: Settings, *, force: bool) -> FlashOutcome:
    board.action(f"flash {image.path.name} ({len(image.data)} B) at {settings.flash_baud} baud")
    with board.console.borrow() as port:  # identification left the board in the ROM loader
        outcome = write_validated(port, image, board.record, baud=settings.flash_baud, force=force,
                                  log=lambda line: board.action(f"esptool: {line}"), reset_after=False,
                                  ask_firmware=False)
    board.action("flash skipped: the board already holds this image" if outcome.skipped
                 else f"flashed in {outcome.seconds:.1f} s at {outcome.baud} baud")
    return outcome


def start_firmware(board: Board, settings: Settings) -> str:
    """Hard reset, then the REPL of whatever firmware runs; the ladder when it does not answer.

    Returns how the board was reached ("reset" when it answered at once).
    """
    try:
        board.reach_repl(board.hard_reset(), settings.boot_timeout)
        return RUNG_RESET
    except DeviceHung:
        board.action("the board does not answer after reset: climbing the recovery ladder")
    result = climb(board, boot_timeout=settings.boot_timeout, reflash=lambda: reflash_board(board, settings))
    board.facts["recovered_by"] = result.rung
    return result.rung


def reflash_board(board: Board, settings: Settings) -> None:
    """The ladder's reflash rung: the session's image written again, the firmware put back."""
    image = validate_image(board.image_path, board.record.flash_size, board=board.name)
    _write_image(board, image, settings, force=True)
    board.reach_repl(board.hard_reset(), settings.boot_timeout)
    if board.redeploy is not None:
        board.redeploy()


def restart_for_test(board: Board, settings: Settings, sync: Callable[[], object]) -> str:
    """A clean start before a test: the board answering (the ladder when it does not), `sync`
    (this test's firmware config, which needs the REPL), then a soft reset into main.py.

    Returns how the board was brought back ("soft reset" when all was well).
    """
    if board.out_of_service:
        raise OutOfService(f"out of service: {board.out_of_service}", board=board.name, port=board.record.port)
    how = RUNG_SOFT_RESET
    try:
        board.interrupt()
    except DeviceHung:
        board.action("the board does not answer: climbing the recovery ladder")
        how = climb(board, boot_timeout=settings.boot_timeout, reflash=lambda: reflash_board(board, settings)).rung
    sync()
    board.last_boot = board.soft_reset(settings.boot_timeout)
    return how


def firmware_dir(settings: Settings, root: Path | None = None) -> Path:
    """The setting firmware_dir, relative to the project root (pytest's rootdir, or the
    current directory for the `hil` command)."""
    return Path(root or Path.cwd()) / settings.firmware_dir


def device_context(settings: Settings, broker_host: str, broker_port: int, topic_prefix: str) -> DeviceContext:
    """What the firmware's config builder is told: the setting broker_host, when set, is
    the address the boards reach (else `broker_host`, where the broker listens)."""
    host = settings.broker_host or broker_host
    if not host:
        raise ConfigError("no broker address to write into the board's config",
                          hint="set broker_host (hil deploy --broker-host, HIL_BROKER_HOST or the hil_broker_host "
                               "ini key), or broker_bind to the address the broker listens on")
    return DeviceContext(settings=settings, broker_host=host, broker_port=int(broker_port), topic_prefix=topic_prefix)


def config_files(settings: Settings, broker_host: str, broker_port: int, topic_prefix: str, *,
                 root: Path | None = None) -> dict[str, bytes]:
    """The firmware's config files, from the builder the setting device_config names."""
    return build_files(device_context(settings, broker_host, broker_port, topic_prefix), root)


def device_files(settings: Settings, broker_host: str, broker_port: int, topic_prefix: str, *,
                 mpy: bool = False, root: Path | None = None, libraries: list[packages.Library] | None = None,
                 cache: Path | None = None) -> dict[str, bytes]:
    """Every file the board gets for these settings: firmware tree, libraries, config files."""
    return local_files(firmware_dir(settings, root),
                       config_files(settings, broker_host, broker_port, topic_prefix, root=root),
                       mpy=mpy, libraries=libraries, cache=cache)


SOURCE_SESSION_BROKER = "session broker"


def with_broker_credentials(settings: Settings, credentials) -> Settings:
    """The settings with the board's credentials on the session broker (a
    `nodemcu_hil.broker_security.Credentials`) as broker_user and broker_password, so every config
    builder (it reads those settings) writes them into the board's config. A test's
    `hil_settings` marker that sets them still wins: a test may hand the board wrong ones."""
    if credentials is None:
        return settings
    given = {name: value for name, value in (("broker_user", credentials.username),
                                              ("broker_password", reveal(credentials.password)))
             if settings.source_of(name) != SOURCE_MARKER}
    return settings.with_overrides(given, source=SOURCE_SESSION_BROKER) if given else settings


def deploy_secrets(settings: Settings) -> list[str]:
    return DeviceContext(settings, "", 0, "").secrets()


def deploy_board(board: Board, settings: Settings, broker_host: str, broker_port: int,
                 topic_prefix: str, *, root: Path | None = None) -> DeployResult | None:
    """Sync the firmware for these settings unless the board got exactly it last time.

    A test whose `hil_settings` marker changes what the firmware is told (telemetry
    period, keepalive ...) thus gets its own config, and the next test the session's back;
    each time only the config files travel, since the deploy compares by hash.
    """
    files = device_files(settings, broker_host, broker_port, topic_prefix, root=root)
    if board.deployed_files == files:
        return None
    secrets = deploy_secrets(settings)

    def sync() -> DeployResult:
        with board.repl() as repl:
            result = deploy(repl, files, reset=False, out=board.action, secrets=secrets)
        board.deployed_files = files
        return result

    board.redeploy = sync
    return sync()


def manual_broker(settings: Settings) -> tuple[str, int]:
    """The broker a board deployed by hand (`hil deploy`) is told about, with no session
    broker: broker_host, else broker_bind when it is an address; broker_port, else 1883."""
    host = settings.broker_host or ("" if settings.broker_bind == "auto" else settings.broker_bind)
    return host, settings.broker_port or DEFAULT_BROKER_PORT


def manual_files(settings: Settings, *, mpy: bool = False, root: Path | None = None) -> dict[str, bytes]:
    """`hil deploy`'s files: `device_files` with the manual broker and the topic_prefix setting."""
    host, port = manual_broker(settings)
    return device_files(settings, host, port, settings.topic_prefix, mpy=mpy, root=root)


def deploy_manual(url: str, settings: Settings, *, board: str | None = None, mpy: bool = False,
                  dry_run: bool = False, reset: bool = True, root: Path | None = None,
                  out: Callable[[str], None] = print) -> DeployResult:
    """`hil deploy` to a board at `url`: the fixtures' files for these settings, by hash."""
    return deploy_to(url, manual_files(settings, mpy=mpy, root=root), board=board, dry_run=dry_run,
                     reset=reset, out=out, secrets=deploy_secrets(settings))
