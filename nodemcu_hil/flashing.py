"""Erase and flash a board through esptool's Python API, on a port the harness opened.

Takes only a `ValidatedImage`, so nothing is erased for an image that failed validation,
and checks the board's identity and the size of the flash chip it reports before the
first erase. When the flash already holds the image the erase and write are skipped
(compared from byte 4 on: esptool patches bytes 2-3 of the header with the detected
flash size, which is why MicroPython's own check_fw skips bytes 0-3 too). The running
firmware is asked first (`flash_check`: no reset, no stub); only when it cannot say yes
does the board go through the ROM loader, whose stub compares MD5s.

A refusal after connecting (wrong MAC, image larger than the chip, a command the chip
answered with an error) hard-resets the board into its firmware, so it is not left
sitting in the ROM loader. Only a link failure (no intact answer) is retried at 115200.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nodemcu_hil import chip
from nodemcu_hil.errors import FlashFailed, ImageRejected, WrongBoard
from nodemcu_hil.esptool_session import connect, quiet
from nodemcu_hil.flash_check import ask_firmware as ask_running_firmware
from nodemcu_hil.images import ValidatedImage, validate_image
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.ports import open_port

ROM_BAUD = chip.ROM_LOADER_BAUD
APP_OFFSET = chip.APP_OFFSET
PATCHED_HEADER_BYTES = chip.MICROPYTHON_MD5_SKIP
KIB = 1024
CHECKED_BY_FIRMWARE = "the running firmware"
CHECKED_BY_LOADER = "the ROM loader's stub"
# esptool messages that mean no intact answer came back, or the data was garbled on the way:
# the line, not the chip, failed, so a slower rate may succeed.
LINK_FAILURE_MARKERS = ("No serial data received", "Timed out", "Invalid head of packet",
                        "Packet content transfer stopped", "Invalid SLIP escape", "Response doesn't match",
                        "Checksum error", "Bad data checksum", "Inflate error", "Deflate Adler32 error",
                        "Bad data length")


@dataclass(frozen=True)
class FlashOutcome:
    skipped: bool
    baud: int
    seconds: float
    mac: str
    fell_back: bool = False
    checked_by: str = CHECKED_BY_LOADER  # who found the image already there (when skipped)


class _LinkFailure(Exception):
    """The serial link failed at this rate; carries the error to raise if no retry helps."""

    def __init__(self, error: FlashFailed, esp):
        super().__init__(str(error))
        self.error = error
        self.esp = esp


def flash_image(serial_port, image: ValidatedImage, *, baud: int, board: str | None = None,
                expect_mac: str | None = None, force: bool = False, reset_after: bool = True,
                ask_firmware: bool = True, log: Callable[[str], None] = lambda line: None) -> FlashOutcome:
    """Flash `image` at offset 0 unless it is already there.

    With `reset_after` esptool hard-resets into the firmware; without, the caller resets
    (the console does, to capture the ROM boot message at its own baud rate). Without
    `ask_firmware` only the ROM loader checks (a caller that has just left the board in it).
    """
    where = {"board": board, "port": getattr(serial_port, "port", None)}
    started = time.monotonic()
    if ask_firmware and not force:
        answer = ask_running_firmware(serial_port, image.padded, url=str(where["port"]), board=board,
                                      expect_mac=expect_mac, restart=reset_after, log=log)
        if answer.holds:
            log("flash already holds this image: erase and write skipped")
            return FlashOutcome(True, baud, time.monotonic() - started, answer.mac,
                                checked_by=CHECKED_BY_FIRMWARE)
    options = dict(where=where, expect_mac=expect_mac, force=force, reset_after=reset_after, log=log,
                   started=started)
    try:
        return _flash(serial_port, image, baud=baud, **options)
    except _LinkFailure as failure:
        if baud == ROM_BAUD:
            _reset_into_firmware(failure.esp, log)
            raise failure.error from None
        log(f"flashing at {baud} baud failed; retrying at {ROM_BAUD}")
    serial_port.baudrate = ROM_BAUD
    try:
        outcome = _flash(serial_port, image, baud=ROM_BAUD, **options)
    except _LinkFailure as failure:
        _reset_into_firmware(failure.esp, log)
        raise failure.error from None
    return FlashOutcome(outcome.skipped, ROM_BAUD, outcome.seconds, outcome.mac, fell_back=True)


def _flash(serial_port, image: ValidatedImage, *, baud: int, where: dict, expect_mac: str | None,
           force: bool, reset_after: bool, log: Callable[[str], None], started: float) -> FlashOutcome:
    import esptool.cmds
    from esptool.util import FatalError

    esp = connect(serial_port, where=where, log=log)
    data = image.padded
    try:
        with quiet(log):
            mac = ":".join(f"{byte:02x}" for byte in esp.read_mac())
            if expect_mac and mac != expect_mac:
                raise WrongBoard(f"found MAC {mac}, the inventory expects {expect_mac}; nothing was written",
                                 **where, hint="another board is on this port: fix boards.toml or the cabling")
            _check_fits(esp, image, where, log)
            if baud != ROM_BAUD:
                esp.change_baud(baud)
            if not force and _already_flashed(esp, data):
                log("flash already holds this image: erase and write skipped")
                if reset_after:
                    esp.hard_reset()
                return FlashOutcome(True, baud, time.monotonic() - started, mac)
            esptool.cmds.erase_flash(esp)
            esptool.cmds.write_flash(esp, [(APP_OFFSET, data)], flash_size="detect")
            if reset_after:
                esp.hard_reset()
    except FatalError as exc:
        if is_link_failure(exc):
            raise _LinkFailure(FlashFailed(f"esptool failed at {baud} baud: {exc}", **where,
                                           hint="the board may be left erased: check the cable, run the "
                                                "flash again"), esp) from None
        _reset_into_firmware(esp, log)
        raise FlashFailed(f"the board refused at {baud} baud: {exc}", **where,
                          hint="the board may be left erased: check the image and the board's flash, "
                               "then run the flash again") from None
    except (WrongBoard, ImageRejected):
        _reset_into_firmware(esp, log)
        raise
    return FlashOutcome(False, baud, time.monotonic() - started, mac)


def write_validated(port, image: ValidatedImage, record: BoardRecord, *, baud: int, force: bool,
                    log: Callable[[str], None], reset_after: bool = True,
                    ask_firmware: bool = True) -> FlashOutcome:
    """The one flash write of fixtures and `hil flash`: the board's MAC checked, skipped
    when the flash already holds the image (unless `force`)."""
    return flash_image(port, image, baud=baud, board=record.name, expect_mac=record.mac, force=force,
                       log=log, reset_after=reset_after, ask_firmware=ask_firmware)


def flash_record(record: BoardRecord, image_path: Path, *, baud: int, force: bool = False,
                 log: Callable[[str], None] = lambda line: None,
                 announce: Callable[[ValidatedImage], object] = lambda image: None):
    """`hil flash` on a leased board without a session: validate the whole image, only then
    open the port and write it as the fixtures' `bringup.flash_board` does. Returns
    (ValidatedImage, FlashOutcome)."""
    image = validate_image(image_path, record.flash_size, board=record.name)
    announce(image)
    with open_port(record.port) as port:
        outcome = write_validated(port, image, record, baud=baud, force=force, log=log)
    return image, outcome


def is_link_failure(exc: Exception) -> bool:
    """True when esptool got no intact answer (worth a slower rate), not a refusal."""
    return any(marker in str(exc) for marker in LINK_FAILURE_MARKERS)


def _check_fits(esp, image: ValidatedImage, where: dict, log: Callable[[str], None]) -> None:
    """The image fits the flash chip the board reports (its JEDEC id), whatever boards.toml says."""
    import esptool.cmds
    from esptool.util import flash_size_bytes

    reported = esptool.cmds.detect_flash_size(esp)
    chip_size = flash_size_bytes(reported) if reported else None
    if chip_size is None:
        log("the flash chip did not report a known size: only the inventory's flash_size was checked")
        return
    if len(image.padded) > chip_size:
        raise ImageRejected(f"{image.path}: {len(image.padded)} bytes ({len(image.padded) // KIB} KiB) do not fit "
                            f"in the {reported} ({chip_size // KIB} KiB) flash chip the board reports; "
                            "nothing was erased", **where,
                            hint="use the build for this board's flash size (e.g. ESP8266_GENERIC-FLASH_1M) "
                                 "and set flash_size in boards.toml")


def _reset_into_firmware(esp, log: Callable[[str], None]) -> None:
    """Hard reset (RTS) so a refused board runs its firmware again instead of the ROM loader."""
    try:
        with quiet(log):
            esp.hard_reset()
    except (OSError, RuntimeError) as exc:  # port gone, esptool error: the refusal is what counts
        log(f"could not reset the board after the refusal: {exc}")


def _already_flashed(esp, data: bytes) -> bool:
    tail = data[PATCHED_HEADER_BYTES:]
    on_flash = esp.flash_md5sum(APP_OFFSET + PATCHED_HEADER_BYTES, len(tail))
    return on_flash == hashlib.md5(tail).hexdigest()
