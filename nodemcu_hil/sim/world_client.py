"""`WorldClient`: the board's control client with the world's commands as methods.

For tests and fixtures that shape what surrounds a virtual board (see world_control.py for
the commands): drive GPIO inputs, read outputs and their timestamped history, define
access points, drop the Wi-Fi link, blackhole or slow the network path, read counters.
"""

from __future__ import annotations

from nodemcu_hil.sim.control import ControlClient


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
