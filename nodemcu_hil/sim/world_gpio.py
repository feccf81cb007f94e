"""GPIO pins as the world sees them: levels the firmware drives, levels tests drive.

The firmware sets modes and output latches over the world channel; tests drive input
levels through the control endpoint. Every level change is kept with its monotonic
timestamp (ns) so a test can assert on what an output did, not only where it ended.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from nodemcu_hil import chip

VALID_PINS = chip.GPIO_PINS  # ports/esp8266/machine_pin.c
MODE_IN = 0
MODE_OUT = 1
MODE_OPEN_DRAIN = 2
PULL_UP = 1
IRQ_RISING = 1
IRQ_FALLING = 2
# NodeMCU board resistors: GPIO0 and GPIO2 pulled up (boot strapping), GPIO15 pulled down.
BOARD_PULLS = {0: 1, 2: 1, 15: 0}
HISTORY_LIMIT = 10000


@dataclass
class PinState:
    mode: int = MODE_IN
    pull: int | None = None
    latch: int = 0
    driven: int | None = None  # level applied from outside by a test, None = not driven
    irq_trigger: int = 0
    level: int = 0


@dataclass(frozen=True)
class Change:
    t_ns: int
    pin: int
    level: int
    source: str  # "firmware" (an output) or "test" (an input driven from outside)

    def as_dict(self) -> dict:
        return {"t_ns": self.t_ns, "pin": self.pin, "level": self.level, "source": self.source}


@dataclass
class GpioBank:
    """Pin levels, the change history and the edges the firmware asked to hear about."""

    on_edge: Callable[[int, int], None] | None = None  # (pin, new level) for armed irqs
    clock: Callable[[], int] = time.monotonic_ns
    _pins: dict[int, PinState] = field(default_factory=dict)
    _history: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for pin in VALID_PINS:
            state = PinState()
            state.level = self._resolve(pin, state)
            self._pins[pin] = state

    @staticmethod
    def check_pin(pin: int) -> int:
        if pin not in VALID_PINS:
            raise ValueError(f"GPIO{pin} does not exist on an ESP8266 (valid: {VALID_PINS})")
        return pin

    def _resolve(self, pin: int, state: PinState) -> int:
        if state.mode == MODE_OUT:
            return state.latch
        if state.mode == MODE_OPEN_DRAIN and state.latch == 0:
            return 0
        if state.driven is not None:
            return state.driven
        if state.pull == PULL_UP:
            return 1
        return BOARD_PULLS.get(pin, 0)

    def _update(self, pin: int, source: str) -> None:
        state = self._pins[pin]
        new = self._resolve(pin, state)
        if new == state.level:
            return
        state.level = new
        self._history.append(Change(self.clock(), pin, new, source))
        edge = IRQ_RISING if new else IRQ_FALLING
        if source == "test" and state.irq_trigger & edge and self.on_edge:
            self.on_edge(pin, new)

    def configure(self, pin: int, mode: int, pull: int | None = None, value: int | None = None) -> None:
        """The firmware's Pin(...) / Pin.init(): mode, pull, and the latch set with them."""
        with self._lock:
            state = self._pins[self.check_pin(pin)]
            state.mode, state.pull = mode, pull
            if value is not None:
                state.latch = 1 if value else 0
            self._update(pin, "firmware")

    def set_latch(self, pin: int, value: int) -> None:
        """The firmware writes its output register (effective only in OUT/OPEN_DRAIN)."""
        with self._lock:
            self._pins[self.check_pin(pin)].latch = 1 if value else 0
            self._update(pin, "firmware")

    def arm_irq(self, pin: int, trigger: int) -> None:
        with self._lock:
            self._pins[self.check_pin(pin)].irq_trigger = trigger

    def drive(self, pin: int, value: int | None) -> None:
        """A test holds the pin at a level (None releases it to its pulls)."""
        with self._lock:
            self._pins[self.check_pin(pin)].driven = None if value is None else (1 if value else 0)
            self._update(pin, "test")

    def level(self, pin: int) -> int:
        with self._lock:
            return self._pins[self.check_pin(pin)].level

    def describe(self, pin: int) -> dict:
        with self._lock:
            s = self._pins[self.check_pin(pin)]
            return {"pin": pin, "level": s.level, "mode": s.mode, "pull": s.pull,
                    "driven": s.driven, "irq_trigger": s.irq_trigger}

    def history(self, pin: int | None = None, since_ns: int = 0) -> list[Change]:
        with self._lock:
            return [c for c in self._history if (pin is None or c.pin == pin) and c.t_ns >= since_ns]

    def chip_reset(self) -> None:
        """A chip reset returns every pin to input with no pull; test drives stay applied."""
        with self._lock:
            for pin, state in self._pins.items():
                state.mode, state.pull, state.latch, state.irq_trigger = MODE_IN, None, 0, 0
                self._update(pin, "firmware")
