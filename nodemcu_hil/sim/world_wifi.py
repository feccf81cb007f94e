"""Wi-Fi around the board: access points, the radio link, and the STA join state machine.

Outcomes follow the ESP8266 SDK as MicroPython reports them (network_wlan.c status()):
joining takes `join_delay_s` in STAT_CONNECTING, then GOT_IP (right password),
WRONG_PASSWORD, or NO_AP_FOUND (AP absent or the radio link down). Like the SDK's
default reconnect policy, a station that lost its AP keeps trying and comes back by
itself once the AP is reachable again; `disconnect()` stops that.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5
AUTH_OPEN = 0
AUTH_WPA_WPA2_PSK = 4
DEFAULT_JOIN_DELAY_S = 1.5
RETRY_INTERVAL_S = 1.0  # SDK reconnect attempts after the AP disappeared
AP_IF_CONFIG = ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")
NO_ADDRESS = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")


@dataclass
class AccessPoint:
    ssid: str
    password: str = ""
    present: bool = True
    rssi: int = -60
    channel: int = 6
    bssid: bytes = b"\x02\x00\x00\x00\x00\x01"
    subnet: str = "192.168.0"

    @property
    def authmode(self) -> int:
        return AUTH_WPA_WPA2_PSK if self.password else AUTH_OPEN


@dataclass
class WifiWorld:
    join_delay_s: float = DEFAULT_JOIN_DELAY_S
    on_join: Callable[[], None] | None = None
    on_link_lost: Callable[[], None] | None = None
    clock: Callable[[], float] = time.monotonic
    link_up: bool = True
    sta_active: bool = False
    ap_active: bool = True  # a fresh ESP8266 starts with its AP on (network_basics.rst)
    saved_ssid: str = ""
    saved_key: str = ""
    _want: bool = False  # the SDK is trying to be associated
    _attempt_end: float = 0.0
    _status: int = STAT_IDLE
    _aps: dict[str, AccessPoint] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- the world's side (tests, control commands, --world files)
    def add_ap(self, ssid: str, password: str = "", present: bool = True, **extra) -> AccessPoint:
        with self._lock:
            ap = AccessPoint(ssid, password, present, **extra)
            self._aps[ssid] = ap
            self._check_lost()
            return ap

    def remove_ap(self, ssid: str) -> None:
        with self._lock:
            self._aps.pop(ssid, None)
            self._check_lost()

    def set_present(self, ssid: str, present: bool) -> None:
        with self._lock:
            self._aps[ssid].present = present
            self._check_lost()

    def set_link(self, up: bool) -> None:
        with self._lock:
            self.link_up = up
            self._check_lost()

    def access_points(self) -> list[AccessPoint]:
        with self._lock:
            return list(self._aps.values())

    # --- the firmware's side (network.WLAN)
    def set_active(self, iface: int, on: bool) -> None:
        with self._lock:
            if iface == 0:
                self.sta_active = on
                if not on:
                    self._drop_association(want=False)
            else:
                self.ap_active = on

    def connect(self, ssid: str | None, key: str | None) -> bool:
        """wifi_station_connect(): False when the STA interface is not active."""
        with self._lock:
            if not self.sta_active:
                return False
            if ssid is not None:
                self.saved_ssid, self.saved_key = ssid, key or ""
            elif key is not None:
                self.saved_key = key
            self._drop_association(want=True)
            self._start_attempt()
            return True

    def disconnect(self) -> None:
        with self._lock:
            self._drop_association(want=False)

    def status(self) -> int:
        with self._lock:
            self._advance()
            return self._status

    def ifconfig(self, iface: int) -> tuple:
        with self._lock:
            if iface == 1:
                return AP_IF_CONFIG
            self._advance()
            ap = self._aps.get(self.saved_ssid)
            if self._status != STAT_GOT_IP or ap is None:
                return NO_ADDRESS
            return (f"{ap.subnet}.100", "255.255.255.0", f"{ap.subnet}.1", f"{ap.subnet}.1")

    def rssi(self) -> int:
        with self._lock:
            ap = self._aps.get(self.saved_ssid)
            return ap.rssi if ap and self.status() == STAT_GOT_IP else 31

    def scan(self) -> list[AccessPoint]:
        with self._lock:
            return [ap for ap in self._aps.values() if ap.present and self.link_up] if self.sta_active else []

    def chip_reset(self) -> None:
        """A hard reset drops the association; the SDK re-joins the saved AP at boot."""
        with self._lock:
            want = self.sta_active and bool(self.saved_ssid)
            self._drop_association(want=want)
            if want:
                self._start_attempt()

    # --- the state machine
    def _reachable(self) -> AccessPoint | None:
        ap = self._aps.get(self.saved_ssid)
        return ap if ap is not None and ap.present and self.link_up else None

    def _start_attempt(self) -> None:
        self._status = STAT_CONNECTING
        self._attempt_end = self.clock() + self.join_delay_s

    def _advance(self) -> None:
        if not self._want or self._status != STAT_CONNECTING or self.clock() < self._attempt_end:
            if self._want and self._status == STAT_NO_AP_FOUND and self._reachable():
                self._start_attempt()  # the SDK keeps retrying a lost AP
            return
        ap = self._reachable()
        if ap is None:
            self._status = STAT_NO_AP_FOUND
        elif ap.password and ap.password != self.saved_key:
            self._status = STAT_WRONG_PASSWORD
            self._want = False
        else:
            self._status = STAT_GOT_IP
            if self.on_join:
                self.on_join()

    def _check_lost(self) -> None:
        self._advance()
        if self._status == STAT_GOT_IP and self._reachable() is None:
            self._status = STAT_NO_AP_FOUND  # beacon lost: the address goes away
            if self.on_link_lost:
                self.on_link_lost()
        elif self._want and self._status == STAT_NO_AP_FOUND and self._reachable():
            self._start_attempt()

    def _drop_association(self, want: bool) -> None:
        was_up = self._status == STAT_GOT_IP
        self._want = want
        self._status = STAT_IDLE
        if was_up and self.on_link_lost:
            self.on_link_lost()
