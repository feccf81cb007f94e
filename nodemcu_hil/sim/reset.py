"""The NodeMCU auto-reset circuit and its FLASH and RST buttons.

Two transistors turn the USB bridge's DTR and RTS into the chip's EN (nRST) and GPIO0
(NodeMCU devkit v1.0 schematic, "auto program circuit"); in pyserial's terms, where True
means asserted and the pin is driven low:

    dtr rts -> nRST GPIO0
     F   F      1    1
     T   T      1    1
     F   T      0    1      chip held in reset
     T   F      1    0      GPIO0 low: download mode if the chip is starting

The chip samples GPIO0 as it leaves reset. Locally the bridge flips both lines within
microseconds, but over RFC2217 every line change waits for the server's ack, so esptool's
classic reset releases nRST some tens of milliseconds *before* it pulls GPIO0 low. The
boot mode is therefore decided from the timeline: GPIO0 seen low within `LATCH_WINDOW`
after nRST rises means download mode; otherwise the chip boots from flash once the window
has passed, or earlier when the host forces the decision (it sends data or purges).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Callable

LATCH_WINDOW = 0.25  # seconds after nRST rises in which GPIO0 low still selects download

RST_CAUSE_POWER_ON = 1
RST_CAUSE_EXTERNAL = 2  # RST pin / EN, also what esptool's DTR/RTS resets produce
RST_CAUSE_WATCHDOG = 4

BUTTON_FLASH = "flash"  # pulls GPIO0 low while held
BUTTON_RST = "rst"  # pulls nRST low while held
BUTTONS = (BUTTON_FLASH, BUTTON_RST)


class BootMode(enum.Enum):
    DOWNLOAD = "download"  # ROM serial loader, boot mode (1,x)
    FLASH = "flash"  # run the application in flash, boot mode (3,x)


@dataclass
class _PendingBoot:
    released_at: float
    gpio0_low_seen: bool


class ResetCircuit:
    """DTR/RTS and the two buttons in, reset and boot decisions out.

    `on_reset()` is called when nRST falls (the chip stops); `on_boot(mode, cause)` when
    the chip leaves reset and the boot mode is known. Not thread-safe: the board calls it
    under its own lock. `clock` is injectable so tests can replay timelines exactly.
    """

    def __init__(self, on_reset: Callable[[], None], on_boot: Callable[[BootMode, int], None],
                 clock: Callable[[], float] = time.monotonic):
        self._on_reset = on_reset
        self._on_boot = on_boot
        self._clock = clock
        self.dtr = False
        self.rts = False
        self.pressed: set[str] = set()
        self._pending: _PendingBoot | None = None
        self._was_enabled = self.enabled

    @property
    def enabled(self) -> bool:
        """nRST level: True while the chip may run."""
        held_by_lines = (not self.dtr) and self.rts
        return not held_by_lines and BUTTON_RST not in self.pressed

    @property
    def gpio0_low(self) -> bool:
        pulled_by_lines = self.dtr and not self.rts
        return pulled_by_lines or BUTTON_FLASH in self.pressed

    @property
    def boot_pending(self) -> bool:
        return self._pending is not None

    def set_dtr(self, asserted: bool) -> None:
        self.dtr = bool(asserted)
        self._update()

    def set_rts(self, asserted: bool) -> None:
        self.rts = bool(asserted)
        self._update()

    def set_lines(self, dtr: bool, rts: bool) -> None:
        """Both lines at once, as a closing USB bridge drops them (no reset glitch)."""
        self.dtr = bool(dtr)
        self.rts = bool(rts)
        self._update()

    def press(self, button: str) -> None:
        self._check_button(button)
        self.pressed.add(button)
        self._update()

    def release(self, button: str) -> None:
        self._check_button(button)
        self.pressed.discard(button)
        self._update()

    def deadline(self) -> float | None:
        """When a pending boot decision falls due (clock time), or None."""
        if self._pending is None:
            return None
        return self._pending.released_at + LATCH_WINDOW

    def poll(self) -> None:
        """Decide a pending boot whose window has passed."""
        pending = self._pending
        if pending is not None and self._clock() >= pending.released_at + LATCH_WINDOW:
            self._latch()

    def settle(self) -> None:
        """Decide a pending boot now: the host is talking, the chip has started."""
        if self._pending is not None:
            self._latch()

    def power_on(self) -> None:
        """Boot as when power is applied, with the straps as they are now."""
        self._pending = None
        self._was_enabled = self.enabled
        if self.enabled:
            mode = BootMode.DOWNLOAD if self.gpio0_low else BootMode.FLASH
            self._on_boot(mode, RST_CAUSE_POWER_ON)

    def _update(self) -> None:
        self.poll()
        enabled = self.enabled
        if self._was_enabled and not enabled:
            self._pending = None
            self._was_enabled = False
            self._on_reset()
            return
        if not self._was_enabled and enabled:
            self._was_enabled = True
            self._pending = _PendingBoot(self._clock(), self.gpio0_low)
        elif self._pending is not None and self.gpio0_low:
            self._pending.gpio0_low_seen = True
        if self._pending is not None and self._pending.gpio0_low_seen:
            self._latch()

    def _latch(self) -> None:
        pending = self._pending
        self._pending = None
        if pending is None:
            return
        mode = BootMode.DOWNLOAD if pending.gpio0_low_seen else BootMode.FLASH
        self._on_boot(mode, RST_CAUSE_EXTERNAL)

    @staticmethod
    def _check_button(button: str) -> None:
        if button not in BUTTONS:
            raise ValueError(f"unknown button {button!r}; the board has {', '.join(BUTTONS)}")
