"""esptool's Python API on a port the harness opened: connect, with its printing captured.

esptool prints its progress; the harness wants those lines in the board's timeline, not
on the terminal, and wants a failed connection as a typed error naming board and port.
"""

from __future__ import annotations

import contextlib
import io
from typing import Callable

from nodemcu_hil.errors import BoardNotFound

DEFAULT_RESET = "default-reset"
CONNECT_ATTEMPTS = 3


class _LineSink(io.TextIOBase):
    """Forwards esptool's printed lines to the harness log, one callback per line."""

    def __init__(self, emit: Callable[[str], None]):
        self._emit = emit
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._emit(line.rstrip("\r"))
        return len(text)


def quiet(log: Callable[[str], None]):
    return contextlib.redirect_stdout(_LineSink(log))


def connect(serial_port, *, where: dict, log: Callable[[str], None] = lambda line: None,
            connect_mode: str = DEFAULT_RESET, stub: bool = True):
    """Reset into the ROM loader, sync, detect the chip and (with `stub`) start the stub."""
    import esptool.cmds
    from esptool.util import FatalError

    try:
        with quiet(log):
            esp = esptool.cmds.detect_chip(port=serial_port, connect_mode=connect_mode,
                                           connect_attempts=CONNECT_ATTEMPTS)
            return esp.run_stub() if stub else esp
    except FatalError as exc:
        raise BoardNotFound(f"esptool could not talk to the ROM loader: {exc}", **where,
                            hint="check the cable and the port; a board without auto-reset needs FLASH "
                                 "held while RST is tapped") from None
