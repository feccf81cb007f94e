"""Test-only link: a RomLoader behind a pseudo-terminal, so the real esptool can talk to it.

The master side feeds `RomLoader.receive`; the loader's UART writes back to the master.
A PTY carries no DTR/RTS, so esptool must run with `--before no-reset` (it warns "Chip
was NOT reset" and syncs anyway), exactly as with a board held in download mode.
"""

from __future__ import annotations

import os
import select
import threading
import tty

from nodemcu_hil.sim.flash import Flash
from nodemcu_hil.sim.loader import RomLoader
from nodemcu_hil.sim.uart import Uart

POLL_SECONDS = 0.05


class LoaderOnPty:
    def __init__(self, flash: Flash, mac: bytes, **callbacks):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.uart = Uart(self._to_host)
        self.loader = RomLoader(flash, mac, self.uart, **callbacks)
        self.sent_bauds: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="loader-pty", daemon=True)

    def _to_host(self, data: bytes, baud: int) -> None:
        self.sent_bauds.append(baud)
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def _pump(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], POLL_SECONDS)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                continue
            self.loader.receive(data)

    def __enter__(self) -> "LoaderOnPty":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._master)
        os.close(self._slave)
