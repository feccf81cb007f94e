"""A board under test: its record, its console, how to reach its REPL, reset and observe it.

The same object for a NodeMCU on a USB cable and for a virtual board: only the pin
observer and the Wi-Fi access point control differ (architecture: the one principle).
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from nodemcu_hil.console import Console
from nodemcu_hil.errors import DeviceHung, HilError, WaitTimeout
from nodemcu_hil.gpio import PinObserver
from nodemcu_hil.identify import BoardIdentity, check_identity, identify
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.ports import open_port
from nodemcu_hil.power import PowerSwitch, no_power_control, reopen_port, survives_power_cut
from nodemcu_hil.repl import Repl
from nodemcu_hil.timeline import Timeline

if TYPE_CHECKING:
    from nodemcu_hil.sim_rig import WorldControl

BANNER = re.compile(r"MicroPython (v\d+\.\d+\S*) on (\d{4}-\d{2}-\d{2}); (.+?)\r?\n")
FRIENDLY_PROMPT = ">>> "
SOFT_REBOOT = "soft reboot\r\n"
CTRL_C, CTRL_D = b"\x03", b"\x04"
INTERRUPT_TIMEOUT_S = 5.0
INTERRUPT_RETRY_S = 0.5
SOFT_RESET_RETRY_S = 1.0  # no "soft reboot" by then, and a prompt instead: CTRL-D again
BANNER_GRACE_S = 0.3  # how long a board with no main.py needs to print its banner
BANNER_AFTER_PROMPT_S = 1.0


@dataclass
class Board:
    record: BoardRecord
    console: Console
    timeline: Timeline
    identity: BoardIdentity
    pins: PinObserver
    wifi: WorldControl | None = None  # the virtual world (access point, link, network path); None on a rig
    facts: dict = field(default_factory=dict)  # fingerprint in the reports: identity, version, ...
    last_boot: int = 0  # console mark of the latest reset, for expect(since=...)
    image_path: Path | None = None  # what `flashed` wrote, for the recovery ladder's reflash
    out_of_service: str | None = None  # why the recovery ladder gave the board up
    redeploy: Callable[[], object] | None = None  # puts the firmware back after a reflash
    deployed_files: dict | None = None  # what the last deploy wrote, so an unchanged set is not resent
    power: PowerSwitch | None = None  # switches the board's power (boards.toml, labgrid); None: by hand only

    @property
    def name(self) -> str:
        return self.record.name

    def action(self, text: str) -> None:
        self.timeline.action(self.name, text)

    @contextmanager
    def repl(self, *, soft_reset: bool = False) -> Iterator[Repl]:
        """The raw REPL over the console's port (the console pauses meanwhile).

        Entering it stops main.py (CTRL-C); leaving returns to the friendly REPL.
        """
        with self.console.borrow() as port:
            repl = Repl(port, self.record.port, board=self.name)
            repl.enter(soft_reset=soft_reset)
            try:
                yield repl
            finally:
                repl.leave()

    def hard_reset(self) -> int:
        self.action("hard reset")
        return self.console.hard_reset()

    @contextmanager
    def held_in_reset(self) -> Iterator[int]:
        """EN held low for the block (a power cut); the board boots when it ends."""
        with self.console.held_in_reset() as mark:
            self.last_boot = mark
            yield mark

    def power_cycle(self, timeout: float) -> None:
        """Cut the power and restore it with the board's switch; return once the firmware answers.

        Over a network port the connection outlives the cut: the console listens for the ROM
        message and the banner as after a reset. A local USB-serial device vanishes with the
        power and comes back as a new device: the port is reopened once it is back, and
        CTRL-C must reach the prompt (the boot text went out before anyone could listen).
        """
        if self.power is None:
            raise no_power_control(self.name, self.record.port)
        self.action(f"power cycle ({self.power.description})")
        if survives_power_cut(self.record.port):
            with self.console.watching_boot() as mark:
                self.power.cycle()
            self.last_boot = mark
            self.reach_repl(mark, timeout)
            return
        self.console.detach()
        try:
            self.power.cycle()
        except HilError:
            with suppress(HilError):  # the switch's failure is the news; keep the console if the port is there
                self.console.attach(reopen_port(self.record.port, timeout))
            raise
        self.console.attach(reopen_port(self.record.port, timeout))
        self.last_boot = self.console.mark()
        self.interrupt(timeout)

    def interrupt(self, timeout: float = INTERRUPT_TIMEOUT_S) -> None:
        """CTRL-C until the friendly prompt answers: main.py is stopped, the REPL is free.

        Repeated, as mpremote and ampy do: a CTRL-C that lands while the board is still
        booting (before main.py runs) is lost on a real ESP8266 too.
        """
        deadline = time.monotonic() + timeout
        self.action("CTRL-C to reach the prompt")
        while True:
            mark = self.console.mark()
            self.console.write(b"\r" + CTRL_C + CTRL_C)
            try:
                self.console.expect(re.escape(FRIENDLY_PROMPT), since=mark, what="friendly prompt after CTRL-C",
                                    timeout=min(INTERRUPT_RETRY_S, max(0.0, deadline - time.monotonic())))
                return
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise DeviceHung(f"no prompt after CTRL-C within {timeout:g} s", board=self.name,
                                     port=self.record.port,
                                     hint="the firmware ignores CTRL-C: the recovery ladder (reset, then "
                                          "reflash) brings it back") from None

    def soft_reset(self, timeout: float) -> int:
        """CTRL-C, then CTRL-D at the prompt: boot.py and main.py run again from a clean heap.

        A CTRL-D that lands while the board is still handling an earlier CTRL-C is lost (the
        board prints a prompt instead of rebooting), so while the board sits at its prompt
        the CTRL-D is sent again, up to the deadline.
        """
        self.interrupt()
        first = self.console.mark()
        deadline = time.monotonic() + timeout
        while True:
            mark = self.console.mark()
            self.action("soft reset (CTRL-D)")
            self.console.write(CTRL_D)
            try:
                self.console.expect(re.escape(SOFT_REBOOT), since=first, what="MPY: soft reboot",
                                    timeout=min(SOFT_RESET_RETRY_S, max(0.0, deadline - time.monotonic())))
                return first
            except WaitTimeout:
                if time.monotonic() >= deadline:
                    raise
                if FRIENDLY_PROMPT not in self.console.text(mark):
                    self.console.expect(re.escape(SOFT_REBOOT), since=first, what="MPY: soft reboot",
                                        timeout=max(0.0, deadline - time.monotonic()))
                    return first

    def reach_repl(self, since: int, timeout: float) -> str:
        """After a reset: the friendly prompt, whatever firmware the board runs.

        A board without main.py prints the banner by itself; one running a firmware that
        loops for ever (every board a rig reuses) prints it only once CTRL-C stops main.py.
        So wait a moment for the banner, then interrupt as mpremote would. Returns the
        MicroPython version from the banner; `DeviceHung` when the firmware ignores CTRL-C.
        """
        since = self.console.boot_start(since)
        try:
            found = self.console.expect(BANNER, timeout=BANNER_GRACE_S, since=since, what="MicroPython banner")
        except WaitTimeout:
            self.interrupt(timeout)
            found = self.console.expect(BANNER, timeout=BANNER_AFTER_PROMPT_S, since=since,
                                        what="MicroPython banner before the prompt")
        self.facts["micropython_version"] = found.group(1)
        return found.group(1)


def connect_board(record: BoardRecord, *, timeline: Timeline, pins: PinObserver, log_dir: Path,
                  wifi: WorldControl | None = None, power: PowerSwitch | None = None) -> Board:
    """Open the port, check who is there (before anything is written), start the console.

    `power` is the board's switch (`nodemcu_hil.power.power_switch_for(record)`), which the
    recovery ladder uses when no reset brings the board back.
    """
    port = open_port(record.port)
    log_dir.mkdir(parents=True, exist_ok=True)
    console = Console(port, board=record.name, timeline=timeline, log_path=log_dir / f"{record.name}.log")
    try:
        with console.borrow() as lent:
            timeline.action(record.name, "identify with esptool (reset into the ROM loader)")
            identity = identify(lent)
        check_identity(record, identity)
    except Exception:
        console.close()
        port.close()
        raise
    return Board(record=record, console=console, timeline=timeline, identity=identity, pins=pins, wifi=wifi,
                 facts=identity.facts(), power=power)


def disconnect_board(board: Board) -> None:
    board.console.close()
    board.console.port.close()
