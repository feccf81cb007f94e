"""labgrid places as a source: a farm shared between hosts, through labgrid's own
coordinator, reservations and acquisitions (`nodemcu_hil.labgrid_places`).

At start-up the source asks the coordinator once for its places, so an unreachable
coordinator, an unknown place or too few places stop the run before any board is touched.
A worker holds its place (reserved, allocated, acquired) for the session; the place's
NetworkSerialPort is the board's `rfc2217://` port.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nodemcu_hil.config import Settings
from nodemcu_hil.inventory import BoardRecord, BoardsFile
from nodemcu_hil.labgrid_client import LabgridClient, PlaceInfo, PlaceWithoutSerialPort, UnknownPlace
from nodemcu_hil.labgrid_places import LabgridPower, LabgridSpec, PlaceLease, parse_labgrid_table, place_record
from nodemcu_hil.labgrid_spec import filters_text, parse_filters
from nodemcu_hil.power import PowerSwitch, power_switch_for
from nodemcu_hil.sources.base import RigSource, refuse_more_workers


PORT_WHEN_HELD = "(when held)"


class LabgridSource(RigSource):
    kind = "labgrid"

    def __init__(self, spec: LabgridSpec, client: LabgridClient, path: Path, reason: str):
        self.spec = spec
        self.client = client
        self.path = path
        self.reason = reason
        self._places = self._known_places()

    def _known_places(self) -> list[PlaceInfo]:
        """The places this file means, as the coordinator lists them now (one client run)."""
        listed = {place.name: place for place in self.client.places()}
        if self.spec.places:
            missing = [name for name in self.spec.places if name not in listed]
            if missing:
                raise UnknownPlace(f"{self.path}: labgrid place {', '.join(missing)} is not on the coordinator "
                                   f"{self.client.coordinator}",
                                   hint=f"places there: {', '.join(sorted(listed)) or 'none'}; "
                                        "create it with labgrid-client -p NAME create")
            return [listed[name] for name in self.spec.places]
        filters = parse_filters(self.spec.match)
        matching = [place for place in listed.values() if place.carries(filters)]
        if not matching:
            raise UnknownPlace(f"{self.path}: no labgrid place on the coordinator {self.client.coordinator} "
                               f"carries {filters_text(filters)}",
                               hint="tag places with labgrid-client -p NAME set-tags KEY=VALUE")
        return sorted(matching, key=lambda place: place.name)

    def describe(self) -> str:
        wanted = (", ".join(self.spec.places) if self.spec.places
                  else f"any place with {filters_text(parse_filters(self.spec.match))}")
        return (f"mode=hardware ({self.reason}); boards: labgrid places on {self.client.coordinator}: {wanted} "
                f"(as {self.client.identity})")

    def check_workers(self, workers: int) -> None:
        refuse_more_workers(workers, [place.name for place in self._places], "labgrid places", add="places")

    def records(self) -> list[BoardRecord]:
        """Each place as `show` reports it, no place acquired: a USBSerialPort exported
        through ser2net has no port until its place is held, so the port may read
        `(when held)` here."""
        return [self._listed(self.client.show(place.name)) for place in self._places]

    def _listed(self, place: PlaceInfo) -> BoardRecord:
        try:
            return place_record(place)
        except PlaceWithoutSerialPort:
            return BoardRecord(name=place.name, port=PORT_WHEN_HELD, tags=place.tag_strings,
                               description=f"labgrid place {place.name} on coordinator {place.coordinator}")

    def _hold(self, settings: Settings, timeout: float, *, place: str | None = None) -> PlaceLease:
        if place is None and not self.spec.places:
            return PlaceLease(self.client, tags=self.spec.match, timeout=timeout, lease_dir=settings.lease_dir)
        return PlaceLease(self.client, place=place, timeout=timeout, lease_dir=settings.lease_dir)

    @contextmanager
    def lease(self, settings: Settings, worker_index: int) -> Iterator[BoardRecord]:
        """Worker gwN takes the Nth named place; with tag filters, whichever place labgrid's
        scheduler allocates. Waits up to hil_lease_timeout, then `PortBusy` naming the holder."""
        named = self.spec.places[worker_index % len(self.spec.places)] if self.spec.places else None
        with self._hold(settings, settings.lease_timeout, place=named) as held:
            yield held.record

    @contextmanager
    def lease_named(self, name: str, settings: Settings, timeout: float | None = None) -> Iterator[BoardRecord]:
        with self._hold(settings, settings.lease_timeout if timeout is None else timeout, place=name) as held:
            yield held.record

    def power_for(self, record: BoardRecord) -> PowerSwitch | None:
        """The place's power driver when the file says `power = true`; else a `power`
        entry of the record (none: a place's record has none)."""
        return LabgridPower(self.client, record.name) if self.spec.power else power_switch_for(record)


def labgrid_source(boards_file: BoardsFile, settings: Settings, reason: str) -> LabgridSource:
    spec = parse_labgrid_table(boards_file.path, boards_file.text, boards_file.labgrid)
    client = LabgridClient(spec.coordinator, program=settings.labgrid_client)
    return LabgridSource(spec, client, boards_file.path, reason)
