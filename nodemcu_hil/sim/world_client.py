"""The world around a virtual board, as typed methods over its control endpoint.

`World` is what tests and the harness use to change what surrounds a board (Wi-Fi access
points, the radio link, the network path to the broker, GPIO inputs) and to read it back;
it hides the control commands (world_control.py) behind methods, so no test spells a
command string. It takes any client with `call(cmd, **params)` (a `ControlClient`).

`WorldClient` is the same as a `ControlClient` subclass with the older method names, for the
virtual board's own tests.
"""

from __future__ import annotations

from typing import Protocol

from nodemcu_hil.sim.control import ControlClient


class Caller(Protocol):
    def call(self, cmd: str, **params) -> dict: ...


class World:
    """The world's control commands as methods (one virtual board's world)."""

    def __init__(self, control: Caller):
        self._control = control

    # Wi-Fi access points and the radio link
    def add_access_point(self, ssid: str, password: str | None = None, *, present: bool = True) -> None:
        """An access point the board can join; `password` None or "" is an open network."""
        self._control.call("wifi.ap.add", ssid=ssid, password=password or "", present=present)

    def remove_access_point(self, ssid: str) -> None:
        self._control.call("wifi.ap.remove", ssid=ssid)

    def set_access_point_present(self, ssid: str, present: bool) -> None:
        """An absent access point is out of range: a join finds no AP (status 3)."""
        self._control.call("wifi.ap.present", ssid=ssid, present=present)

    def set_link(self, up: bool) -> None:
        """Drop (False) or restore (True) the board's radio link."""
        self._control.call("wifi.link", up=up)

    def set_join_delay(self, seconds: float) -> None:
        """How long each join takes from now on (a real ESP8266 needs 1-2 s; a harness that
        does not test join times may choose less)."""
        self._control.call("wifi.join_delay", s=seconds)

    # the network path between board and broker
    def blackhole(self, on: bool) -> None:
        """Silently drop every packet on the path (no RST, no FIN), or stop doing so."""
        self._control.call("net.blackhole", on=on)

    def set_latency(self, ms: int) -> None:
        self._control.call("net.latency", ms=ms)

    # GPIO
    def drive_pin(self, pin: int, level: int | None) -> None:
        """Hold input `pin` at 0/1; None releases it to its pulls."""
        self._control.call("gpio.drive", pin=pin, value=level)

    def pin_level(self, pin: int) -> int:
        return int(self._control.call("gpio.read", pin=pin)["level"])

    def pin_history(self, pin: int | None = None, since_ns: int = 0) -> list[dict]:
        """Level changes [{t_ns, pin, level, source}], monotonic ns of the board process."""
        params = {"since_ns": since_ns} if pin is None else {"pin": pin, "since_ns": since_ns}
        return self._control.call("gpio.history", **params)["changes"]

    # reading it back
    def counters(self) -> dict:
        """{wifi_joins, tcp_connections, wifi_link_losses} since the board started."""
        return self._control.call("counters")

    def state(self) -> dict:
        return self._control.call("world.state")


class WorldClient(ControlClient):
    def drive(self, pin: int, value: int | None) -> None:
        """Hold input `pin` at 0/1; None releases it to its pulls."""
        self.call("gpio.drive", pin=pin, value=value)

    def level(self, pin: int) -> int:
        return self.call("gpio.read", pin=pin)["level"]

    def history(self, pin: int | None = None, since_ns: int = 0) -> list[dict]:
        """Level changes [{t_ns, pin, level, source}], monotonic ns of the board process."""
        params = {"since_ns": since_ns} if pin is None else {"pin": pin, "since_ns": since_ns}
        return self.call("gpio.history", **params)["changes"]

    def add_ap(self, ssid: str, password: str = "", present: bool = True, **extra) -> None:
        self.call("wifi.ap.add", ssid=ssid, password=password, present=present, **extra)

    def remove_ap(self, ssid: str) -> None:
        self.call("wifi.ap.remove", ssid=ssid)

    def set_ap_present(self, ssid: str, present: bool) -> None:
        self.call("wifi.ap.present", ssid=ssid, present=present)

    def wifi_link(self, up: bool) -> None:
        self.call("wifi.link", up=up)

    def blackhole(self, on: bool) -> None:
        self.call("net.blackhole", on=on)

    def latency(self, ms: int) -> None:
        self.call("net.latency", ms=ms)

    def counters(self) -> dict:
        return self.call("counters")

    def world_state(self) -> dict:
        return self.call("world.state")
