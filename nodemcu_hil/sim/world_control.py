"""The world's control commands and its `--world FILE` (TOML) loader.

Commands (JSON lines on the board's control endpoint, see control.py):

    gpio.drive {pin, value}         hold an input at 0/1 (null releases it)
    gpio.read {pin}                 -> {level, mode, pull, driven, irq_trigger}
    gpio.history {pin?, since_ns?}  -> {changes: [{t_ns, pin, level, source}], now_ns}
    wifi.ap.add {ssid, password?, present?, rssi?, channel?}
    wifi.ap.remove {ssid}           wifi.ap.present {ssid, present}
    wifi.link {up}                  drop (false) or restore (true) the radio link
    wifi.join_delay {s}             how long a join takes from now on (the world file's join_delay_s)
    net.blackhole {on}              net.latency {ms}
    counters                        -> {wifi_joins, tcp_connections, wifi_link_losses}
    world.state                     -> everything above at once

World file:

    [wifi]
    join_delay_s = 1.5
    link = "up"
    [[wifi.ap]]
    ssid = "lab"
    password = "secret"
    present = true
    [net]
    latency_ms = 0
    blackhole = false
    [gpio.inputs]
    4 = 1

Any other table or key (`[[access_point]]` for `[[wifi.ap]]`, a misspelt key) is an error
naming the file and the key: `hil sim --world` exits with it instead of starting a board
without what the file meant.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

AP_KEYS = {"ssid", "password", "present", "rssi", "channel", "subnet"}
# The world file's tables and their keys; anything else is a mistake (a `[[access_point]]`
# for `[[wifi.ap]]`) that would otherwise leave the board without what the file meant.
FILE_TABLES = {
    "wifi": {"join_delay_s", "link", "ap"},
    "net": {"latency_ms", "blackhole"},
    "gpio": {"inputs"},
}


class WorldFileError(ValueError):
    """A --world file that cannot be used; the text names the file and the entry."""


def commands(world) -> dict[str, Callable[[dict], dict]]:
    def drive(p: dict) -> dict:
        world.gpio.drive(int(p["pin"]), p.get("value"))
        return {}

    def history(p: dict) -> dict:
        pin = p.get("pin")
        changes = world.gpio.history(None if pin is None else int(pin), int(p.get("since_ns", 0)))
        return {"changes": [c.as_dict() for c in changes], "now_ns": time.monotonic_ns()}

    def ap_add(p: dict) -> dict:
        unknown = set(p) - AP_KEYS
        if unknown:
            raise ValueError(f"unknown access point fields {sorted(unknown)}; known: {sorted(AP_KEYS)}")
        world.wifi.add_ap(**p)
        return {}

    def ap_present(p: dict) -> dict:
        world.wifi.set_present(p["ssid"], bool(p["present"]))
        return {}

    def join_delay(p: dict) -> dict:
        world.wifi.join_delay_s = join_delay_seconds(p["s"], "wifi.join_delay s")
        return {}

    def simple(fn: Callable[[], object]) -> Callable[[dict], dict]:
        return lambda p: (fn(), {})[1]

    return {
        "gpio.drive": drive,
        "gpio.read": lambda p: world.gpio.describe(int(p["pin"])),
        "gpio.history": history,
        "wifi.ap.add": ap_add,
        "wifi.ap.remove": lambda p: (world.wifi.remove_ap(p["ssid"]), {})[1],
        "wifi.ap.present": ap_present,
        "wifi.link": lambda p: (world.wifi.set_link(bool(p["up"])), {})[1],
        "wifi.join_delay": join_delay,
        "net.blackhole": lambda p: (world.net.set_blackhole(bool(p["on"])), {})[1],
        "net.latency": lambda p: (world.net.set_latency(int(p["ms"])), {})[1],
        "counters": lambda p: dict(world.counters),
        "world.state": lambda p: world.snapshot(),
        "world.chip_reset": simple(world.chip_reset),
    }


def join_delay_seconds(value: object, name: str) -> float:
    """A join time in seconds: a number from 0 up (a join never completes before it starts)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{name} must be 0 or more seconds, not {value!r}")
    return seconds


def load_world_file(world, path: str | Path) -> None:
    """Apply a TOML world description to `world` (before the board starts)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise WorldFileError(f"--world {path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorldFileError(f"--world {path}: not valid TOML: {exc}") from None
    _check_keys(path, data)
    wifi, net, gpio = data.get("wifi", {}), data.get("net", {}), data.get("gpio", {})
    if "join_delay_s" in wifi:
        try:
            world.wifi.join_delay_s = join_delay_seconds(wifi["join_delay_s"], "[wifi] join_delay_s")
        except ValueError as exc:
            raise WorldFileError(f"--world {path}: {exc}") from None
    if wifi.get("link", "up") not in ("up", "down"):
        raise WorldFileError(f"--world {path}: [wifi] link must be \"up\" or \"down\", not {wifi['link']!r}")
    world.wifi.set_link(wifi.get("link", "up") == "up")
    for n, ap in enumerate(wifi.get("ap", [])):
        unknown = set(ap) - AP_KEYS
        if "ssid" not in ap or unknown:
            raise WorldFileError(f"--world {path}: [[wifi.ap]] #{n + 1} needs an ssid and only {sorted(AP_KEYS)}")
        world.wifi.add_ap(**ap)
    world.net.set_latency(int(net.get("latency_ms", 0)))
    world.net.set_blackhole(bool(net.get("blackhole", False)))
    for pin, level in gpio.get("inputs", {}).items():
        try:
            world.gpio.drive(int(pin), level)
        except ValueError as exc:
            raise WorldFileError(f"--world {path}: [gpio.inputs] {pin}: {exc}") from None


def _check_keys(path: Path, data: dict) -> None:
    """Every table and key of the file is one the world knows; else name the first that is not."""
    def fail(what: str, name: str, known) -> None:
        raise WorldFileError(f"--world {path}: unknown {what} {name!r}; known: {', '.join(sorted(known))}")

    for table, value in data.items():
        if table not in FILE_TABLES:
            fail("table", table, FILE_TABLES)
        if not isinstance(value, dict):
            raise WorldFileError(f"--world {path}: {table!r} must be a table ([{table}])")
        for key in value:
            if key not in FILE_TABLES[table]:
                fail("key", f"{table}.{key}", (f"{table}.{known}" for known in FILE_TABLES[table]))
    aps = data.get("wifi", {}).get("ap", [])
    if not isinstance(aps, list) or not all(isinstance(ap, dict) for ap in aps):
        raise WorldFileError(f"--world {path}: 'wifi.ap' must be an array of tables ([[wifi.ap]])")
    for ap in aps:
        for key in ap:
            if key not in AP_KEYS:
                fail("key", f"wifi.ap.{key}", (f"wifi.ap.{known}" for known in AP_KEYS))
    inputs = data.get("gpio", {}).get("inputs", {})
    if not isinstance(inputs, dict):
        raise WorldFileError(f"--world {path}: 'gpio.inputs' must be a table ([gpio.inputs])")
