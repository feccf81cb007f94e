"""The firmware's MQTT service loop and Wi-Fi wait, under the real MicroPython unix port.

The network side is a scripted stand-in for umqtt.simple2 and the WLAN interface (their
real versions are exercised end to end on the virtual board); what is under test here is
the firmware's own decisions: reconnect with backoff, keepalive, buffering, error events.
"""

from __future__ import annotations

import json

from tests.test_firmware_logic import FIRMWARE, pytestmark, run_mpy  # noqa: F401  (skip marker reused)

PRELUDE = """
import time, json
import service
log = []
class Sta:
    up = True
    def isconnected(self): return self.up
    def status(self, what=None): return -60 if what == 'rssi' else 5
class Client:
    fail_connects = 0
    answer_pings = True
    ack = True
    made = 0
    def __init__(self, keepalive, timeout):
        Client.made += 1
        self.keepalive = keepalive; self.pid = 0; self.last_cpacket = time.ticks_ms(); self.sock = self
        self.unacked = []
    def set_callback(self, f): self.cb = f
    def set_callback_status(self, f): self.cbstat = f
    def set_last_will(self, topic, msg, retain=False, qos=0): log.append(('will', topic, msg, retain, qos))
    def connect(self):
        if Client.fail_connects:
            Client.fail_connects -= 1
            raise OSError(111)
        self.last_cpacket = time.ticks_ms()
    def publish(self, topic, msg, retain=False, qos=0):
        self.pid += 1
        log.append(('pub', topic, msg, retain, qos))
        if qos: self.unacked.append(self.pid)
        return self.pid
    def subscribe(self, topic, qos=0): log.append(('sub', topic, qos))
    def check_msg(self):  # PUBACKs arrive on a later poll, as from a real broker
        if Client.ack:
            while self.unacked: self.cbstat(self.unacked.pop(0), 1)
    def ping(self):
        log.append(('ping',))
        if Client.answer_pings: self.last_cpacket = time.ticks_ms()
    def close(self): log.append(('close',))
sta = Sta()
clients = []
def make_client(k, t):
    c = Client(k, t); clients.append(c); return c
CFG = {'topic_prefix': 'hil', 'gpio_allow': [2], 'keepalive_s': 1, 'telemetry_s': 1,
       'backoff_base_ms': 100, 'backoff_cap_ms': 400, 'outbox_limit': 4}
class Pin:
    def __init__(self, n): self.v = 0
    def value(self, v=None):
        if v is None: return self.v
        self.v = v
svc = service.Service(CFG, 'cafe', make_client, Pin, sta, lambda: None, '9.9')
def until(ms, cond=lambda s: False):
    t0 = time.ticks_ms()
    svc.run(lambda s: cond(s) or time.ticks_diff(time.ticks_ms(), t0) > ms)
def pubs(suffix):
    return [e for e in log if e[0] == 'pub' and e[1].endswith(suffix)]
"""


def test_connect_sets_retained_will_publishes_online_and_subscribes():
    out = run_mpy(PRELUDE + """
until(300, lambda s: s.client is not None and pubs('telemetry'))
print(json.dumps(log[:4]))
""")
    will, online, sub, tele = json.loads(out.splitlines()[-1])
    assert will == ["will", "hil/cafe/status", "offline", True, 1]
    assert online == ["pub", "hil/cafe/status", "online", True, 1]
    assert sub == ["sub", "hil/cafe/gpio/+/set", 1]
    assert tele[:2] == ["pub", "hil/cafe/telemetry"] and tele[4] == 1
    body = json.loads(tele[2])
    assert body["version"] == "9.9" and body["rssi"] == -60 and body["reconnects"] == 0
    assert body["heap_free"] > 0


def test_refused_connects_back_off_with_growing_delays():
    out = run_mpy(PRELUDE + """
Client.fail_connects = 3
t0 = time.ticks_ms()
until(3000, lambda s: s.client is not None)
print(Client.made, time.ticks_diff(time.ticks_ms(), t0), svc.backoff.attempt, svc.reconnects)
""")
    made, elapsed, attempt, reconnects = map(int, out.split()[-4:])
    assert made == 4
    assert 50 + 100 + 200 <= elapsed < 2500   # three backoff waits of >= half their ceiling
    assert attempt == 0 and reconnects == 0    # reset after success; a first connect is not a reconnect


def test_silent_broker_is_detected_by_keepalive_and_reconnected():
    out = run_mpy(PRELUDE + """
until(300, lambda s: s.client is not None)
Client.answer_pings = False
t0 = time.ticks_ms()
until(4000, lambda s: len(clients) > 1)
print(len(clients), svc.reconnects, time.ticks_diff(time.ticks_ms(), t0), len([e for e in log if e[0] == 'ping']))
""")
    made, reconnects, elapsed, pings = map(int, out.split()[-4:])
    assert made == 2 and reconnects == 1
    assert 900 <= elapsed < 3000 and pings >= 1


def test_telemetry_buffered_while_wifi_down_is_delivered_after_reconnect():
    out = run_mpy(PRELUDE + """
until(300, lambda s: s.client is not None and pubs('telemetry'))
sta.up = False
until(2600)
queued = len(svc.outbox)
before = len(pubs('telemetry'))
sta.up = True
until(1500, lambda s: s.client is not None and not len(s.outbox))
print(queued, before, len(pubs('telemetry')), svc.reconnects, len(svc.outbox))
""")
    queued, before, after, reconnects, left = map(int, out.split()[-5:])
    assert queued >= 2 and before == 1
    assert after >= before + queued and reconnects == 1 and left == 0


def test_the_session_comes_back_as_soon_as_wifi_is_back():
    """After a Wi-Fi loss the firmware reconnects within a loop turn or two of the join
    completing, not at the next of a slower fixed re-check (one run of the loop throughout:
    its retry timer lives in run())."""
    out = run_mpy(PRELUDE + """
until(300, lambda s: s.client is not None)
sta.up = False
t0 = time.ticks_ms()
back = []
def script(s):
    t = time.ticks_diff(time.ticks_ms(), t0)
    if not back and t >= 700:
        sta.up = True
        back.append(time.ticks_ms())
    return (back and s.client is not None) or t > 4000
until(5000, script)
print(len(clients), time.ticks_diff(time.ticks_ms(), back[0]))
""")
    made, elapsed = map(int, out.split()[-2:])
    assert made == 2 and elapsed < 300, f"reconnected {elapsed} ms after the Wi-Fi came back"


def test_unacked_qos1_stays_bounded_and_is_resent():
    out = run_mpy(PRELUDE + """
Client.ack = False
until(300, lambda s: s.client is not None and pubs('telemetry'))
svc.drop('test')
print('R', len(svc.outbox.queue), len(svc.outbox.inflight))
Client.ack = True
until(1000, lambda s: s.client is not None and not len(s.outbox))
print('S', len(pubs('telemetry')), len(svc.outbox))
""")
    marked = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:2] in ('R ', 'S ')}
    requeued, inflight = map(int, marked['R'])
    sent, left = map(int, marked['S'])
    assert requeued >= 1 and inflight == 0 and sent >= 2 and left == 0


def test_gpio_commands_answer_state_or_error_never_crash():
    out = run_mpy(PRELUDE + """
until(300, lambda s: s.client is not None)
for topic, payload in (('hil/cafe/gpio/2/set', b'1'), ('hil/cafe/gpio/2/set', b'toggle'),
                       ('hil/cafe/gpio/6/set', b'1'), ('hil/cafe/gpio/2/set', b'maybe'),
                       ('hil/cafe/gpio/zz/set', b'1'), ('hil/other/gpio/2/set', b'1')):
    svc.on_message(topic.encode(), payload, False, False)
until(200)
print(json.dumps(pubs('state') + pubs('error')))
""")
    events = json.loads(out.splitlines()[-1])
    assert [e[1:4] for e in events[:2]] == [["hil/cafe/gpio/2/state", "1", True],
                                             ["hil/cafe/gpio/2/state", "0", True]]
    errors = [json.loads(e[2])["error"] for e in events[2:]]
    assert errors == ["pin not allowed", "bad payload", "bad pin"]
    assert all(e[1] == "hil/cafe/error" for e in events[2:])


WIFI_PRELUDE = """
import time, app
class Sta:
    def __init__(self, status, up_after_ms):
        self.s = status; self.t0 = time.ticks_ms(); self.after = up_after_ms
    def isconnected(self):
        return self.after is not None and time.ticks_diff(time.ticks_ms(), self.t0) >= self.after
    def status(self): return 5 if self.isconnected() else self.s
def timed(sta, timeout):
    t0 = time.ticks_ms()
    ok = app.wait_wifi(sta, timeout, poll_ms=10)
    return ok, time.ticks_diff(time.ticks_ms(), t0)
"""


def test_wifi_wait_returns_when_joined():
    out = run_mpy(WIFI_PRELUDE + "print(*timed(Sta(1, 150), 2000))")
    ok, elapsed = out.split()
    assert ok == "True" and 150 <= int(elapsed) < 1000


def test_wifi_wait_gives_up_at_the_deadline():
    out = run_mpy(WIFI_PRELUDE + "print(*timed(Sta(1, None), 300))")
    ok, elapsed = out.split()
    assert ok == "False" and 300 <= int(elapsed) < 1000


def test_wifi_wait_stops_at_once_on_a_wrong_password():
    out = run_mpy(WIFI_PRELUDE + "print(*timed(Sta(2, None), 5000))")
    ok, elapsed = out.split()
    assert ok == "False" and int(elapsed) < 200


def test_firmware_modules_fit_an_esp8266_sized_heap():
    # 38 KiB on the chip; objects are about twice as big on a 64-bit host, hence 38wK.
    out = run_mpy(PRELUDE + """
import gc, app, gpiocmd, backoff, outbox, messages
until(300, lambda s: pubs('telemetry'))
gc.collect()
print(gc.mem_free())
""", heap="38wK")
    assert int(out.split()[-1]) > 20000


def test_a_command_flood_is_served_in_bounded_turns_with_due_telemetry_first():
    out = run_mpy(PRELUDE + """
inbox = []
acks = Client.check_msg
def flood(self):  # every poll brings the next command as well as the PUBACKs due
    acks(self)
    if inbox:
        self.cb(b'hil/cafe/gpio/2/set', inbox.pop(0), False, False)
Client.check_msg = flood
until(300, lambda s: s.client is not None and pubs('telemetry'))
until(200, lambda s: not len(s.outbox))
inbox.extend([b'toggle'] * 100)
mark = len(log)
svc.telemetry()
busy = svc.service(time.ticks_ms())
turn = [e[1].rsplit('/', 1)[-1] for e in log[mark:]]
print(json.dumps([busy, len(inbox), turn, len(svc.replies)]))
until(3000, lambda s: not inbox)
print(len(inbox), len(pubs('state')))
""")
    lines = out.splitlines()
    busy, left, turn, replies = json.loads(lines[-2])
    import re
    per_turn = int(re.search(r"TURN_PACKETS = (\d+)", (FIRMWARE / "service.py").read_text()).group(1))
    assert busy and left == 100 - per_turn and replies == 0
    assert turn == ["telemetry"] + ["state"] * per_turn, "telemetry due must go out before the commands"
    assert lines[-1].split() == ["0", "100"]


def test_a_missing_puback_reconnects_and_resends_instead_of_duplicating_on_the_link():
    out = run_mpy(PRELUDE + """
Client.ack = False
until(300, lambda s: s.client is not None and pubs('telemetry'))
pid = sorted(svc.outbox.inflight)[0]
body = svc.outbox.inflight[pid][1]
svc.on_status(pid, 0)   # umqtt.simple2's message_timeout ran out for it
until(2000, lambda s: len(clients) > 1)
Client.ack = True       # the new link works
until(1000, lambda s: not len(s.outbox))
again = [i for i, e in enumerate(log) if e[0] == 'pub' and e[2] == body]
wills = [i for i, e in enumerate(log) if e[0] == 'will']
will = wills[1] if len(wills) > 1 else len(log)
print(json.dumps([len(clients), svc.reconnects, [i >= will for i in again]]))
""")
    made, reconnects, after_reconnect = json.loads(out.splitlines()[-1])
    assert made == 2 and reconnects == 1
    assert after_reconnect == [False, True], "resent on the same link, or not resent at all"
