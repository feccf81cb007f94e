"""What a test's timeline means, lane by lane: the model behind its swimlane picture.

A person looking at a failed reconnect test wants to see where the gap was. This module
reads a window of timeline events (`nodemcu_hil.evidence.window_events`) and sorts them
into lanes (harness actions, world changes, the broker, the console, MQTT by direction and
topic), and finds what deserves a mark of its own: resets, wills, dropped links, errors,
outages of the world (Wi-Fi link down, blackhole, broker stopped) and reconnect gaps.
Drawing is `nodemcu_hil.report_svg`'s business; nothing here knows about pixels.

Every text kept here has passed through the caller's `redact` (secrets masked) and has its
control characters escaped, so the drawing only has to escape markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nodemcu_hil.evidence import BROKER_NAME, CONTROL_ESCAPES
from nodemcu_hil.timeline import SOURCE_CONSOLE, SOURCE_HARNESS, SOURCE_MQTT, Event

# Kinds of marks, least to most important: a bin of several events takes the strongest.
EVENT, LOSS, DROP, WILL, ERROR = "event", "loss", "drop", "will", "error"
RANK = {EVENT: 0, LOSS: 1, DROP: 2, WILL: 3, ERROR: 4}
OUTAGE, GAP = "outage", "gap"
UP, DOWN = "↑", "↓"
MAX_TOPIC_LANES = 10  # per direction; further topics share one lane
OTHER_TOPICS = "(other topics)"
WORLD_PREFIX = "world: "

RESET = re.compile(r"^(hard reset|soft reset|reset asserted)|rst cause:|soft reboot", re.IGNORECASE)
# A console line saying the firmware's link is gone (a reconnect gap starts), or back.
LOSS_LINE = re.compile(r"link lost|connection lost|disconnected|connection refused", re.IGNORECASE)
BACK_LINE = re.compile(r"(?<![\w-])(re)?connected\b", re.IGNORECASE)
CONSOLE_ERROR = re.compile(r"Traceback|\w+Error\b|\bException\b|\bFATAL|\bfailed\b|\brefused\b|\bpanic\b",
                           re.IGNORECASE)
HARNESS_ERROR = re.compile(r"error|refused|out of service|does not answer|did not help|failed", re.IGNORECASE)
ESPTOOL_PREFIX = "esptool: "
ESPTOOL_NOTE = re.compile(r"\b(NOTE|WARNING|Warning):")
HARNESS_DROP = re.compile(r"^broker: (kick|dropping)")
# World or broker changes that open and close an outage band: (opens, closes, label).
OUTAGES = (
    (re.compile(r"^world: Wi-Fi link down"), re.compile(r"^world: Wi-Fi link up"), "Wi-Fi link down"),
    (re.compile(r"^world: network blackhole on"), re.compile(r"^world: network blackhole off"), "blackhole"),
    (re.compile(r"^world: access point .* out of range"), re.compile(r"^world: access point .* in range"),
     "access point out of range"),
    (re.compile(r"^broker: stop"), re.compile(r"^broker: start"), "broker stopped"),
)


@dataclass(frozen=True)
class Mark:
    at: float
    lane: int
    kind: str
    text: str  # the line itself, masked: the mark's hover text


@dataclass(frozen=True)
class Band:
    start: float
    end: float | None  # None: still open when the window ends
    kind: str  # OUTAGE or GAP
    label: str


@dataclass
class Picture:
    lanes: list[str] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    resets: list[Mark] = field(default_factory=list)


def mqtt_parts(event: Event) -> tuple[str, str, bool]:
    """(topic, direction, will) of an MQTT event ("topic payload [qos1, retained, will]").

    A message whose topic names its sender (the board publishes under its client id) goes up
    from the board; anything else (the harness's commands, the broker's replays) down to it.
    """
    topic = event.text.split(" ", 1)[0]
    flags = event.text[event.text.rfind("[") + 1:-1].split(", ") if event.text.endswith("]") else []
    will = "will" in flags
    sender = event.board
    up = will or (sender != BROKER_NAME and sender in topic.split("/"))
    return topic, UP if up else DOWN, will


def lane_name(event: Event) -> str:
    if event.source == SOURCE_MQTT:
        topic, direction, _ = mqtt_parts(event)
        return f"MQTT {direction} {topic}"
    if event.source == SOURCE_HARNESS and event.board == BROKER_NAME:
        return "broker"
    if event.source == SOURCE_HARNESS and event.text.startswith(WORLD_PREFIX):
        return f"world {event.board}"
    return f"{event.source} {event.board}"


def _lane_rank(name: str) -> int:
    kinds = (SOURCE_HARNESS, "world", "broker", SOURCE_CONSOLE, f"MQTT {UP}", f"MQTT {DOWN}")
    return next((index for index, kind in enumerate(kinds) if name.startswith(kind)), len(kinds))


def _lanes(events: Sequence[Event]) -> dict[str, str]:
    """Event lane name -> the lane it is drawn in: the topics of one direction beyond
    MAX_TOPIC_LANES share one lane."""
    seen = list(dict.fromkeys(lane_name(event) for event in events))
    shown: dict[str, str] = {}
    for direction in (UP, DOWN):
        topics = [name for name in seen if name.startswith(f"MQTT {direction} ")]
        for index, name in enumerate(topics):
            shown[name] = name if index < MAX_TOPIC_LANES else f"MQTT {direction} {OTHER_TOPICS}"
    for name in seen:
        shown.setdefault(name, name)
    return shown


def _kind(event: Event) -> str:
    text = event.text
    if event.source == SOURCE_MQTT:
        topic, _, will = mqtt_parts(event)
        return ERROR if topic.rsplit("/", 1)[-1] == "error" else WILL if will else EVENT
    if event.source == SOURCE_CONSOLE:
        return LOSS if LOSS_LINE.search(text) else ERROR if CONSOLE_ERROR.search(text) else EVENT
    if HARNESS_DROP.search(text):
        return DROP
    if text.startswith(ESPTOOL_PREFIX) and ESPTOOL_NOTE.search(text):
        return EVENT  # esptool's notes ("Failed to get VID/PID" of a network port) are no errors
    return ERROR if HARNESS_ERROR.search(text) else EVENT


def _outages(events: Sequence[Event]) -> list[Band]:
    bands, open_at = [], {}
    for event in events:
        if event.source != SOURCE_HARNESS:
            continue
        for opens, closes, label in OUTAGES:
            if opens.search(event.text):
                open_at.setdefault(label, event.at)
            elif closes.search(event.text) and label in open_at:
                bands.append(Band(open_at.pop(label), event.at, OUTAGE, label))
    bands += [Band(start, None, OUTAGE, label) for label, start in open_at.items()]
    return bands


def _is_up(event: Event) -> bool:
    return event.source == SOURCE_MQTT and mqtt_parts(event)[1] == UP and not mqtt_parts(event)[2]


def _gaps(events: Sequence[Event]) -> list[Band]:
    """From the firmware's first sign of a lost link (a console line, its will) to its next
    "connected" console line. A firmware that never says so, or a window that ends before it
    does: to the board's first MQTT message after the last sign of the loss."""
    says_connected = any(e.source == SOURCE_CONSOLE and BACK_LINE.search(e.text) and not LOSS_LINE.search(e.text)
                         for e in events)
    gaps, start, last_loss = [], None, None
    for event in events:
        if (event.source == SOURCE_CONSOLE and LOSS_LINE.search(event.text)) or \
                (event.source == SOURCE_MQTT and mqtt_parts(event)[2]):
            start = event.at if start is None else start
            last_loss = event.at
            continue
        back = (event.source == SOURCE_CONSOLE and BACK_LINE.search(event.text)) if says_connected else _is_up(event)
        if start is not None and back:
            gaps.append(Band(start, event.at, GAP, f"reconnect gap {event.at - start:.2f} s"))
            start = None
    if start is not None:
        heard = next((event.at for event in events if event.at > last_loss and _is_up(event)), None)
        gaps.append(Band(start, heard, GAP, "no reconnect" if heard is None else
                         f"reconnect gap {heard - start:.2f} s"))
    return gaps


def hover_line(event: Event, origin: float, redact: Callable[[str], str]) -> str:
    """The line as the text timeline shows it: seconds since the test's start, source, board, text."""
    return redact(f"{event.at - origin:.3f} s {event.source} {event.board}: "
                  f"{event.text.translate(CONTROL_ESCAPES)}")


def picture(events: Sequence[Event], origin: float, redact: Callable[[str], str]) -> Picture:
    """Lanes, marks, resets and bands of a window of events (sorted by time)."""
    lanes = _lanes(events)
    names = sorted(dict.fromkeys(lanes.values()), key=_lane_rank)  # stable: first appearance within a kind
    index = {name: position for position, name in enumerate(names)}
    shown = Picture(lanes=[redact(name) for name in names], bands=_outages(events) + _gaps(events))
    for event in events:
        mark = Mark(event.at, index[lanes[lane_name(event)]], _kind(event), hover_line(event, origin, redact))
        shown.marks.append(mark)
        if event.source in (SOURCE_HARNESS, SOURCE_CONSOLE) and RESET.search(event.text):
            shown.resets.append(mark)
    return shown
