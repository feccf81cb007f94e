"""What surrounds one virtual board: GPIO levels, Wi-Fi access points, the network path.

The world lives in the board process. The firmware's ESP8266 modules (nodemcu_hil/sim/
esp8266/, running inside MicroPython) reach it over one loopback TCP connection, the
*world channel*, in JSON lines:

- request  `{"id": n, "op": "...", ...}` -> reply `{"id": n, "ok": value}` or
  `{"id": n, "err": "text"}`; a request without "id" gets no reply (GPIO writes).
- event    `{"ev": "irq", "pin": p, "level": v}` pushed when a test drives an input
  edge the firmware armed with Pin.irq().

Tests reach the same state through the board's control endpoint (register_control) or,
in-process, through the attributes `gpio`, `wifi` and `net`.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from typing import Any, Callable

from nodemcu_hil.sim.netpath import NetPath
from nodemcu_hil.sim.sockets import hang_up
from nodemcu_hil.sim.world_gpio import GpioBank
from nodemcu_hil.sim.world_wifi import STAT_GOT_IP, WifiWorld

WORLD_HOST = "127.0.0.1"
EHOSTUNREACH = 113  # lwIP ERR_RTE: no route while the station has no address
DNS_FAILED = -2  # modlwip getaddrinfo raises OSError(-2) when the lookup fails
DNS_GIVEUP_S = 5.0  # model value for lwIP's DNS retries while queries go unanswered
BLACKHOLE_POLL_S = 0.05


class World:
    def __init__(self, join_delay_s: float | None = None):
        self.counters = {"wifi_joins": 0, "tcp_connections": 0, "wifi_link_losses": 0}
        self._lock = threading.Lock()
        self.gpio = GpioBank(on_edge=self._push_irq)
        self.wifi = WifiWorld(on_join=lambda: self._count("wifi_joins"), on_link_lost=self._link_lost)
        if join_delay_s is not None:
            self.wifi.join_delay_s = join_delay_s
        self.net = NetPath(on_open=lambda: self._count("tcp_connections"))
        self._server: socketserver.ThreadingTCPServer | None = None
        self._channel: _Channel | None = None
        self._relay: tuple[str, int] | None = None
        self._control = None
        self.endpoint: tuple[str, int] | None = None  # the world channel, once started

    # --- lifecycle (hil sim starts it; the application reaches it as BootContext.world)
    def start(self) -> tuple[str, int]:
        """Start the relay and the world channel; returns the channel's (host, port)."""
        self._relay = self.net.start()
        handler = type("WorldChannel", (_Channel,), {"world": self})  # one World per server
        self._server = socketserver.ThreadingTCPServer((WORLD_HOST, 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="world", daemon=True).start()
        self.endpoint = tuple(self._server.server_address[:2])
        return self.endpoint

    def world_address(self) -> tuple[str, int] | None:
        """Called by the application at every chip boot (power-on, reset, deep-sleep wake):
        the world channel's address for `_vboard.WORLD`. A boot is a fresh chip, so its
        pins float again and the Wi-Fi SDK re-joins the saved AP (see chip_reset)."""
        self.chip_reset()
        return self.endpoint

    def close(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._channel:
            self._channel.hang_up()
        self.net.close()

    def chip_reset(self) -> None:
        """The chip was reset or powered off: its sockets go silent, its pins float, and
        the Wi-Fi SDK re-joins the saved AP when the chip boots again."""
        self.net.freeze_all()
        self.gpio.chip_reset()
        self.wifi.chip_reset()

    def register_control(self, control) -> None:
        """Add the world's commands to the board's control endpoint."""
        from nodemcu_hil.sim.world_control import commands

        self._control = control
        for name, handler in commands(self).items():
            control.register(name, handler)

    def register(self, name: str, handler: Callable[[dict], dict]) -> None:
        """BootContext.world hook: the application adds its own control commands here."""
        if self._control is None:
            raise RuntimeError("World.register_control(control) must come before register()")
        self._control.register(name, handler)

    def load(self, path) -> "World":
        """Apply a `--world FILE` (TOML) description; see world_control.py for the format."""
        from nodemcu_hil.sim.world_control import load_world_file

        load_world_file(self, path)
        return self

    def snapshot(self) -> dict:
        return {
            "counters": dict(self.counters),
            "wifi": {"link_up": self.wifi.link_up, "status": self.wifi.status(), "join_delay_s": self.wifi.join_delay_s,
                     "sta_active": self.wifi.sta_active, "ap_active": self.wifi.ap_active,
                     "aps": [{"ssid": a.ssid, "present": a.present} for a in self.wifi.access_points()]},
            "net": {"blackhole": self.net.blackhole, "latency_ms": self.net.latency_ms,
                    "connections": self.net.connections()},
        }

    # --- internals
    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _link_lost(self) -> None:
        self._count("wifi_link_losses")
        self.net.abort_all()

    def _push_irq(self, pin: int, level: int) -> None:
        channel = self._channel
        if channel:
            channel.push({"ev": "irq", "pin": pin, "level": level})

    def handle(self, op: str, msg: dict) -> Any:
        """One firmware request; raises ValueError with the text the firmware shows."""
        handler: Callable[[dict], Any] | None = getattr(self, "_op_" + op.replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"unknown world op {op!r}")
        return handler(msg)

    def _op_hello(self, msg: dict) -> dict:
        """A (soft) boot of the firmware: the previous run's sockets were closed by it."""
        self.net.close_all()
        return {"sta_active": self.wifi.sta_active, "ap_active": self.wifi.ap_active}

    def _op_gpio_mode(self, msg: dict) -> None:
        self.gpio.configure(msg["pin"], msg["mode"], msg.get("pull"), msg.get("value"))

    def _op_gpio_set(self, msg: dict) -> None:
        self.gpio.set_latch(msg["pin"], msg["value"])

    def _op_gpio_get(self, msg: dict) -> int:
        return self.gpio.level(msg["pin"])

    def _op_gpio_irq(self, msg: dict) -> None:
        self.gpio.arm_irq(msg["pin"], msg["trigger"])

    def _op_wifi_active(self, msg: dict) -> bool:
        if "on" in msg:
            self.wifi.set_active(msg["if"], bool(msg["on"]))
        return self.wifi.sta_active if msg["if"] == 0 else self.wifi.ap_active

    def _op_wifi_connect(self, msg: dict) -> bool:
        return self.wifi.connect(msg.get("ssid"), msg.get("key"))

    def _op_wifi_disconnect(self, msg: dict) -> None:
        self.wifi.disconnect()

    def _op_wifi_status(self, msg: dict) -> int:
        return self.wifi.status()

    def _op_wifi_rssi(self, msg: dict) -> int:
        return self.wifi.rssi()

    def _op_wifi_ifconfig(self, msg: dict) -> list:
        return list(self.wifi.ifconfig(msg["if"]))

    def _op_wifi_config(self, msg: dict) -> dict:
        return {"ssid": self.wifi.saved_ssid}

    def _op_wifi_scan(self, msg: dict) -> list:
        return [[a.ssid, a.bssid.hex(), a.channel, a.rssi, a.authmode, 0] for a in self.wifi.scan()]

    def _op_net_resolve(self, msg: dict) -> dict:
        if self.wifi.status() != STAT_GOT_IP:
            return {"errno": DNS_FAILED}
        deadline = time.monotonic() + DNS_GIVEUP_S
        while self.net.blackhole:  # the query is lost: lwIP retries, then gives up
            if time.monotonic() > deadline:
                return {"errno": DNS_FAILED}
            time.sleep(BLACKHOLE_POLL_S)
        try:
            return {"ip": socket.gethostbyname(msg["host"])}
        except OSError:
            return {"errno": DNS_FAILED}

    def _op_net_connect(self, msg: dict) -> dict:
        if self.wifi.status() != STAT_GOT_IP:
            return {"errno": EHOSTUNREACH}
        return {"token": self.net.admit(tuple(msg["dst"])), "relay": list(self._relay)}

    def _op_net_close(self, msg: dict) -> None:
        self.net.announce_close(msg["token"])

    def _op_net_fate(self, msg: dict) -> str:
        return self.net.fate(msg["token"])


class _Channel(socketserver.StreamRequestHandler):
    """One firmware connection; the newest one receives the pushed events."""

    world: World

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._wlock = threading.Lock()
        previous, self.world._channel = self.world._channel, self
        if previous is not None:
            previous.hang_up()  # a soft reset leaves the old run's channel behind

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            try:
                reply = {"ok": self.world.handle(msg.get("op", ""), msg)}
            except (ValueError, KeyError, TypeError) as exc:
                reply = {"err": str(exc)}
            if "id" in msg:
                reply["id"] = msg["id"]
                self.push(reply)

    def push(self, msg: dict) -> None:
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        with self._wlock:
            try:
                self.request.sendall(data)
            except OSError:
                pass

    def hang_up(self) -> None:
        hang_up(self.request)

    def finish(self) -> None:
        if self.world._channel is self:
            self.world._channel = None
        super().finish()
