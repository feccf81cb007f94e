"""Ask the running firmware whether its flash already holds an image, before any reset.

A rig reuses boards that already run the image under test. Proving that through the ROM
loader means a reset into it and the stub uploaded at 115200 (about 2 s on the wire)
before esptool can compare MD5s. MicroPython on the board can read its own flash
(`esp.flash_read`) and hash it in C, so one raw-REPL exec answers the same question
without leaving the firmware. The comparison covers the same bytes as the loader's
(from byte 4 on: esptool patches the flash size into bytes 2-3 of the header).

Anything short of a clear match (no MicroPython REPL within the deadline, no `esp` or
`hashlib`, another MAC than the inventory's, a different hash) is "not known to be
there": the caller then goes through the ROM loader as before, which also gives the
typed errors (wrong board, image too large) their full diagnosis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from nodemcu_hil import chip
from nodemcu_hil.errors import HilError

FIRMWARE_BAUD = chip.FIRMWARE_BAUD
PROBE_TIMEOUT_S = 1.0  # per step: a firmware that does not stop for CTRL-C is not waited for
PROBE_ATTEMPTS = 2  # the second in case the first CTRL-C met a boot still printing
FIRST_ANSWER_S = 0.5  # MicroPython answers CTRL-C at once; silence means nobody is there
WAKE = b"\r\x03\x03"
HASHED_FROM = chip.MICROPYTHON_MD5_SKIP  # bytes 0-3 of the header hold esptool's flash size patch
READ_BLOCK = 4096  # one flash sector per esp.flash_read
HASH_SECONDS_PER_MB = 4.0  # allowance for the board's reading and hashing

BOARD_HASH_CODE = """\
import esp, hashlib, network, binascii
def _hil_flash_hash(start, end, block):
    h = hashlib.sha256()
    buf = bytearray(block)
    offset = 0
    while offset < end:
        esp.flash_read(offset, buf)
        lo = max(start - offset, 0)
        hi = min(end - offset, block)
        h.update(memoryview(buf)[lo:hi])
        offset += block
    return binascii.hexlify(h.digest()).decode()
print(binascii.hexlify(network.WLAN(network.STA_IF).config('mac'), ':').decode())
print(_hil_flash_hash({start}, {end}, {block}))
"""


@dataclass(frozen=True)
class FirmwareAnswer:
    """What the firmware said; `holds` is True only on a matching hash and MAC."""

    holds: bool
    mac: str | None
    reason: str


def image_digest(padded: bytes) -> str:
    return hashlib.sha256(padded[HASHED_FROM:]).hexdigest()


def ask_firmware(serial_port, padded: bytes, *, url: str, board: str | None,
                 expect_mac: str | None, restart: bool, log: Callable[[str], None]) -> FirmwareAnswer:
    """Whether the firmware running on the board holds `padded` (what esptool would write).

    Asking stops the application at the REPL: with `restart` a board that holds the image
    is soft-reset into main.py again; otherwise it is left at the REPL for the caller's reset.
    """
    from nodemcu_hil.repl import Repl

    saved_baud = serial_port.baudrate
    serial_port.baudrate = FIRMWARE_BAUD
    repl = Repl(serial_port, url, board=board)
    try:
        answer = _ask(repl, padded, expect_mac, restart)
    except HilError as exc:
        answer = FirmwareAnswer(False, None, f"the firmware could not be asked ({exc.what})")
    except OSError as exc:  # the port itself failed: the loader path reports it properly
        answer = FirmwareAnswer(False, None, f"the firmware could not be asked ({exc})")
    finally:
        serial_port.baudrate = saved_baud
    log(f"running firmware: {answer.reason}")
    return answer


def _ask(repl, padded: bytes, expect_mac: str | None, restart: bool) -> FirmwareAnswer:
    if not _answers(repl.serial):
        return FirmwareAnswer(False, None, "no answer to CTRL-C (nothing running, or the ROM loader)")
    repl.enter(soft_reset=False, timeout=PROBE_TIMEOUT_S, attempts=PROBE_ATTEMPTS)
    code = BOARD_HASH_CODE.format(start=HASHED_FROM, end=len(padded), block=READ_BLOCK)
    lines = repl.exec(code, timeout=PROBE_TIMEOUT_S + HASH_SECONDS_PER_MB * len(padded) / 1e6)
    answer = _judge(lines.decode(errors="replace").split(), padded, expect_mac)
    if answer.holds and restart:
        repl.soft_reset(timeout=PROBE_TIMEOUT_S * 5)
    else:
        repl.leave()
    return answer


def _answers(serial_port) -> bool:
    """Anything at all comes back for CTRL-C within FIRST_ANSWER_S: an erased board, one in
    the ROM loader or one without power stays silent, and is not waited for any longer."""
    saved_timeout = serial_port.timeout
    serial_port.timeout = FIRST_ANSWER_S
    try:
        serial_port.write(WAKE)
        return bool(serial_port.read(1))
    finally:
        serial_port.timeout = saved_timeout


def _judge(lines: list[str], padded: bytes, expect_mac: str | None) -> FirmwareAnswer:
    if len(lines) != 2:
        return FirmwareAnswer(False, None, f"unexpected answer {lines!r}")
    mac, digest = lines[0].lower(), lines[1].lower()
    if expect_mac and mac != expect_mac.lower():
        return FirmwareAnswer(False, mac, f"MAC {mac}, not the inventory's {expect_mac}")
    if digest != image_digest(padded):
        return FirmwareAnswer(False, mac, "its flash holds another image")
    return FirmwareAnswer(True, mac, "its flash already holds this image")
