"""labgrid places as boards: the `[labgrid]` table of boards.toml, holding a place, its record.

```toml
[labgrid]
coordinator = "labgrid.lan:20408"
places = ["nodemcu-1", "nodemcu-2"]     # named places, or:
# match = ["board=nodemcu", "rig=a"]    # any place carrying these tags
power = true                            # switch power through the place's power driver
```

A place is held the way labgrid shares a farm: a reservation (`reserve name=PLACE` or the
tag filters), a wait until the coordinator allocates a place to it (fair across hosts, by
priority and age), then `acquire`. The coordinator records the holder as `host/user`
(LG_HOSTNAME/LG_USERNAME), never as a process: a place acquired by a process that died
stays acquired in that name, and its reservation, once acquired, never expires. So each
process holding a reservation also holds a local lock on its token (lease directory); a
reservation of this host/user whose lock is free belongs to a dead process, and the next
run releases its place and cancels it before reserving its own.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Mapping, Sequence

from nodemcu_hil.errors import ConfigError, HilError, PortBusy, PowerFailed
from nodemcu_hil.inventory import BoardRecord, normalise_mac, parse_flash_size
from nodemcu_hil.labgrid_client import (
    RFC2217_PROTOCOL,
    LabgridClient,
    LabgridCommandFailed,
    PlaceInfo,
    PlaceWithoutSerialPort,
    UnknownPlace,
)
from nodemcu_hil.labgrid_spec import LabgridSpec, filters_text, parse_filters, parse_labgrid_table
from nodemcu_hil.lease import BoardLease
from nodemcu_hil.ports import check_rfc2217_url

__all__ = ["LabgridPower", "LabgridSpec", "PlaceLease", "parse_labgrid_table", "place_record"]

ALLOCATED = "allocated"
GONE_STATES = ("expired", "invalid")
RESERVATION_GONE = "does not exist"  # the coordinator's answer to cancelling an unknown token
MUTEX_TIMEOUT_S = 30.0  # the identity's mutex is held for a few client calls only
POWER_TIMEOUT_S = 30.0  # a cycle includes the driver's off-on delay (2 s by default)
MAC_TAG = "mac"
FLASH_SIZE_TAG = "flash_size"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


class PlaceLease:
    """One place held for the block: reserved, allocated, acquired; released and its
    reservation cancelled on exit. `place` names it, or `tags` ("key=value") pick any
    place carrying them. `record` and `info` are set once acquired."""

    def __init__(self, client: LabgridClient, *, place: str | None = None, tags: Sequence[str] = (),
                 timeout: float, lease_dir: Path):
        if bool(place) == bool(tags):
            raise ConfigError("a labgrid place is held by its name or by tags, exactly one of them")
        self.client = client
        self.wanted = place
        try:
            self.filters = {"name": place} if place else parse_filters(tags)
        except ValueError as exc:
            raise ConfigError(f"labgrid place tags: {exc}", hint="fix the [labgrid] match of boards.toml") from None
        self.timeout = timeout
        self.lease_dir = Path(lease_dir)
        self.token: str | None = None
        self.info: PlaceInfo | None = None
        self.record: BoardRecord | None = None
        self._token_lock: BoardLease | None = None
        self._acquiring: str | None = None  # the allocated place, once `acquire` was sent

    @property
    def wanted_text(self) -> str:
        return f"place {self.wanted}" if self.wanted else f"a place with {filters_text(self.filters)}"

    def _lock(self, suffix: str) -> BoardLease:
        key = f"labgrid-{_slug(self.client.coordinator)}-{_slug(self.client.identity)}-{suffix}"
        return BoardLease(key, self.lease_dir, board=self.wanted or "labgrid", port=self.client.coordinator)

    def _mutex(self) -> BoardLease:
        """Serialises this host/user's reserving, judging and releasing across processes."""
        return self._lock("reserve").acquire(MUTEX_TIMEOUT_S)

    def acquire(self) -> "PlaceLease":
        deadline = time.monotonic() + self.timeout
        places = {info.name: info for info in self.client.places()}
        self._check_wanted(places)
        with self._mutex():
            self._clear_dead_holders(places)
            reservation = self.client.reserve(self.filters)
            self.token = reservation.token
            self._token_lock = self._lock(f"token-{self.token}")
            self._token_lock.acquire(0)
        try:
            name = reservation.place if reservation.state == ALLOCATED else self._wait_for_allocation(deadline)
            self._acquiring = name
            self.client.run("acquire", place=f"+{self.token}")
            self.info = self.client.show(name)
            self.record = place_record(self.info)
        except BaseException:
            self.release()
            raise
        return self

    def _check_wanted(self, places: Mapping[str, PlaceInfo]) -> None:
        where = f"labgrid coordinator {self.client.coordinator}"
        if self.wanted and self.wanted not in places:
            raise UnknownPlace(f"the {where} has no place {self.wanted!r}",
                               hint=f"its places: {', '.join(sorted(places)) or 'none'}; fix boards.toml")
        if not any(info.carries(self.filters) for info in places.values()):
            raise UnknownPlace(f"no place on the {where} carries the tags {filters_text(self.filters)}",
                               hint="set them with labgrid-client -p PLACE set-tags KEY=VALUE, or fix the "
                                    "[labgrid] match of boards.toml")

    def _clear_dead_holders(self, places: Mapping[str, PlaceInfo]) -> None:
        """Release and cancel what dead processes of this host/user left held (see the module doc).
        Only reservations holding a place matter (a waiting one expires after 60 s unpolled), and
        every such place shows its token: without one, there is nothing to look up."""
        if not any(info.reservation and info.acquired in (None, self.client.identity) for info in places.values()):
            return
        for reservation in self.client.reservations():
            if reservation.owner != self.client.identity:
                continue
            lock = self._lock(f"token-{reservation.token}")
            if not lock.try_acquire(0):
                continue  # a live process of ours holds it
            try:
                held = places.get(reservation.place or "")
                self._cancel(reservation.token)
                if held and held.acquired == self.client.identity and held.reservation == reservation.token:
                    self.client.run("release", place=held.name)
            finally:
                lock.release()
                _remove_lock_file(lock)

    def _wait_for_allocation(self, deadline: float) -> str:
        """The place the coordinator allocated to our token, waiting until the deadline."""
        mine = self.client.wait(self.token, max(0.0, deadline - time.monotonic()))
        if mine is None:
            raise self._busy()
        if mine.state in GONE_STATES or not mine.place:
            raise LabgridCommandFailed(f"the reservation {self.token} for {self.wanted_text} ended "
                                       f"({mine.state}) before a place was allocated",
                                       hint="another client cancelled it, or the place was deleted; run again")
        return mine.place

    def _busy(self) -> PortBusy:
        candidates = [info for info in self.client.places() if info.carries(self.filters)]
        owners = {r.token: r.owner for r in self.client.reservations()}
        holders = "; ".join(f"{info.name} acquired by {info.acquired}" if info.acquired
                            else f"{info.name} reserved by {owners.get(info.reservation, 'another client')}"
                            if info.reservation else f"{info.name} free now"
                            for info in candidates)
        mine = any(info.acquired == self.client.identity for info in candidates)
        hint = (f"it is held in this run's own labgrid name {self.client.identity} by a live process or by hand: "
                f"labgrid-client -p PLACE release, or give this run another LG_USERNAME" if mine
                else "wait for that run to finish, or raise hil_lease_timeout")
        return PortBusy(f"labgrid {self.wanted_text} stayed held for {self.timeout:g} s on coordinator "
                        f"{self.client.coordinator}: {holders or 'no place carries the tags'}",
                        board=self.wanted, hint=hint)

    def release(self) -> None:
        """Release the place and cancel the reservation, so the next contender gets it at once."""
        if self.token is None:
            return
        with self._mutex():
            try:
                held = bool(self._acquiring) and self._held_by_us(self._acquiring)
                self._cancel(self.token)  # first: see _cancel
                if held:
                    self.client.run("release", place=self._acquiring)
            finally:
                self.token = self._acquiring = self.info = None
                if self._token_lock:
                    self._token_lock.release()
                    _remove_lock_file(self._token_lock)
                    self._token_lock = None

    def _held_by_us(self, name: str) -> bool:
        """Whether our acquire took effect (known without asking once `show` confirmed it)."""
        if self.info is not None and self.info.acquired == self.client.identity:
            return True
        return any(info.name == name and info.acquired == self.client.identity and info.reservation == self.token
                   for info in self.client.places())

    def _cancel(self, token: str) -> None:
        """Cancel a reservation; one that is already gone (expired, cancelled) is fine.

        Cancel before releasing the place: labgrid 26's scheduler takes a place as free only
        when its last run left it without a reservation, so a place released first and its
        reservation cancelled next stays unallocated until the coordinator's next 15 s tick;
        in this order the release itself hands the place to the next waiting reservation."""
        try:
            self.client.run("cancel-reservation", token)
        except LabgridCommandFailed as exc:
            if RESERVATION_GONE not in exc.what:
                raise

    def __enter__(self) -> "PlaceLease":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _remove_lock_file(lock: BoardLease) -> None:
    """A token lock is used once: its file goes (only under the identity's mutex)."""
    lock._lock_path(lock.key).unlink(missing_ok=True)


def place_record(place: PlaceInfo) -> BoardRecord:
    """The board record of an acquired place: its NetworkSerialPort as the rfc2217 URL, MAC
    and flash size from its tags `mac=…` and `flash_size=…`, every tag as "key=value"."""
    where = f"labgrid place {place.name} on coordinator {place.coordinator}"
    serial = place.serial
    fix = f"labgrid-client -p {place.name} show lists its resources; the exporter must publish a NetworkSerialPort"
    if serial is None:
        raise PlaceWithoutSerialPort(f"{where} has no serial port (NetworkSerialPort)", board=place.name, hint=fix)
    if not serial.avail or serial.port is None:
        raise PlaceWithoutSerialPort(f"{where}: its serial port is not available (exporter disconnected, board "
                                     "unplugged, or ser2net not started)", board=place.name, hint=fix)
    if serial.protocol != RFC2217_PROTOCOL:
        raise PlaceWithoutSerialPort(f"{where}: its serial port speaks {serial.protocol}, not RFC2217 "
                                     "(no DTR/RTS, so no reset into the ROM loader)", board=place.name,
                                     hint="export it with protocol: rfc2217 (ser2net's telnet(rfc2217))")
    try:
        url = check_rfc2217_url(serial.url)
        mac = normalise_mac(place.tags[MAC_TAG]) if MAC_TAG in place.tags else None
        flash_size = parse_flash_size(place.tags.get(FLASH_SIZE_TAG, "4MB"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}", board=place.name,
                          hint=f"fix it with labgrid-client -p {place.name} set-tags KEY=VALUE") from None
    return BoardRecord(name=place.name, port=url, mac=mac, flash_size=flash_size, tags=place.tag_strings,
                       description=where,
                       extra={"labgrid_place": place.name, "labgrid_coordinator": place.coordinator})


class LabgridPower:
    """A place's power driver as the harness's power switch (`nodemcu_hil.power.PowerSwitch`):
    `labgrid-client -p PLACE power on|off|cycle`, on a place this run has acquired."""

    def __init__(self, client: LabgridClient, place: str, *, delay: float | None = None,
                 timeout: float = POWER_TIMEOUT_S):
        self.client = client
        self.place = place
        self.delay = delay
        self.timeout = timeout
        self.description = f"labgrid power of place {place} (coordinator {client.coordinator})"

    def on(self) -> None:
        self._switch("on")

    def off(self) -> None:
        self._switch("off")

    def cycle(self) -> None:
        self._switch("cycle", *(("-t", f"{self.delay:g}") if self.delay is not None else ()))

    def _switch(self, action: str, *options: str) -> None:
        try:
            self.client.run("power", action, *options, place=self.place, timeout=self.timeout)
        except LabgridCommandFailed as exc:
            raise PowerFailed(f"power {action} through labgrid failed: {exc.what}", board=self.place,
                              hint=f"labgrid-client -p {self.place} show must list a power resource "
                                   "(NetworkPowerPort, USBPowerPort, ...) and this run must hold the place") from None
        except HilError as exc:
            raise PowerFailed(f"power {action} through labgrid failed: {exc.what}", board=self.place,
                              hint=exc.hint) from None
