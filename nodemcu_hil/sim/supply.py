"""The power supply and USB-serial bridge of one virtual NodeMCU (part of `board.Board`).

Power is switched from outside (`power_off`, `power_on`, `power_cycle`, as a per-port USB
hub does): off, the chip and its bridge are dead, so the link carries nothing and DTR/RTS
do nothing; the flash file stays, everything in RAM goes. The bridge can also hang on its
own (`stick_bridge`, as CH340s do): the chip runs on, but nothing crosses the link and
DTR/RTS do nothing until the power is cycled. The board checks `link_up` wherever host
bytes, chip bytes or modem lines pass the bridge.
"""

from __future__ import annotations

from nodemcu_hil.sim.uart import BOOT_MESSAGE_BAUD

MODE_OFF = "off"  # the board's mode while unpowered (also before the first power-on)


class PowerSupply:
    """Mixed into `Board`, whose lock, reset circuit and running session it switches."""

    powered: bool  # set by Board.__init__, False until the first power_on
    bridge_stuck: bool

    @property
    def link_up(self) -> bool:
        """Whether the USB-serial bridge passes bytes and modem lines."""
        return self.powered and not self.bridge_stuck

    def power_on(self) -> None:
        """Power applied: the bridge starts fresh (lines released, not stuck) and the chip
        boots with the straps as they are, ROM message at 74880 baud first."""
        with self._lock:
            if self.powered:
                return
            self.bridge_stuck = False
            self.circuit.set_lines(False, False)  # unpowered: no reset or boot follows
            self.powered = True
            self.circuit.power_on()

    def power_off(self) -> None:
        """Power removed: the firmware dies with its RAM and REPL state; the flash stays."""
        with self._lock:
            if not self.powered:
                return
            self.powered = False
            self._cancel_timer()
            self._stop_running()
            self._new_session(BOOT_MESSAGE_BAUD)  # whatever the chip was still sending is lost
            self.mode = MODE_OFF

    def power_cycle(self) -> None:
        with self._lock:
            self.power_off()
            self.power_on()

    def stick_bridge(self) -> None:
        """The USB-serial bridge hangs: only a power cycle brings it back."""
        with self._lock:
            self.bridge_stuck = True
