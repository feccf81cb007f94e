"""Where a rig's broker listens: the one host address the boards' network reaches.

Virtual boards reach the broker on loopback; real boards reach it over Wi-Fi, so on a
rig the broker binds the host's one non-loopback IPv4 address, and a host on several
networks must be told which (the setting broker_bind).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nodemcu_hil.errors import ConfigError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Interface:
    """One IPv4 address of this host, as `ifaddr` lists it."""

    name: str
    address: str
    network: str  # e.g. 192.168.4.0/24

    def __str__(self) -> str:
        return f"{self.name} {self.address} ({self.network})"


def ipv4_interfaces(adapters=None) -> list[Interface]:
    """This host's IPv4 addresses a board could reach: not loopback, not link-local.

    `adapters` is what `ifaddr.get_adapters()` returns (its default)."""
    if adapters is None:
        import ifaddr

        adapters = ifaddr.get_adapters()
    found = []
    for adapter in adapters:
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: (address, flowinfo, scope) tuples; the firmware speaks IPv4
            interface = ipaddress.ip_interface(f"{ip.ip}/{ip.network_prefix}")
            if interface.ip.is_loopback or interface.ip.is_link_local:
                continue
            found.append(Interface(getattr(adapter, "nice_name", None) or adapter.name, ip.ip,
                                   str(interface.network)))
    return found


def choose_bind_address(interfaces: list[Interface]) -> str:
    """The one interface a rig's broker listens on; none or several stop the run, naming
    the setting that decides."""
    if len(interfaces) == 1:
        return interfaces[0].address
    if not interfaces:
        raise ConfigError("no non-loopback IPv4 interface for the broker on this host",
                          hint="set hil_broker_bind to the address your boards' Wi-Fi network reaches")
    listed = "; ".join(str(interface) for interface in interfaces)
    raise ConfigError(f"hil_broker_bind=auto, but this host has {len(interfaces)} IPv4 interfaces: {listed}; "
                      "the broker will not guess which network the boards are on",
                      hint="set hil_broker_bind (--hil-broker-bind, HIL_BROKER_BIND or the hil_broker_bind ini key) "
                           "to the address of the boards' network, e.g. "
                           f"HIL_BROKER_BIND={interfaces[0].address}")


def rig_bind_address(broker_bind: str, adapters=None) -> str:
    """On a rig: the address the setting broker_bind names, or with `auto` the host's one
    non-loopback IPv4 interface (several: a start-up error)."""
    if broker_bind != "auto":
        return broker_bind
    return choose_bind_address(ipv4_interfaces(adapters))
