"""What a report shows about one test: its slice of the timeline and its boards.

The session keeps one `Timeline` (console lines, harness actions) and the broker keeps one
`MessageLog`. A test's evidence is the window of both between its setup start and the end
of a phase, merged by monotonic time, rendered with secrets masked, plus the fingerprint
(MAC, flash id, MicroPython version, free heap) of each board it used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from nodemcu_hil.messages import Message, MessageLog
from nodemcu_hil.timeline import SOURCE_MQTT, Event, Timeline

PAYLOAD_SHOWN = 300  # characters of an MQTT payload kept in a timeline line
EVENTS_SHOWN = 2000  # events rendered per window: the first tenth and the rest from the end
# Control characters (a garbled baud rate, ANSI colours) shown escaped, so that no report
# (terminal, XML, HTML) is corrupted by a board's output.
CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x09), *range(0x0a, 0x20), 0x7f)}
BROKER_NAME = "broker"  # the timeline's board column for a message with no known sender
FINGERPRINT_FIELDS = ("mac", "flash_id", "micropython_version", "free_heap")

Fingerprints = Mapping[str, Mapping[str, object]]


def message_event(message: Message) -> Event:
    """A broker message as a timeline event: topic, payload (shortened, escaped), flags."""
    payload = message.text
    if len(payload) > PAYLOAD_SHOWN:
        payload = payload[:PAYLOAD_SHOWN] + f"... ({len(message.payload)} bytes)"
    payload = payload.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    flags = [f"qos{message.qos}"] + (["retained"] if message.retain else []) + (["will"] if message.will else [])
    return Event(message.at, SOURCE_MQTT, message.sender or BROKER_NAME,
                 f"{message.topic} {payload} [{', '.join(flags)}]")


def window_events(timeline: Timeline | None, messages: MessageLog | None,
                  since: float, until: float) -> list[Event]:
    """Every timeline event and broker message stamped in [since, until], in time order."""
    extra = [message_event(m) for m in messages] if messages is not None else []
    if timeline is None:
        events = sorted((e for e in extra if e.at >= since), key=lambda e: e.at)
    else:
        events = timeline.events(since=since, extra=extra)
    return [event for event in events if event.at <= until]


def render_events(events: Sequence[Event], origin: float, redact: Callable[[str], str],
                  limit: int = EVENTS_SHOWN) -> str:
    """One line per event, seconds since `origin` (the test's setup start), secrets masked.

    Beyond `limit` events the middle of the window is left out, with a line saying so.
    """
    lines = [redact(f"{event.at - origin:9.3f} {event.source:<7} {event.board:<12} "
                    f"{event.text.translate(CONTROL_ESCAPES)}") for event in events]
    if len(lines) > limit:
        head = limit // 10
        tail = limit - head
        lines = [*lines[:head], f"... {len(lines) - limit} events left out ...", *lines[-tail:]]
    return "\n".join(lines)


def boards_used(noted: Iterable[str], events: Iterable[Event], fingerprints: Fingerprints,
                uses_board_fixture: bool) -> list[str]:
    """The boards a test used: noted by the fixtures, else seen in its window, else (when it
    asked for a board fixture) every board this process fingerprinted."""
    names = list(dict.fromkeys(noted))
    names += [name for name in dict.fromkeys(e.board for e in events)
              if name in fingerprints and name not in names]
    if not names and uses_board_fixture:
        names = list(fingerprints)
    return names


def fingerprint_properties(boards: Sequence[str], fingerprints: Fingerprints) -> list[tuple[str, object]]:
    """JUnit properties per board: `board`, then its fingerprint fields (known ones first)."""
    properties: list[tuple[str, object]] = []
    for name in boards:
        fingerprint = fingerprints.get(name, {})
        properties.append(("board", name))
        ordered = [key for key in FINGERPRINT_FIELDS if key in fingerprint]
        ordered += [key for key in fingerprint if key not in FINGERPRINT_FIELDS]
        properties += [(key, fingerprint[key]) for key in ordered]
    return properties


def fingerprint_lines(boards: Sequence[str], fingerprints: Fingerprints) -> list[str]:
    """A header line per board for the rendered timeline."""
    lines = []
    for name in boards:
        fields = ", ".join(f"{key}={value}" for key, value in fingerprints.get(name, {}).items())
        lines.append(f"board {name}: {fields or 'no fingerprint'}")
    return lines
