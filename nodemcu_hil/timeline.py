"""One timeline per test: console lines, MQTT messages and harness actions.

Everything is stamped with `time.monotonic()` so that events from the serial reader, the
broker thread and the test itself sort into one story of what happened. Every secret the
process has resolved is masked as an event is added (and again by the report's renderer),
so no event holds one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterable

from nodemcu_hil.secrets import redact_remembered

SOURCE_CONSOLE = "console"
SOURCE_MQTT = "mqtt"
SOURCE_HARNESS = "harness"


@dataclass(frozen=True)
class Event:
    at: float
    source: str
    board: str
    text: str


class Timeline:
    def __init__(self):
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self.origin = time.monotonic()

    def add(self, source: str, board: str, text: str, at: float | None = None) -> Event:
        event = Event(time.monotonic() if at is None else at, source, board, redact_remembered(text))
        with self._lock:
            self._events.append(event)
        return event

    def action(self, board: str, text: str) -> Event:
        return self.add(SOURCE_HARNESS, board, text)

    def events(self, since: float | None = None, extra: Iterable[Event] = ()) -> list[Event]:
        with self._lock:
            events = list(self._events)
        events.extend(extra)
        return sorted((e for e in events if since is None or e.at >= since), key=lambda e: e.at)

    def render(self, since: float | None = None, extra: Iterable[Event] = (),
               redact=lambda text: text) -> str:
        start = self.origin if since is None else since
        return "\n".join(f"{event.at - start:9.3f} {event.source:<7} {event.board:<12} {redact(event.text)}"
                         for event in self.events(since, extra))
