"""One virtual NodeMCU: flash, UART, reset circuit, and whatever the chip is running.

The chip runs one thing at a time: nothing (held in reset, or halted after a failed
boot), the ROM serial loader (download mode, later esptool's stub), or the application
from flash. Every reset starts a new *session* with its own `Uart`; output from a
session that has ended is dropped, so a stopping application cannot leak bytes into the
next boot. Host bytes arrive through `receive()`; chip bytes leave through the listeners
that the link registers. All state changes happen under one lock; output fan-out has its
own lock so an application thread may transmit while the board is busy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nodemcu_hil.sim import application, boot
from nodemcu_hil.sim.reset import BootMode, ResetCircuit, RST_CAUSE_POWER_ON
from nodemcu_hil.sim.supply import MODE_OFF, PowerSupply
from nodemcu_hil.sim.uart import BOOT_MESSAGE_BAUD, ROM_LOADER_BAUD, Uart
from nodemcu_hil.sim.wire import Pacer, resample

MODE_RESET = "reset"  # nRST held low
MODE_BOOTING = "booting"  # nRST released, boot mode not decided yet
MODE_DOWNLOAD = "download"  # ROM serial loader (or the stub it started)
MODE_APPLICATION = "application"
MODE_HALTED = "halted"  # flash boot found no valid image
RESET_HISTORY = 32

Listener = Callable[[bytes, int], None]


LOSSY_LINE_ERROR = 0.10  # past --max-baud edges smear: a 10 % sampling error garbles every byte


@dataclass(frozen=True)
class BoardConfig:
    name: str
    flash_path: Path
    flash_size: int
    mac: bytes
    state_dir: Path
    pace: bool = False
    max_baud: int | None = None  # above this the line is unreliable (long cable, weak USB-serial chip)


class Board(PowerSupply):
    def __init__(self, config: BoardConfig, flash, *, world=None):
        self.config = config
        self.flash = flash
        self.world = world
        self._lock = threading.RLock()
        self._out_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._tx_pacer = Pacer()
        self._rx_pacer = Pacer()
        self._session = 0
        self.uart = Uart(self._sink_for(0), BOOT_MESSAGE_BAUD)
        self.mode = MODE_OFF
        self._loader = None
        self._app = None
        self.loader_rebooted = False  # the ROM loader running was re-entered by FLASH_END(0)
        self.reset_count = 0
        self.resets: list[dict] = []
        self._timer: threading.Timer | None = None
        self.powered = False
        self.bridge_stuck = False
        self.circuit = ResetCircuit(self._on_reset, self._on_boot)

    # -- wiring ---------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self._out_lock:
            self._listeners.append(listener)

    def _sink_for(self, session: int) -> Listener:
        def sink(data: bytes, baud: int) -> None:
            if session != self._session or not self.link_up:
                return
            if self.config.pace:
                self._tx_pacer.wait(len(data), baud)
            with self._out_lock:
                for listener in self._listeners:
                    listener(data, baud)
        return sink

    # -- host side ------------------------------------------------------------------

    def receive(self, data: bytes, host_baud: int) -> None:
        """Bytes the host sent at `host_baud`; garbled if the chip listens at another rate."""
        if not self.link_up:
            return
        if self.config.pace:
            self._rx_pacer.wait(len(data), host_baud)
        with self._lock:
            self.circuit.settle()
            target = self._loader if self.mode == MODE_DOWNLOAD else self._app
            if target is None or self.mode not in (MODE_DOWNLOAD, MODE_APPLICATION):
                return
            target.receive(resample(data, host_baud, self._sampling_baud(host_baud)))

    def _sampling_baud(self, host_baud: int) -> int:
        """The rate the chip effectively samples at; off by a lossy margin above `max_baud`."""
        if self.config.max_baud and host_baud > self.config.max_baud:
            return int(self.uart.baud * (1 - LOSSY_LINE_ERROR))
        return self.uart.baud

    def settle(self) -> None:
        """The host is about to listen (it purges its input): finish a pending boot now."""
        with self._lock:
            self.circuit.settle()

    def set_dtr(self, asserted: bool) -> None:
        with self._lock:
            if not self.link_up:
                return
            self.circuit.set_dtr(asserted)
            self._schedule_latch()

    def set_rts(self, asserted: bool) -> None:
        with self._lock:
            if not self.link_up:
                return
            self.circuit.set_rts(asserted)
            self._schedule_latch()

    def set_lines(self, dtr: bool, rts: bool) -> None:
        with self._lock:
            if not self.link_up:
                return
            self.circuit.set_lines(dtr, rts)
            self._schedule_latch()

    def auto_reset(self, download: bool) -> None:
        """What a USB bridge's auto-reset circuit does for esptool on a port without modem
        lines (the PTY): EN pulsed low with GPIO0 low (`download`: into the ROM loader, as
        esptool's reset before it syncs) or high (a flash boot, as its hard reset at the end).
        The boot is decided at once."""
        with self._lock:
            if not self.link_up:
                return
            self._cancel_timer()
            pull_gpio0 = download and "flash" not in self.circuit.pressed
            if pull_gpio0:
                self.circuit.press("flash")
            try:
                self.circuit.press("rst")
                self.circuit.release("rst")
                self.circuit.settle()
            finally:
                if pull_gpio0:
                    self.circuit.release("flash")
            self._schedule_latch()

    def press(self, button: str) -> None:
        with self._lock:
            self.circuit.press(button)
            self._schedule_latch()

    def release(self, button: str) -> None:
        with self._lock:
            self.circuit.release(button)
            self._schedule_latch()

    # -- resets (power: supply.PowerSupply) ------------------------------------------

    def reboot(self, cause: int) -> None:
        """A reset from inside the chip (watchdog, machine.reset()): straps re-read."""
        requested_in = self._session

        def run() -> None:
            with self._lock:
                if requested_in != self._session or not self.circuit.enabled:
                    return  # the chip was reset from outside meanwhile
                self._on_reset()
                mode = BootMode.DOWNLOAD if self.circuit.gpio0_low else BootMode.FLASH
                self._on_boot(mode, cause)
        threading.Thread(target=run, name="chip-reboot", daemon=True).start()

    def shutdown(self) -> None:
        with self._lock:
            self._cancel_timer()
            self._stop_running()
            self.mode = MODE_OFF
            self._session += 1

    def state(self) -> dict:
        with self._lock:
            return {
                "name": self.config.name,
                "mode": self.mode,
                "baud": self.uart.baud,
                "reset_count": self.reset_count,
                "resets": list(self.resets),
                "stub_running": bool(getattr(self._loader, "stub_running", False)),
                "dtr": self.circuit.dtr,
                "rts": self.circuit.rts,
                "pressed": sorted(self.circuit.pressed),
                "mac": ":".join(f"{b:02x}" for b in self.config.mac),
                "flash_size": self.config.flash_size,
                "powered": self.powered,
                "bridge_stuck": self.bridge_stuck,
            }

    def _schedule_latch(self) -> None:
        self._cancel_timer()
        if not self.powered:
            return
        deadline = self.circuit.deadline()
        if deadline is None:
            return
        self.mode = MODE_BOOTING
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._latch_due)
        self._timer.daemon = True
        self._timer.start()

    def _latch_due(self) -> None:
        with self._lock:
            self.circuit.poll()
            if self.circuit.boot_pending:
                self._schedule_latch()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop_running(self) -> None:
        app, self._app = self._app, None
        self._loader = None
        if app is not None:
            app.stop()

    def _new_session(self, baud: int) -> None:
        self._session += 1
        self.uart = Uart(self._sink_for(self._session), baud)

    def _on_reset(self) -> None:
        if not self.powered:
            return
        self._stop_running()
        self._new_session(BOOT_MESSAGE_BAUD)
        self.mode = MODE_RESET

    def _on_boot(self, mode: BootMode, cause: int) -> None:
        if not self.powered:
            return
        self._stop_running()
        self._new_session(BOOT_MESSAGE_BAUD)
        self.reset_count += 1
        self.resets = (self.resets + [{"cause": cause, "mode": mode.value}])[-RESET_HISTORY:]
        self.uart.transmit(boot.banner(mode, cause).encode())
        if mode is BootMode.DOWNLOAD:
            self._enter_loader()
        else:
            self._boot_flash(cause)

    def _enter_loader(self) -> None:
        from nodemcu_hil.sim.loader import RomLoader
        self.uart.baud = ROM_LOADER_BAUD
        self.mode = MODE_DOWNLOAD
        self.loader_rebooted = False
        self._loader = RomLoader(
            self.flash, self.config.mac, self.uart,
            on_run_firmware=self._loader_runs_firmware,
            on_reboot_to_loader=self._loader_reboots_to_loader,
            console=self._console,
        )

    def _boot_flash(self, cause: int) -> None:
        text, image = boot.flash_boot_text(self.flash.read, self.flash.size)
        self.uart.transmit(text.encode())
        if image is None:
            self.mode = MODE_HALTED
            return
        context = boot.BootContext(
            flash=self.flash, flash_path=self.config.flash_path, flash_size=self.flash.size,
            mac=self.config.mac, uart=self.uart, reset_cause=cause,
            state_dir=self.config.state_dir, image=image, world=self.world,
            reboot=self.reboot, board_name=self.config.name,
        )
        self.mode = MODE_APPLICATION
        self._app = application.start_application(context)

    def _loader_runs_firmware(self) -> None:
        """FLASH_END(run) / RUN_USER_CODE: the ROM jumps to the application in flash."""
        with self._lock:
            cause = self.resets[-1]["cause"] if self.resets else RST_CAUSE_POWER_ON
            self._stop_running()
            self._new_session(BOOT_MESSAGE_BAUD)
            self._boot_flash(cause)

    def _loader_reboots_to_loader(self) -> None:
        """FLASH_END(reboot): back into a fresh ROM loader, the stub is gone."""
        with self._lock:
            self._stop_running()
            self._new_session(ROM_LOADER_BAUD)
            self._enter_loader()
            self.loader_rebooted = True

    def _console(self, text: str) -> None:
        self.uart.transmit(text.encode())
