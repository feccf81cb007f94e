"""The swimlane picture of a test's timeline: lanes, marks, bands, hover text, no secrets,
well-formed, nothing fetched; and the HTML report carries it beside the text timeline."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest

from nodemcu_hil.report_lanes import DOWN, UP, mqtt_parts, picture
from nodemcu_hil.report_redaction import masker
from nodemcu_hil.report_svg import render
from nodemcu_hil.timeline import Event
from tests.report_html import all_external_references, external_references, html_extras
from tests.test_reporting import rig_project  # noqa: F401  (the fixture)

pytest_plugins = ["pytester"]

SVG = "{http://www.w3.org/2000/svg}"
SECRET = "Svg-Only-Secret-5a9e"  # remembered secrets are process-wide: one no other test uses

RECONNECT = [
    Event(0.10, "harness", "vnode-gw0", "soft reset (CTRL-D)"),
    Event(0.12, "console", "vnode-gw0", "MPY: soft reboot"),
    Event(0.30, "console", "vnode-gw0", "mqtt: connected as hil/gw0/ab12 (reconnects 0)"),
    Event(0.31, "mqtt", "ab12", "hil/gw0/ab12/status online [qos1, retained]"),
    Event(0.50, "mqtt", "hil-test-gw0", "hil/gw0/ab12/gpio/4/set on [qos1]"),
    Event(1.00, "harness", "vnode-gw0", "world: Wi-Fi link down"),
    Event(1.01, "console", "vnode-gw0", "mqtt: link lost (LinkLost('wifi down',))"),
    Event(1.02, "mqtt", "ab12", "hil/gw0/ab12/status offline [qos1, retained, will]"),
    Event(1.50, "harness", "vnode-gw0", "world: Wi-Fi link up"),
    Event(2.51, "console", "vnode-gw0", "mqtt: connected as hil/gw0/ab12 (reconnects 1)"),
    Event(2.60, "harness", "broker", "broker: kick ab12"),
    Event(2.70, "console", "vnode-gw0", "Traceback (most recent call last): <oops> & \"quotes\""),
    Event(2.80, "mqtt", "ab12", "hil/gw0/ab12/error {\"error\": \"bad pin\"} [qos1]"),
]


def _svg(events, **kwargs) -> ET.Element:
    markup = render(events, 0.0, **kwargs)
    return ET.fromstring(markup)  # well-formed XML, whatever the lines held


def _groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def _title(element: ET.Element) -> str:
    return element.find(f"{SVG}title").text or ""


def test_lanes_by_source_direction_and_topic():
    shown = picture(RECONNECT, 0.0, lambda text: text)
    assert shown.lanes == ["harness vnode-gw0", "world vnode-gw0", "broker", "console vnode-gw0",
                           f"MQTT {UP} hil/gw0/ab12/status", f"MQTT {UP} hil/gw0/ab12/error",
                           f"MQTT {DOWN} hil/gw0/ab12/gpio/4/set"]
    assert mqtt_parts(RECONNECT[4])[1] == DOWN and mqtt_parts(RECONNECT[3])[1] == UP


def test_marks_resets_outages_and_reconnect_gaps_are_drawn_with_the_line_as_hover_text():
    root = _svg(RECONNECT, phases={"call": 0.4})
    assert root.get("data-events") == str(len(RECONNECT))
    assert [_title(g) for g in _groups(root, "will")] == ["1.020 s mqtt ab12: hil/gw0/ab12/status offline "
                                                          "[qos1, retained, will]"]
    errors = [_title(g) for g in _groups(root, "error")]
    assert any(t.startswith("2.700 s console vnode-gw0: Traceback") and "<oops> & \"quotes\"" in t for t in errors)
    assert any("hil/gw0/ab12/error" in t for t in errors)
    assert [_title(g) for g in _groups(root, "drop")] == ["2.600 s harness broker: broker: kick ab12"]
    assert len(_groups(root, "reset")) >= 1
    assert [_title(g) for g in _groups(root, "outage")] == ["Wi-Fi link down"]
    assert [_title(g) for g in _groups(root, "gap")] == ["reconnect gap 1.50 s"]
    assert [t.text for g in _groups(root, "phase") for t in g.iter(f"{SVG}text")] == ["call"]
    ticks = _groups(root, "ev")
    assert sum(int(g.get("data-n")) for g in ticks) == len(RECONNECT)


def test_a_gap_that_never_closes_and_dense_events_share_ticks():
    lost = [Event(0.0, "console", "b", "mqtt: link lost (OSError(113,))")]
    dense = [Event(1.0, "console", "b", f"line {i}") for i in range(50)]
    root = _svg(lost + dense)
    assert [_title(g) for g in _groups(root, "gap")] == ["no reconnect"]
    shared = [g for g in _groups(root, "ev") if g.get("data-n") == "50"]
    assert len(shared) == 1 and _title(shared[0]).endswith("... and 38 more")


def test_secrets_are_masked_and_nothing_is_fetched():
    events = [Event(0.0, "console", f"board-{SECRET}", f"joining with {SECRET}"),
              Event(0.5, "mqtt", "ab12", f"hil/{SECRET}/status online [qos0]")]
    markup = render(events, 0.0, masker([SECRET]), title=f"test of {SECRET}")
    assert SECRET not in markup and "joining with ***" in markup
    assert external_references(markup) == []
    assert "<script" not in markup and "@import" not in markup and "url(" not in markup


def test_nothing_to_draw():
    assert render([], 0.0) == ""


def test_external_reference_check_can_fail():
    assert external_references('<img src="https://x.example/a.png"><div style="background:url(//x/y)">'
                               '<svg><image href="http://x/z"/></svg><a href="https://docs">doc</a>') == \
        ["https://x.example/a.png", "//x/y", "http://x/z"]
    assert external_references('<img src="data:image/png;base64,AA"><svg><use href="#m"/></svg>') == []


REPORT_TESTS = """
    import os

    def test_reconnects(board):
        timeline, log = board
        secret = os.environ["HIL_WIFI_PASSWORD"]
        timeline.add("console", "nodemcu-a", f"joining hil-test-ap with {secret}")
        timeline.action("nodemcu-a", "world: Wi-Fi link down")
        timeline.add("console", "nodemcu-a", "mqtt: link lost (LinkLost('wifi down',))")
        timeline.action("nodemcu-a", "world: Wi-Fi link up")
        timeline.add("console", "nodemcu-a", "mqtt: connected as hil/nodemcu-a (reconnects 1)")
"""


def test_the_html_report_carries_the_picture_beside_the_text_timeline(rig_project, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HIL_WIFI_PASSWORD", SECRET)
    rig_project.makepyfile(test_rig=textwrap.dedent(REPORT_TESTS))
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    report = rig_project.path / "reports" / "report.html"
    (extra,) = html_extras(report)["test_rig.py::test_reconnects"]
    assert SECRET not in report.read_text() and SECRET not in extra
    root = ET.fromstring(extra[extra.index("<svg"):extra.index("</svg>") + 6])
    assert [_title(g).split()[:2] for g in _groups(root, "gap")] == [["reconnect", "gap"]]
    assert [_title(g) for g in _groups(root, "outage")] == ["Wi-Fi link down"]
    assert "<details><summary>timeline as text" in extra and "joining hil-test-ap with ***" in extra
    assert all_external_references(report) == []


@pytest.mark.parametrize("secret_in", ["text", "lane"])
def test_masking_happens_before_escaping(secret_in):
    """A secret with markup characters is masked, not escaped into a form the masker misses."""
    secret = "a<b&c\"d-Svg-5a9e"
    text, board = (f"pw {secret}", "b") if secret_in == "text" else ("x", secret)
    markup = render([Event(0.0, "console", board, text)], 0.0, masker([secret]))
    assert "a&lt;b&amp;c" not in markup and "***" in markup


def test_a_window_that_ends_before_the_firmware_says_connected_closes_the_gap_at_its_next_message():
    events = [Event(0.1, "console", "b", "mqtt: connected as x/ab12 (reconnects 0)"),
              Event(0.5, "mqtt", "ab12", "x/ab12/status offline [qos1, retained, will]"),
              Event(0.6, "console", "b", "mqtt: link lost (MQTTException(1,))"),
              Event(1.8, "mqtt", "ab12", "x/ab12/status online [qos1, retained]")]
    assert [_title(g) for g in _groups(_svg(events), "gap")] == ["reconnect gap 1.30 s"]


def test_topics_beyond_the_lane_limit_share_one_lane():
    from nodemcu_hil.report_lanes import MAX_TOPIC_LANES, OTHER_TOPICS

    events = [Event(float(i), "mqtt", "ab12", f"x/ab12/t{i} v [qos0]") for i in range(MAX_TOPIC_LANES + 3)]
    lanes = picture(events, 0.0, lambda text: text).lanes
    assert len(lanes) == MAX_TOPIC_LANES + 1 and lanes[-1] == f"MQTT {UP} {OTHER_TOPICS}"
