"""The firmware's pure logic, run under the real MicroPython unix interpreter (not CPython).

Each test sends a MicroPython snippet to `.venv/bin/micropython` with firmware_under_test/
on its module path; the snippet asserts and prints, the test checks exit code and output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware_under_test"
MICROPYTHON = Path(sys.executable).with_name("micropython")
RUN_TIMEOUT_S = 20

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(),
                                reason=f"MicroPython unix port not installed at {MICROPYTHON} ([sim] extra)")


def run_mpy(code: str, *, heap: str | None = None, path: Path = FIRMWARE) -> str:
    """Run `code` under MicroPython; fail the test with its traceback on a non-zero exit."""
    argv = [str(MICROPYTHON)] + (["-X", f"heapsize={heap}"] if heap else []) + ["-c", code]
    env = dict(os.environ, MICROPYPATH=f"{path}:.frozen")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
    if done.returncode != 0:
        pytest.fail(f"MicroPython exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def test_runs_under_micropython_not_cpython():
    assert run_mpy("import sys; print(sys.implementation.name)").strip() == "micropython"


@pytest.mark.parametrize("payload, action", [
    (b"0", 0), (b"1", 1), (b"on", 1), (b"off", 0), (b"toggle", 2), (b" ON\n", 1), (b"Toggle", 2)])
def test_payloads_accepted(payload, action):
    out = run_mpy(f"import gpiocmd; print(gpiocmd.parse_payload({payload!r}))")
    assert out.strip() == str(action)


@pytest.mark.parametrize("payload", [b"", b"2", b"onn", b"-1", b"\xff\xfe", b"true", b"1 1"])
def test_malformed_payloads_rejected(payload):
    out = run_mpy(f"""
import gpiocmd
try:
    gpiocmd.parse_payload({payload!r})
    print('accepted')
except gpiocmd.CommandError as e:
    print('rejected', e.args[0])
""")
    assert out.strip() == "rejected bad payload"


GPIO_FIXTURE = """
import gpiocmd
made = []
class FakePin:
    def __init__(self, n):
        made.append(n); self.v = 0
    def value(self, v=None):
        if v is None: return self.v
        self.v = v
g = gpiocmd.Gpio([2, 4, 6, 9], FakePin)
def attempt(pin, payload):
    try:
        return g.handle(pin, payload)
    except gpiocmd.CommandError as e:
        return e.args[0]
"""


def test_gpio_set_and_toggle_on_an_allowed_pin():
    out = run_mpy(GPIO_FIXTURE + """
print(attempt('2', b'1'), attempt('2', b'toggle'), attempt('2', b'toggle'), attempt('4', b'on'))
print(made)
""")
    assert out.splitlines() == ["(2, 1) (2, 0) (2, 1) (4, 1)", "[2, 4]"]


def test_gpio_refuses_flash_pins_even_when_allowed_and_pins_off_the_list():
    out = run_mpy(GPIO_FIXTURE + """
for pin in ('6', '9', '11', '5', '16'):
    print(pin, attempt(pin, b'1'))
print(made, g.allow)
""")
    assert out.splitlines() == ["6 pin not allowed", "9 pin not allowed", "11 pin not allowed",
                                "5 pin not allowed", "16 pin not allowed", "[] (2, 4)"]


def test_gpio_malformed_pin_rejected():
    out = run_mpy(GPIO_FIXTURE + "print(attempt('x', b'1'), attempt('-1', b'1'), attempt('', b'1'), made)")
    assert out.strip() == "bad pin bad pin bad pin []"


def test_backoff_grows_with_jitter_within_bounds_and_is_capped():
    out = run_mpy("""
import backoff, json
b = backoff.Backoff(100, 2000)
runs = [[b.next_ms() for _ in range(8)] for _ in range(1) ]
b.reset()
again = [b.next_ms() for _ in range(8)]
print(json.dumps([runs[0], again]))
""")
    first, second = json.loads(out)
    ceilings = [min(2000, 100 * 2 ** n) for n in range(8)]
    for run in (first, second):
        for delay, ceiling in zip(run, ceilings):
            assert ceiling // 2 <= delay <= ceiling
    assert first != second, "two runs of jittered backoff should differ"
    assert max(first) <= 2000 and first[-1] >= 1000


def test_backoff_extremes_of_the_random_source():
    out = run_mpy("""
import backoff
low = backoff.Backoff(1000, 8000, rand=lambda lim: 0)
high = backoff.Backoff(1000, 8000, rand=lambda lim: lim)
print([low.next_ms() for _ in range(5)], [high.next_ms() for _ in range(5)])
""")
    assert out.strip() == "[500, 1000, 2000, 4000, 4000] [1000, 2000, 4000, 8000, 8000]"


def test_outbox_is_bounded_and_drops_the_oldest():
    out = run_mpy("""
import outbox
o = outbox.Outbox(3)
for i in range(5):
    o.add('t', str(i))
print(len(o), o.dropped, [m for _, m in o.queue])
""")
    assert out.strip() == "3 2 ['2', '3', '4']"


def test_outbox_keeps_messages_until_puback_and_resends_after_reconnect():
    out = run_mpy("""
import outbox
o = outbox.Outbox(4)
for i in range(3):
    o.add('t', str(i))
o.sent(10); o.sent(11)
print(len(o), sorted(o.inflight), o.next())
print(o.acked(10), o.acked(10), len(o))
o.requeue()
print([m for _, m in o.queue], o.inflight)
o.sent(13); o.add('t', '3'); o.add('t', '4'); o.add('t', '5')
print(len(o), o.dropped, [m for _, m in o.queue], o.inflight)
""")
    assert out.splitlines() == [
        "3 [10, 11] ('t', '2')",
        "True False 2",
        "['1', '2'] {}",
        "4 1 ['3', '4', '5'] {13: ('t', '1')}",
    ]


def test_outbox_never_drops_what_is_in_flight():
    out = run_mpy("""
import outbox
o = outbox.Outbox(2)
o.add('t', 'a'); o.add('t', 'b'); o.sent(1); o.sent(2)
o.add('t', 'c')
print(len(o), o.dropped, o.queue, sorted(o.inflight))
""")
    assert out.strip() == "2 1 [] [1, 2]"


def test_telemetry_is_json_with_the_required_fields():
    out = run_mpy("import messages; print(messages.telemetry(12, 23456, -61, 2, '0.1.0', 1, 7))")
    assert json.loads(out) == {"uptime_s": 12, "heap_free": 23456, "rssi": -61, "reconnects": 2,
                               "version": "0.1.0", "dropped": 1, "seq": 7}


def test_error_event_is_valid_json_for_any_payload():
    out = run_mpy(r"""
import messages
print(messages.error_event('bad payload', 'p/id/gpio/2/set', b'\xff\xfe'))
print(messages.error_event('pin not allowed', 'p/id/gpio/6/set', b'1'))
print(messages.error_event('bad payload', 't', b'x' * 500))
""")
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0] == {"error": "bad payload", "topic": "p/id/gpio/2/set", "payload": "b'\\xff\\xfe'"}
    assert events[1]["error"] == "pin not allowed" and events[1]["payload"] == "1"
    assert len(events[2]["payload"]) == 64


def test_error_event_is_valid_utf8_json_for_non_ascii_and_cut_characters():
    # Printed as hex, so the check sees the exact bytes the firmware would publish.
    out = run_mpy(r"""
import messages, ubinascii
for topic, payload in ((b'p/id/gpio/\xd9\xa3/set', b'1'), ('p/id/gpio/2/set', b'a' + b'\xc3\xbc' * 40),
                       (b'p/\xff/set', b'\x00"\\'), (b't' * 100, b'x')):
    print(ubinascii.hexlify(messages.error_event('bad', topic, payload, 9).encode()).decode())
""")
    events = [json.loads(bytes.fromhex(line).decode("utf-8")) for line in out.split()]
    assert events[0]["topic"] == "p/id/gpio/\u0663/set"
    assert events[1]["payload"] == "a" + "\u00fc" * 31      # byte 64 is half a character: left out
    assert events[2] == {"error": "bad", "topic": "b'p/\\xff/set'", "payload": '\x00"\\', "size": 9}
    assert events[3]["topic"] == "t" * 64


def test_topics_and_gpio_topic_parsing():
    out = run_mpy("""
import messages
t = messages.Topics('hil', 'a1b2')
print(t.status, t.telemetry, t.error, t.gpio_set, t.gpio_state(2))
print(t.gpio_pin('hil/a1b2/gpio/5/set'), t.gpio_pin('hil/other/gpio/5/set'), t.gpio_pin('hil/a1b2/gpio/5/state'))
""")
    assert out.splitlines() == [
        "hil/a1b2/status hil/a1b2/telemetry hil/a1b2/error hil/a1b2/gpio/+/set hil/a1b2/gpio/2/state",
        "5 None None",
    ]
