"""Who is at the end of a port: chip type, MAC and SPI flash id through esptool's ROM loader.

Used by `hil boards --probe` and by the `board` fixture before anything is written to a
board, so that a board plugged into the wrong USB port is refused (`WrongBoard`) instead
of flashed.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass

from nodemcu_hil import chip
from nodemcu_hil.errors import HilError, PortBusy, WrongBoard
from nodemcu_hil.esptool_session import DEFAULT_RESET, connect, quiet
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.ports import open_port

ESP8266_CHIP = chip.CHIP_NAME

STATUS_OK = "ok"
STATUS_WRONG_MAC = "wrong MAC"
STATUS_WRONG_CHIP = "wrong chip"
STATUS_UNREACHABLE = "unreachable"
STATUS_BUSY = "busy"


@dataclass(frozen=True)
class BoardIdentity:
    chip: str
    mac: str
    flash_id: int | None = None  # JEDEC RDID: manufacturer | device << 8 (0x1640ef: Winbond, 4 MB)

    def facts(self) -> dict:
        """The identity's part of a board's fingerprint in the reports."""
        facts = {"chip": self.chip, "mac": self.mac}
        if self.flash_id is not None:
            facts["flash_id"] = f"0x{self.flash_id:06x}"
        return facts


@dataclass(frozen=True)
class ProbeResult:
    board: str
    port: str
    status: str
    identity: BoardIdentity | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def identify(serial_port, *, connect_mode: str = DEFAULT_RESET) -> BoardIdentity:
    """Connect esptool to an open port (ROM loader), read chip name, MAC and the SPI flash's
    JEDEC id (RDID through the SPI registers, as `esptool flash-id` does), reset to run."""
    esp = connect(serial_port, where={"port": getattr(serial_port, "port", None)}, connect_mode=connect_mode,
                  stub=False)
    with quiet(lambda line: None):
        mac = ":".join(f"{byte:02x}" for byte in esp.read_mac())
        esp.flash_spi_attach(0)  # the ROM's FLASH_BEGIN(0, 0): what `esptool flash-id` sends first
        flash_id = esp.flash_id()
        esp.hard_reset()
    return BoardIdentity(chip=esp.CHIP_NAME, mac=mac, flash_id=flash_id)


def check_identity(record: BoardRecord, identity: BoardIdentity) -> None:
    """`WrongBoard` unless the port holds an ESP8266 with the inventory's MAC."""
    if identity.chip != ESP8266_CHIP:
        raise WrongBoard(f"found a {identity.chip}, expected an {ESP8266_CHIP}", board=record.name,
                         port=record.port, hint="fix the port in boards.toml")
    if record.mac and identity.mac != record.mac:
        raise WrongBoard(f"found MAC {identity.mac}, the inventory expects {record.mac}",
                         board=record.name, port=record.port,
                         hint="another board is on this port: fix boards.toml or the cabling")


def verify_board(record: BoardRecord) -> BoardIdentity:
    """Open the record's port and check who is there, before a command writes anything.

    esptool's identification resets the board into its ROM loader and back into the
    firmware, so the board is running again when this returns, whatever it found.
    """
    with contextlib.closing(open_port(record.port)) as serial_port:
        identity = identify(serial_port)
    check_identity(record, identity)
    return identity


def probe_board(record: BoardRecord, hold: AbstractContextManager) -> ProbeResult:
    """One line of `hil boards --probe`: never raises for a board-side problem. `hold` is
    the board's lease (or labgrid place) from its source, taken for the probe."""
    try:
        with hold as held:
            record = held or record  # a labgrid place's port is known once it is held
            with contextlib.closing(open_port(record.port)) as serial_port:
                identity = identify(serial_port)
    except PortBusy as exc:
        return ProbeResult(record.name, record.port, STATUS_BUSY, detail=exc.what)
    except HilError as exc:
        return ProbeResult(record.name, record.port, STATUS_UNREACHABLE, detail=str(exc))
    try:
        check_identity(record, identity)
    except WrongBoard as exc:
        status = STATUS_WRONG_CHIP if identity.chip != ESP8266_CHIP else STATUS_WRONG_MAC
        return ProbeResult(record.name, record.port, status, identity, detail=exc.what)
    return ProbeResult(record.name, record.port, STATUS_OK, identity)
