"""How a test observes and drives the board's pins.

Three backends behind one interface, chosen per board:
- `sim`: the virtual board's control channel (levels, timestamped history, drive inputs);
- `probe`: a second MicroPython board wired pin to pin (boards.toml `gpio_probe`), read
  and driven over its raw REPL;
- `none`: a rig with nothing wired: every observation skips the test with the reason,
  because a firmware's own report of a pin is not evidence that the pin moved.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator


from nodemcu_hil.errors import WaitTimeout

POLL_S = 0.02


class PinObserver:
    name = "abstract"

    def level(self, pin: int) -> int:
        raise NotImplementedError

    def drive(self, pin: int, level: int | None) -> None:
        raise NotImplementedError

    def wait_for_level(self, pin: int, level: int, *, timeout: float, board: str = "") -> float:
        """Wait until `pin` reads `level`; returns the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.level(pin)
            if seen == level:
                return time.monotonic()
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"GPIO{pin} stayed at {seen}, expected {level} within {timeout:g} s "
                                  f"(observed through {self.name})", board=board)
            _pause(min(POLL_S, max(0.0, deadline - time.monotonic())))


def _pause(seconds: float) -> None:
    """The poll interval between two reads of a pin, bounded by the wait's deadline."""
    time.sleep(seconds)


class SimPins(PinObserver):
    """The virtual board's world, through its control endpoint."""

    name = "sim"

    def __init__(self, control):
        self._control = control

    def level(self, pin: int) -> int:
        return int(self._control.call("gpio.read", pin=pin)["level"])

    def drive(self, pin: int, level: int | None) -> None:
        self._control.call("gpio.drive", pin=pin, value=level)

    def history(self, pin: int | None = None) -> list[dict]:
        params = {} if pin is None else {"pin": pin}
        return self._control.call("gpio.history", **params)["changes"]


def skip_test(reason: str) -> None:
    """A pin the rig cannot observe skips the test that needs it. pytest is imported here,
    not at the top: the `hil` command reaches this module and should not pay for pytest."""
    import pytest

    pytest.skip(reason)


class ProbePins(PinObserver):
    """A second MicroPython board wired to the DUT; `pins` maps DUT pin -> probe pin."""

    name = "probe"

    def __init__(self, run_on_probe: Callable[[str], object], pins: dict[int, int], board: str):
        """`run_on_probe` evaluates one expression on the probe board (its raw REPL)."""
        self._run = run_on_probe
        self._pins = pins
        self._board = board

    def _probe_pin(self, pin: int) -> int:
        if pin not in self._pins:
            skip_test(f"GPIO{pin} of {self._board} is not wired to the probe board (boards.toml gpio_probe)")
        return self._pins[pin]

    def level(self, pin: int) -> int:
        return int(self._run(f"__import__('machine').Pin({self._probe_pin(pin)}, 0).value()"))

    def drive(self, pin: int, level: int | None) -> None:
        probe_pin = self._probe_pin(pin)
        mode = "0" if level is None else f"1, value={int(level)}"
        self._run(f"__import__('machine').Pin({probe_pin}, {mode}).value()")


class NoPins(PinObserver):
    name = "none"

    def __init__(self, board: str):
        self._board = board

    def _skip(self) -> None:
        skip_test(f"no GPIO observation on {self._board}: wire a probe board (boards.toml gpio_probe) "
                    "or run on a virtual board")

    def level(self, pin: int) -> int:
        self._skip()

    def drive(self, pin: int, level: int | None) -> None:
        self._skip()


@contextmanager
def probe_pins(record, *, lease_dir, lease_timeout: float) -> Iterator[ProbePins]:
    """The probe board wired to `record` (boards.toml gpio_probe), leased and in its raw REPL."""
    from nodemcu_hil.inventory import BoardRecord
    from nodemcu_hil.lease import lease_for
    from nodemcu_hil.ports import open_port
    from nodemcu_hil.repl import Repl

    wiring = record.gpio_probe
    probe = BoardRecord(name=f"{record.name}-probe", port=wiring.port)
    with lease_for(probe, lease_dir).acquire(lease_timeout), open_port(wiring.port) as port:
        repl = Repl(port, wiring.port, board=probe.name)
        repl.enter(soft_reset=True)
        try:
            yield ProbePins(repl.eval, wiring.pins, record.name)
        finally:
            repl.leave()
