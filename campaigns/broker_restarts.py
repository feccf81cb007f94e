"""Broker restarts with QoS 1 telemetry flowing: no telemetry lost, duplicates counted.

One board sends telemetry every second (QoS 1, each with its `seq`). The broker is
restarted in a cycle of four: twice right after a telemetry message arrived, once after
that and after the firmware has failed to reconnect once (seen on its console), so that
telemetry piles up in the outbox, and once more as soon as the firmware is back online,
while it is still sending that backlog, so that messages are in flight when the broker
goes. Each outage stays within the outbox's bound (8 messages, 8 s here), so not one
`seq` may be missing at the broker afterwards; messages sent again after a PUBACK lost
with the link arrive twice, which QoS 1 allows: those are counted and reported, per kind
of outage.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from campaigns.model import Context, Result

NAME = "broker_restarts"
SUMMARY = ("broker restarts with QoS 1 telemetry flowing: no telemetry seq lost within the outbox bound, "
           "duplicates counted")

TELEMETRY_S = 1
IMMEDIATE, AFTER_RETRY, BACKLOG = "immediate", "after a failed reconnect", "while sending the backlog"
CYCLE = (IMMEDIATE, IMMEDIATE, AFTER_RETRY, BACKLOG)
RETRY_LINE = r"mqtt: retry in \d+ ms"
BACKOFF_CAP_S = 30  # the firmware's default backoff cap: the longest it may take to retry


def run(ctx: Context) -> Result:
    from campaigns.rig import deployed_rig
    from nodemcu_hil.errors import HilError

    result = Result(name=NAME)
    restarts: list[tuple[float, str, float]] = []  # (stopped at, kind, seconds until online again)
    count = ctx.cases(100, 5)
    # no paho subscriber: the broker's own log counts, and amqtt cannot stop while a
    # QoS 1 delivery to a subscriber is in flight (see campaigns/rig.py)
    with deployed_rig(ctx, {"telemetry_period": TELEMETRY_S}, name="restarts", observe=False) as rig:
        rig.telemetry()
        for index in range(count):
            if ctx.out_of_time():
                result.not_reached = count - index
                break
            kind = CYCLE[index % len(CYCLE)]
            try:
                restarts.append(_restart(rig, kind))
            except HilError as exc:
                result.fail(f"restart {index + 1} ({kind}): the firmware did not come back: {exc}; "
                            f"console: {rig.console_tail(300)!r}")
                break
        try:  # two more: in-order sending means everything made before has arrived by then
            rig.broker.start()
            rig.telemetry(rig.telemetry()["at"] + 1e-6)
        except HilError as exc:
            result.fail(f"no telemetry after the last restart: {exc}")
        telemetry = rig.telemetry_since_boot()
        onlines = rig.onlines()

    _count(result, restarts, telemetry)
    if onlines != len(restarts) + 1:
        result.fail(f"{onlines} online statuses for {len(restarts)} restarts: reconnects the restarts do not explain")
    return result


def _restart(rig, kind: str) -> tuple[float, str, float]:
    """Stop the broker (right after a telemetry message, unless the backlog is what is to
    be hit), start it again, wait for online."""
    if kind == BACKLOG:  # at its first message, not before: amqtt cannot stop mid-handshake
        rig.telemetry(_online(rig, 0.0)[-1].at)
    else:
        rig.telemetry()
    stopped = time.monotonic()
    mark = rig.board.console.mark()
    rig.broker.stop()
    if kind == AFTER_RETRY:
        rig.board.console.expect(RETRY_LINE, since=mark, timeout=BACKOFF_CAP_S + rig.settings.mqtt_timeout,
                                 what="a failed reconnect while the broker is down")
    rig.broker.start()
    online = rig.broker.messages.wait_for(rig.topic("status"), _is_online, since=stopped,
                                          timeout=BACKOFF_CAP_S + rig.settings.mqtt_timeout,
                                          what="online after the broker restart")
    return stopped, kind, round(online.at - stopped, 2)


def _is_online(message) -> bool:
    return message.payload == b"online" and not message.will


def _online(rig, since: float) -> list:
    return rig.broker.messages.matching(rig.topic("status"), _is_online, since=since)


def _count(result: Result, restarts: list[tuple[float, str, float]], telemetry: list[dict]) -> None:
    arrivals = defaultdict(list)
    for message in telemetry:
        arrivals[message["seq"]].append(message["at"])
    made = max(arrivals, default=0)
    lost = sorted(set(range(1, made + 1)) - set(arrivals))
    duplicates = {seq: len(times) - 1 for seq, times in arrivals.items() if len(times) > 1}

    def window(at: float) -> str | None:  # the kind of the latest restart before `at`
        kinds = [kind for stopped, kind, _ in restarts if stopped <= at]
        return kinds[-1] if kinds else None

    lost_in, dup_in = Counter(), Counter()
    for seq in lost:
        after = min((s for s in arrivals if s > seq), default=None)
        lost_in[window(min(arrivals[after])) if after else None] += 1
    for seq, times in arrivals.items():
        for at in sorted(times)[1:]:
            dup_in[window(at)] += 1
    for kind in CYCLE[1:]:
        mine = [seconds for _, k, seconds in restarts if k == kind]
        result.rows.append({"outage": kind, "restarts": len(mine),
                            "online again after s (max)": max(mine, default="-"),
                            "lost": lost_in[kind], "duplicates": dup_in[kind]})
    result.figures.update(restarts=len(restarts), telemetry_sent=made, received=len(telemetry), lost=len(lost),
                          duplicates=sum(duplicates.values()),
                          dropped=telemetry[-1]["dropped"] if telemetry else 0,
                          worst_online_s=max((s for *_, s in restarts), default=0.0))
    if lost:
        result.fail(f"{len(lost)} telemetry messages lost within the outbox bound: seq {lost[:20]}")
