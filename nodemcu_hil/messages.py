"""A thread-safe, timestamped log of MQTT messages that tests can wait on.

The broker records every publish it receives and the test client records every message
it gets; both share this type so `wait_for` reads the same everywhere and so the report's
timeline can merge them by monotonic time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from nodemcu_hil.errors import WaitTimeout

TOPIC_LEVEL_WILDCARD = "+"
MULTI_LEVEL_WILDCARD = "#"


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching: `+` is one level, `#` the rest (MQTT 3.1.1 section 4.7)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == MULTI_LEVEL_WILDCARD:
            return True
        if index >= len(topic_levels):
            return False
        if level != TOPIC_LEVEL_WILDCARD and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    sender: str | None = None  # the publishing client id, when the broker knows it
    at: float = 0.0  # time.monotonic() when recorded
    will: bool = False  # published by the broker on behalf of a client that went away

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


class MessageLog:
    """Append-only message list with a condition variable for waiters."""

    def __init__(self, name: str = "messages"):
        self.name = name
        self._messages: list[Message] = []
        self._changed = threading.Condition()

    def record(self, message: Message) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def __iter__(self) -> Iterator[Message]:
        with self._changed:
            return iter(list(self._messages))

    def __len__(self) -> int:
        with self._changed:
            return len(self._messages)

    def matching(self, topic_filter: str, predicate: Callable[[Message], bool] | None = None,
                 since: float | None = None) -> list[Message]:
        return [m for m in self if topic_matches(topic_filter, m.topic)
                and (since is None or m.at >= since) and (predicate is None or predicate(m))]

    def wait_for(self, topic_filter: str, predicate: Callable[[Message], bool] | None = None, *,
                 timeout: float, since: float | None = None, what: str | None = None) -> Message:
        """The first message (recorded at or after `since`) matching filter and predicate."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for m in self._messages if topic_matches(topic_filter, m.topic)
                              and (since is None or m.at >= since)
                              and (predicate is None or predicate(m))), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted({m.topic for m in self._messages})[-8:]
                    raise WaitTimeout(f"{self.name}: no message on {topic_filter!r}"
                                      f"{' (' + what + ')' if what else ''} within {timeout:g} s",
                                      hint=f"topics seen: {', '.join(seen) or 'none'}")
                self._changed.wait(remaining)

    def wait_count(self, topic_filter: str, count: int, *, timeout: float, since: float | None = None,
                   what: str | None = None) -> list[Message]:
        """The first `count` messages (recorded at or after `since`) on the filter.

        Each wake-up looks only at what arrived since the last one, so waiting for a
        thousand replies costs one pass over the log, not one per reply."""
        deadline = time.monotonic() + timeout
        found: list[Message] = []
        looked = 0
        with self._changed:
            while True:
                found += [m for m in self._messages[looked:]
                          if topic_matches(topic_filter, m.topic) and (since is None or m.at >= since)]
                looked = len(self._messages)
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"{self.name}: {len(found)} of {count} messages on {topic_filter!r}"
                                      f"{' (' + what + ')' if what else ''} within {timeout:g} s")
                self._changed.wait(remaining)

