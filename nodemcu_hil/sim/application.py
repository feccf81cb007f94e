"""The seam where the ROM hands the chip to the application in flash.

The board calls `start_application(context)` once the ROM has printed its boot text for
a flash boot of a valid V1 image (`context` is a `virtual_board.boot.BootContext`: flash,
flash path and size, MAC, the chip's `Uart`, the rst cause, the state directory, the
parsed image, the `world` control hook and a `reboot(cause)` callback). It returns at
once with an object that has `receive(data)` (host-to-chip bytes) and `stop()` (the chip
is being reset or powered off: the interpreter is killed at once).

A MicroPython image (`mpimage.recognise`) boots the runtime (`virtual_board.runtime`)
with the tag and date found in the image. Any other image cannot run without an Xtensa
CPU: it stays silent after the ROM text, as a chip running firmware that never prints.

Reset causes: the ROM's rst cause (1 power-on, 2 RST pin, 4 watchdog) is not what
`machine.reset_cause()` reports (the SDK's rst_info.reason). A reset the firmware asks
for (`_vboard.request_reset`) records that reason in the state directory before asking
the board to reboot; any other boot maps the ROM cause.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nodemcu_hil.sim.mpimage import NotMicroPython, recognise
from nodemcu_hil.sim.runtime.initdata import ensure_init_data
from nodemcu_hil.sim.uart import BOOT_MESSAGE_BAUD, FIRMWARE_BAUD

# machine.reset_cause() values (ports/esp8266/modmachine.c, SDK rst_info.reason)
PWRON_RESET = 0
WDT_RESET = 1
EXCEPTION_RESET = 2
SOFT_RESET = 4
DEEPSLEEP_RESET = 5
HARD_RESET = 6
ROM_CAUSE_POWER_ON = 1
ROM_CAUSE_RST_PIN = 2
ROM_CAUSE_WATCHDOG = 4
REASON_FROM_ROM_CAUSE = {ROM_CAUSE_POWER_ON: PWRON_RESET, ROM_CAUSE_RST_PIN: HARD_RESET,
                         ROM_CAUSE_WATCHDOG: WDT_RESET}
# request kind -> (reason for machine.reset_cause(), rst cause the ROM prints, None = keep)
RESET_REQUESTS = {
    "hard": (SOFT_RESET, None),
    "deepsleep": (DEEPSLEEP_RESET, ROM_CAUSE_RST_PIN),  # GPIO16 wired to RST wakes it
    "wdt": (WDT_RESET, ROM_CAUSE_WATCHDOG),
    "crash": (EXCEPTION_RESET, None),
}
REASON_FILE = "sdk_reset_reason"
HEAP_FREE_ENV = "HIL_SIM_HEAP_FREE"  # free heap after boot, in ESP8266 bytes
MIN_HEAP_FREE = 1024


class SilentApplication:
    """An application that runs but never answers (not MicroPython)."""

    def __init__(self, context, reason: str = "") -> None:
        self.context = context
        self.reason = reason
        context.uart.baud = FIRMWARE_BAUD

    def receive(self, data: bytes) -> None:
        """Bytes reach a firmware that does not read its UART."""

    def stop(self) -> None:
        """Nothing runs, so nothing to stop."""


class MicroPythonApplication:
    """The real interpreter running as the chip's firmware for one boot."""

    def __init__(self, context, image) -> None:
        from nodemcu_hil.sim.runtime import BootParams, HeapConfig, Runtime

        self.context = context
        self.image = image
        message = ensure_init_data(context.flash, context.flash_size)
        if message:
            context.uart.baud = BOOT_MESSAGE_BAUD  # ets_printf, before the SDK sets 115200
            context.uart.transmit(message)
        context.uart.baud = FIRMWARE_BAUD
        state = Path(context.state_dir)
        heap_free = _heap_free(context)
        params = BootParams(
            flash_path=str(context.flash_path), flash_size=context.flash_size,
            mac=bytes(context.mac), reset_cause=_take_reason(state, context.reset_cause),
            version=image.version, build_date=image.build_date, machine=image.machine,
            world=_world_address(context),
            heap=HeapConfig.with_free(heap_free) if heap_free else HeapConfig(),
        )
        self.runtime = Runtime(params, state / "runtime", context.uart.transmit, self._on_reset)
        self.runtime.start()

    def receive(self, data: bytes) -> None:
        self.runtime.receive(data)

    def stop(self) -> None:
        self.runtime.stop()

    def _on_reset(self, kind: str) -> None:
        """The firmware asked for a reboot (or the interpreter died): reboot the chip."""
        reason, rom_cause = RESET_REQUESTS.get(kind, RESET_REQUESTS["crash"])
        state = Path(self.context.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        (state / REASON_FILE).write_text(str(reason))
        self.context.reboot(rom_cause if rom_cause is not None else self.context.reset_cause)


def _heap_free(context) -> int | None:
    """Free heap after boot asked for by the board (BootContext.heap_free) or the
    environment; a value that is not a positive number is reported and ignored."""
    value = getattr(context, "heap_free", None) or os.environ.get(HEAP_FREE_ENV)
    if not value:
        return None
    try:
        free = int(value)
        if free < MIN_HEAP_FREE:
            raise ValueError
    except ValueError:
        print(f"virtual board: ignoring {HEAP_FREE_ENV}={value!r}: expected bytes of free heap "
              f"after boot, at least {MIN_HEAP_FREE}", file=sys.stderr)
        return None
    return free


def _take_reason(state: Path, rom_cause: int) -> int:
    path = state / REASON_FILE
    try:
        reason = int(path.read_text())
        path.unlink()
        return reason
    except (OSError, ValueError):
        return REASON_FROM_ROM_CAUSE.get(rom_cause, HARD_RESET)


def _world_address(context):
    """(host, port) of the world channel, if the board provides one."""
    for source in (context, getattr(context, "world", None)):
        address = getattr(source, "world_address", None)
        if callable(address):
            address = address()
        if address:
            return tuple(address)
    return None


def start_application(context):
    try:
        image = recognise(context.flash.read, context.flash_size)
    except NotMicroPython as exc:
        return SilentApplication(context, str(exc))
    return MicroPythonApplication(context, image)
