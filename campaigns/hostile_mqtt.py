"""Hostile MQTT commands against the running firmware: each refused, none fatal.

One board, one broker; the campaign sends a shuffled mix of hostile commands (random
bytes, non-ASCII topics and payloads, 10 KB payloads, 8 KB topics, flash pins 6-11, odd
pin numbers, JSON of the wrong type, retained junk), as fast as the firmware answers
(at most WINDOW unanswered at a time: amqtt drops a delivery whose PUBACK takes over 5 s,
which a deeper queue on a loaded host reaches), then checks that every command the firmware can see was answered by an error event (the
event echoes 64 bytes of topic and payload, which is how answers are matched to
commands), that none of them moved a pin, that the firmware is still online on its first
session and answers a valid command, and that its free heap came back.

Two kinds cannot be answered, by design, and are checked for silence instead:
- a topic the firmware is not subscribed to (`gpio/5/x/set`): the broker never delivers it;
- a topic that is not UTF-8 (sent by a raw client, paho will not): MQTT 3.1.1 section
  1.5.3 makes the broker drop the sender, so it never reaches the firmware.
"""

from __future__ import annotations

import ast
import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass

from campaigns.model import Context, Result

NAME = "hostile_mqtt"
SUMMARY = ("hostile MQTT commands (junk, non-ASCII, 10 KB, flash pins, wrong JSON, retained junk): "
           "each refused by an error event, the firmware stays online and keeps its heap")

SEED = 11
GOOD_PIN = 5
ECHO = 64           # bytes of topic and payload an error event echoes (messages.text)
HEAP_KEPT = 0.9     # free heap after / before
ANSWER_S_PER_CASE = 0.05  # added to mqtt_timeout when waiting for all the answers
WINDOW = 64         # hostile commands sent and not yet answered, at most
VALID_ACTIONS = {b"0", b"1", b"on", b"off", b"toggle"}
# Non-ASCII code points: Latin-1, Greek, Cyrillic, Arabic-Indic, Devanagari and fullwidth
# digits, circled numbers, emoji (4 bytes in UTF-8). No surrogates, controls or '/+#'.
NON_ASCII = [(0xA1, 0x2FF), (0x370, 0x3FF), (0x400, 0x4FF), (0x660, 0x669), (0x966, 0x96F),
             (0xFF10, 0xFF19), (0x2460, 0x2473), (0x1F600, 0x1F64F)]
WRONG_JSON = ({"pin": 5, "value": 1}, [1], True, False, None, 1.5, "on", {"state": "on"}, -1, 2, 1e3, "", [])
ODD_PINS = ("", "-1", "0x5", "5.0", "1e3", "five", "99", "17", "６", "5 5")


@dataclass
class Case:
    kind: str
    topic: str | bytes   # bytes only for the raw (non-UTF-8) kind
    payload: bytes
    qos: int = 1
    retain: bool = False
    answer: dict | None = None  # the error event matched to it

    @property
    def topic_bytes(self) -> bytes:
        return self.topic if isinstance(self.topic, bytes) else self.topic.encode()


@dataclass(frozen=True)
class Kind:
    name: str
    reasons: frozenset  # the error reasons the firmware may give; empty: it must stay silent
    why_silent: str = ""


KINDS = (
    Kind("random bytes", frozenset({"bad payload"})),
    Kind("non-ASCII pin", frozenset({"bad pin"})),
    Kind("non-ASCII payload", frozenset({"bad payload"})),
    Kind("10 KB payload", frozenset({"too large"})),
    Kind("8 KB topic", frozenset({"too large"})),
    Kind("flash pin", frozenset({"pin not allowed"})),
    Kind("odd pin", frozenset({"bad pin", "pin not allowed"})),
    Kind("wrong JSON type", frozenset({"bad payload"})),
    Kind("retained junk", frozenset({"bad payload", "too large", "bad pin"})),
    Kind("unsubscribed topic", frozenset(), "not subscribed: the broker never delivers it"),
    Kind("non-UTF-8 topic", frozenset(), "malformed: the broker drops the sender (MQTT 3.1.1 1.5.3)"),
)


def _non_ascii(rng: random.Random, count: int) -> str:
    chars = []
    for _ in range(count):
        low, high = rng.choice(NON_ASCII)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


def _junk(rng: random.Random, low: int = 0, high: int = 64) -> bytes:
    while True:
        data = rng.randbytes(rng.randint(low, high))
        if data.strip().lower() not in VALID_ACTIONS:
            return data


def make_case(kind: str, rng: random.Random, base: str) -> Case:
    good = f"{base}/gpio/{GOOD_PIN}/set"
    if kind == "random bytes":
        return Case(kind, good, _junk(rng), qos=rng.randint(0, 1))
    if kind == "non-ASCII pin":
        return Case(kind, f"{base}/gpio/{_non_ascii(rng, rng.randint(1, 4))}/set", b"1")
    if kind == "non-ASCII payload":
        return Case(kind, good, _non_ascii(rng, rng.randint(1, 40)).encode(), qos=rng.randint(0, 1))
    if kind == "10 KB payload":
        return Case(kind, good, _junk(rng, 6 * 1024, 12 * 1024))
    if kind == "8 KB topic":
        return Case(kind, f"{base}/gpio/{'9' * rng.randint(7000, 8000)}/set", b"1")
    if kind == "flash pin":
        return Case(kind, f"{base}/gpio/{rng.randint(6, 11)}/set", rng.choice(sorted(VALID_ACTIONS)))
    if kind == "odd pin":
        return Case(kind, f"{base}/gpio/{rng.choice(ODD_PINS)}/set", b"1")
    if kind == "wrong JSON type":
        return Case(kind, good, json.dumps(rng.choice(WRONG_JSON)).encode(), qos=rng.randint(0, 1))
    if kind == "retained junk":
        payload = _junk(rng, 1) if rng.random() < 0.8 else _junk(rng, 10 * 1024, 10 * 1024)
        return Case(kind, rng.choice((good, f"{base}/gpio/x/set")), payload, retain=True)
    if kind == "unsubscribed topic":
        suffix = rng.choice((f"gpio/{GOOD_PIN}/x/set", "gpio/set", f"gpio/{GOOD_PIN}/set/x"))
        return Case(kind, f"{base}/{suffix}", b"1")
    if kind == "non-UTF-8 topic":
        return Case(kind, f"{base}/gpio/".encode() + bytes([rng.randint(0x80, 0xFF)]) + b"\xfe/set", b"1", qos=0)
    raise ValueError(kind)


def plan(count: int, rng: random.Random, base: str) -> list[Case]:
    """`count` cases, the kinds in equal shares, in a shuffled order."""
    kinds = [KINDS[i % len(KINDS)].name for i in range(count)]
    rng.shuffle(kinds)
    return [make_case(kind, rng, base) for kind in kinds]


def echoes(text: str, raw: bytes) -> bool:
    """Whether an error event's echo `text` is what the firmware makes of `raw`: its first
    64 bytes as UTF-8 (a character cut at the limit left out), else their repr."""
    head = raw[:ECHO]
    if text[:2] in ("b'", 'b"'):
        try:
            if ast.literal_eval(text) == head:
                return True
        except (ValueError, SyntaxError):
            pass
    got = text.encode("utf-8", "surrogatepass")
    cut = len(head) - len(got)
    return head.startswith(got) and (cut == 0 or (len(raw) > ECHO and 0 < cut <= 3))


def match_answers(cases: list[Case], events: list[dict]) -> list[dict]:
    """Give each error event to the first unanswered case it echoes; returns the leftovers."""
    leftovers = []
    for event in events:
        for case in cases:
            if (case.answer is None and echoes(event.get("topic", ""), case.topic_bytes)
                    and echoes(event.get("payload", ""), case.payload)):
                case.answer = event
                break
        else:
            leftovers.append(event)
    return leftovers


def raw_publish(host: str, port: int, client_id: str, topic: bytes, payload: bytes) -> None:
    """A QoS 0 PUBLISH with any topic bytes, from a minimal client of our own."""
    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    connect = field(b"MQTT") + bytes([4, 2, 0, 30]) + field(client_id.encode())
    publish = field(topic) + payload
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(bytes([0x10, len(connect)]) + connect)
        if sock.recv(4)[:1] != b"\x20":
            raise ConnectionError("no CONNACK for the raw client")
        sock.sendall(bytes([0x30, len(publish)]) + publish)
        try:
            sock.sendall(b"\xe0\x00")
        except OSError:  # the broker has already dropped us, as it should
            pass


def send(rig, case: Case, index: int) -> None:
    if isinstance(case.topic, bytes):
        raw_publish(rig.broker.host, rig.broker.port, f"hostile-raw-{index}", case.topic, case.payload)
    else:
        rig.mqtt.publish(case.topic, case.payload, qos=case.qos, retain=case.retain)


def run(ctx: Context) -> Result:
    from campaigns.rig import deployed_rig

    result = Result(name=NAME)
    rng = random.Random(SEED)
    with deployed_rig(ctx, name="hostile") as rig:
        before = rig.telemetry()
        cases = plan(ctx.cases(1000, 60), rng, rig.base)
        started = time.monotonic()
        sent: list[Case] = []

        def errors() -> list:
            return rig.broker.messages.matching(rig.topic("error"), since=started)

        expected = 0
        for index, case in enumerate(cases):
            if ctx.out_of_time():
                result.not_reached = len(cases) - index
                break
            if expected - len(errors()) >= WINDOW:
                _wait_answers(rig, errors, expected - WINDOW // 2, rig.settings.mqtt_timeout)
            send(rig, case, index)
            sent.append(case)
            expected += bool(_kind(case).reasons)
        answerable = [case for case in sent if _kind(case).reasons]
        if not _wait_answers(rig, errors, len(answerable),
                             rig.settings.mqtt_timeout + ANSWER_S_PER_CASE * len(sent)):
            result.fail("not every hostile command was answered in time (see the rows)")
        after = rig.telemetry()  # the first after the last answer: any late one has come too
        leftovers = match_answers(sent, [json.loads(m.payload) for m in errors()])
        executed = rig.broker.messages.matching(f"{rig.base}/gpio/+/state", since=started)
        alive = _valid_command_answered(rig)
        reconnects = after["reconnects"] - before["reconnects"]
        onlines = rig.onlines()
        console = rig.console_tail()

    _rows(result, sent)
    ratio = round(after["heap_free"] / before["heap_free"], 3)
    result.figures.update(sent=len(sent), answered=sum(case.answer is not None for case in sent),
                          answerable=len(answerable), reconnects=reconnects, heap_before=before["heap_free"],
                          heap_after=after["heap_free"], heap_ratio=ratio, executed=len(executed),
                          unmatched=len(leftovers), seed=SEED)
    if leftovers:
        result.fail(f"{len(leftovers)} error events match no command sent, e.g. {leftovers[0]}")
    if executed:
        result.fail(f"{len(executed)} hostile commands moved a pin, e.g. {executed[0].topic}")
    if reconnects or onlines != 1:
        result.fail(f"the firmware lost its session: reconnects {reconnects}, online {onlines} times; "
                    f"console: {console[-300:]!r}")
    if ratio < HEAP_KEPT:
        result.fail(f"free heap {after['heap_free']} B after, {before['heap_free']} B before: "
                    f"{ratio:.0%} < {HEAP_KEPT:.0%}")
    if not alive:
        result.fail(f"a valid command was not answered afterwards; console: {console[-300:]!r}")
    return result


def _wait_answers(rig, errors, count: int, timeout: float) -> bool:
    """Until `count` error events are in; False at the deadline (the rows then name every
    unanswered command)."""
    from nodemcu_hil.errors import WaitTimeout

    log, seen = rig.broker.messages, [-1, False]

    def enough(_message) -> bool:  # counted once per change of the log, not per message
        if seen[0] != len(log):
            seen[:] = [len(log), len(errors()) >= count]
        return seen[1]

    try:
        log.wait_for(rig.topic("error"), enough, timeout=timeout, what=f"{count} error events")
        return True
    except WaitTimeout:
        return False


def _kind(case: Case) -> Kind:
    return next(kind for kind in KINDS if kind.name == case.kind)


def _valid_command_answered(rig) -> bool:
    from nodemcu_hil.errors import WaitTimeout

    since = time.monotonic()
    rig.mqtt.publish(rig.topic(f"gpio/{GOOD_PIN}/set"), b"toggle")
    try:
        rig.broker.messages.wait_for(rig.topic(f"gpio/{GOOD_PIN}/state"), since=since,
                                     timeout=rig.settings.mqtt_timeout, what="state after a valid command")
        return True
    except WaitTimeout:
        return False


def _rows(result: Result, sent: list[Case]) -> None:
    for kind in KINDS:
        mine = [case for case in sent if case.kind == kind.name]
        answered = [case for case in mine if case.answer is not None]
        reasons = Counter(case.answer.get("error") for case in answered)
        result.rows.append({"kind": kind.name, "sent": len(mine), "answered": len(answered),
                            "expected": "all" if kind.reasons else "none",
                            "reasons": ", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "-",
                            "why silent": kind.why_silent or "-"})
        if kind.reasons and len(answered) < len(mine):
            missing = next(case for case in mine if case.answer is None)
            result.fail(f"{kind.name}: {len(mine) - len(answered)} of {len(mine)} unanswered, e.g. "
                        f"{missing.topic[:80]!r} {missing.payload[:40]!r}")
        if not kind.reasons and answered:
            result.fail(f"{kind.name}: {len(answered)} answered, though the firmware cannot see them")
        wrong = sorted(set(reasons) - kind.reasons, key=str)
        if wrong:
            result.fail(f"{kind.name}: refused as {wrong}, expected {sorted(kind.reasons)}")
