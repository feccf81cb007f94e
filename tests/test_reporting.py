"""The reports: one timeline per test with its MQTT messages and boards, and no secrets."""

from __future__ import annotations

import base64
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

from nodemcu_hil.evidence import boards_used, message_event, render_events, window_events
from nodemcu_hil.messages import Message, MessageLog
from nodemcu_hil.timeline import Event, Timeline

pytest_plugins = ["pytester"]

SECRET = "hunter2-Wifi-Pw"
FINGERPRINT = {"mac": "5c:cf:7f:12:34:56", "flash_id": "0x1640ef",
               "micropython_version": "1.24.1", "free_heap": 31200}

RIG_CONFTEST = f"""
    import time
    import pytest
    from nodemcu_hil.messages import Message, MessageLog
    from nodemcu_hil.stash import BROKER_LOG_KEY, FINGERPRINTS_KEY, TIMELINE_KEY
    from nodemcu_hil.timeline import Timeline

    @pytest.fixture(scope="session")
    def rig(pytestconfig):
        timeline = pytestconfig.stash[TIMELINE_KEY] = Timeline()
        log = pytestconfig.stash[BROKER_LOG_KEY] = MessageLog("broker")
        pytestconfig.stash[FINGERPRINTS_KEY] = {{"nodemcu-a": {FINGERPRINT!r}}}
        return timeline, log

    @pytest.fixture
    def board(rig):
        timeline, log = rig
        timeline.action("nodemcu-a", "soft reset before the test")
        yield timeline, log
        timeline.action("nodemcu-a", "soft reset after the test")

    def publish(log, topic, payload, retain=False):
        log.record(Message(topic, payload.encode(), retain=retain, sender="nodemcu-a", at=time.monotonic()))
"""

RIG_TESTS = """
    import os
    from conftest import publish

    SECRET = os.environ["HIL_WIFI_PASSWORD"]

    def test_leaky_failure(board):
        timeline, log = board
        timeline.add("console", "nodemcu-a", f"joining hil-test-ap with {SECRET}")
        publish(log, "hil/nodemcu-a/status", "online", retain=True)
        publish(log, "hil/nodemcu-a/debug", '{"password": "' + SECRET + '"}')
        print(f"captured output with {SECRET}")
        assert SECRET == "the right password"

    def test_figures(board, record_property):
        record_property("reconnect_seconds", 1.5)
        record_property("free_heap", 30000)
        record_property("note", f"property with {SECRET}")

    def test_no_board():
        pass
"""


@pytest.fixture
def rig_project(pytester, monkeypatch):
    monkeypatch.setenv("HIL_WIFI_PASSWORD", SECRET)
    monkeypatch.delenv("HIL_REPORT_DIR", raising=False)
    pytester.makeconftest(textwrap.dedent(RIG_CONFTEST))
    pytester.makepyfile(test_rig=textwrap.dedent(RIG_TESTS))
    return pytester


def _testcases(path) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.parse(path).getroot().iter("testcase")}


def _properties(case: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name"), p.get("value")) for p in case.iter("property")]


def _html_text(path) -> str:
    """The report and every base64 data URI in it (pytest-html's self-contained extras)."""
    html = path.read_text()
    decoded = [base64.b64decode(blob).decode("utf-8", "replace")
               for blob in re.findall(r"base64,([A-Za-z0-9+/=]+)", html)]
    return "\n".join([html, *decoded])


def test_default_reports_carry_timeline_and_fingerprint_without_secrets(rig_project):
    """The report hooks alone (`-p nodemcu_hil.reporting`, which asks for the default files)."""
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    junit, html = rig_project.path / "reports" / "junit.xml", rig_project.path / "reports" / "report.html"
    assert junit.exists() and html.exists()

    terminal = result.stdout.str() + result.stderr.str()
    xml_text, html_text = junit.read_text(), _html_text(html)
    for name, text in (("terminal", terminal), ("junit", xml_text), ("html", html_text)):
        assert SECRET not in text, f"the secret leaked into the {name} output"
    assert re.search(r"-+ timeline -+", terminal)
    assert "joining hil-test-ap with ***" in terminal
    assert "hil/nodemcu-a/status online [qos0, retained]" in terminal

    cases = _testcases(junit)
    failing = dict(_properties(cases["test_leaky_failure"]))
    assert (failing["board"], failing["mac"], failing["free_heap"]) == ("nodemcu-a", FINGERPRINT["mac"], "31200")
    timeline = failing["timeline"].splitlines()
    assert timeline[0].startswith("board nodemcu-a: mac=5c:cf:7f:12:34:56")
    order = [next(i for i, line in enumerate(timeline) if marker in line)
             for marker in ("soft reset before", "joining hil-test-ap with ***", "status online",
                            '{"password": "***"}', "soft reset after")]
    assert order == sorted(order), timeline
    assert "***" in cases["test_leaky_failure"].find("failure").get("message")

    figures = dict(_properties(cases["test_figures"]))
    assert [value for name, value in _properties(cases["test_figures"]) if name == "free_heap"] == ["30000"]
    assert figures["reconnect_seconds"] == "1.5" and figures["note"] == "property with ***"
    assert "joining" not in figures["timeline"], "an earlier test's events leaked into this window"
    assert "soft reset before the test" in figures["timeline"]
    assert _properties(cases["test_no_board"]) == []
    assert "soft reset before the test" in html_text and "hil/nodemcu-a/status online" in html_text


def test_plugin_writes_report_files_only_when_the_report_dir_is_given(rig_project):
    """With the HIL plugin (from its entry point) and no report directory given, nothing is
    written, yet the terminal is still masked; given, the files carry the timelines."""
    result = rig_project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    assert not (rig_project.path / "reports").exists()
    terminal = result.stdout.str() + result.stderr.str()
    assert SECRET not in terminal and "joining hil-test-ap with ***" in terminal

    given = rig_project.runpytest("-p", "no:cacheprovider", "--hil-report-dir=given")
    given.assert_outcomes(passed=2, failed=1)
    assert not (rig_project.path / "reports").exists()
    cases = _testcases(rig_project.path / "given" / "junit.xml")
    assert "joining hil-test-ap with ***" in dict(_properties(cases["test_leaky_failure"]))["timeline"]
    assert "soft reset before the test" in _html_text(rig_project.path / "given" / "report.html")


@pytest.mark.parametrize("how", ["ini", "environment"])
def test_report_dir_given_by_ini_or_environment_counts_as_given(rig_project, monkeypatch, how):
    if how == "ini":
        rig_project.makeini("[pytest]\nhil_report_dir = from-ini\n")
    else:
        monkeypatch.setenv("HIL_REPORT_DIR", "from-environment")
    rig_project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2, failed=1)
    assert (rig_project.path / f"from-{how}" / "junit.xml").exists()
    assert (rig_project.path / f"from-{how}" / "report.html").exists()


def test_reports_made_by_xdist_workers_are_redacted_too(rig_project):
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=2, failed=1)
    xml_text = (rig_project.path / "reports" / "junit.xml").read_text()
    assert SECRET not in result.stdout.str() + xml_text
    assert "joining hil-test-ap with ***" in xml_text


def test_user_given_report_paths_win(rig_project):
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider",
                                   "--junitxml=out/run.xml", "--html=out/run.html")
    result.assert_outcomes(passed=2, failed=1)
    assert (rig_project.path / "out" / "run.xml").exists() and (rig_project.path / "out" / "run.html").exists()
    assert not (rig_project.path / "reports").exists()


def test_report_dir_from_the_environment(rig_project, monkeypatch):
    monkeypatch.setenv("HIL_REPORT_DIR", "elsewhere")
    rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider")
    assert (rig_project.path / "elsewhere" / "junit.xml").exists()


def test_window_holds_only_events_between_its_bounds():
    timeline, log = Timeline(), MessageLog()
    before = timeline.add("console", "a", "before", at=10.0)
    inside = timeline.add("harness", "a", "inside", at=11.0)
    log.record(Message("t/x", b"m", sender="a", at=11.5))
    timeline.add("console", "a", "after", at=13.0)
    events = window_events(timeline, log, since=11.0, until=12.0)
    assert [e.text for e in events] == [inside.text, "t/x m [qos0]"]
    assert before not in events
    assert [e.source for e in window_events(None, log, 0.0, 20.0)] == ["mqtt"]


def test_message_event_escapes_and_shortens_payloads():
    event = message_event(Message("t", b"line1\nline2" + b"x" * 400, qos=1, at=1.0))
    assert "\n" not in event.text and "line1\\nline2" in event.text
    assert event.text.endswith("(411 bytes) [qos1]") and event.board == "broker"


def test_boards_used_prefers_notes_then_the_window_then_the_fixture():
    prints = {"a": {}, "b": {}}
    seen = [Event(1.0, "console", "b", "x"), Event(2.0, "console", "unknown", "y")]
    assert boards_used(["a"], seen, prints, uses_board_fixture=True) == ["a", "b"]
    assert boards_used([], seen, prints, uses_board_fixture=False) == ["b"]
    assert boards_used([], [], prints, uses_board_fixture=True) == ["a", "b"]
    assert boards_used([], [], prints, uses_board_fixture=False) == []


def test_rendering_escapes_control_characters_and_bounds_the_window():
    garbled = [Event(1.0, "console", "a", "\x1b[31mred\x00\r")]
    assert render_events(garbled, 0.0, str.upper).endswith(" \\X1B[31MRED\\X00\\X0D")
    many = [Event(float(i), "console", "a", f"line {i}") for i in range(100)]
    lines = render_events(many, 0.0, lambda text: text, limit=20).splitlines()
    assert len(lines) == 21 and lines[2] == "... 80 events left out ..."
    assert lines[1].endswith("line 1") and lines[3].endswith("line 82") and lines[-1].endswith("line 99")


NON_ASCII_SECRET = "p@ss-Wörd€-ü"
ENCODINGS_TESTS = """
    import json, os, sys
    from urllib.parse import quote, quote_plus
    import pytest

    SECRET = os.environ["HIL_WIFI_PASSWORD"]
    FORMS = [SECRET, json.dumps(SECRET), json.dumps(SECRET, ensure_ascii=False), repr(SECRET),
             repr(SECRET.encode()), ascii(SECRET), quote(SECRET), quote_plus(SECRET)]

    def test_every_encoding(board, record_property):
        timeline, log = board
        for form in FORMS:
            timeline.add("console", "nodemcu-a", f"board printed {form}")
        record_property("as_bytes", SECRET.encode())
        record_property("as_json", json.dumps({"pw": SECRET}))
        print(" ".join(FORMS))
        sys.stderr.write(" ".join(FORMS))
        assert not FORMS, " ".join(FORMS)

    @pytest.mark.xfail(reason=f"known: {ascii(SECRET)}")
    def test_xfail_reason():
        assert False
"""


def test_non_ascii_secret_is_masked_in_every_encoding_and_report(rig_project, monkeypatch):
    """Issue 11, defect 5: `caf\\u00e9`, `\\xc3\\xa9` and friends leaked into JUnit and HTML."""
    import json
    from urllib.parse import quote, quote_plus

    monkeypatch.setenv("HIL_WIFI_PASSWORD", NON_ASCII_SECRET)
    rig_project.makepyfile(test_rig=textwrap.dedent(ENCODINGS_TESTS))
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider", "-rxX")
    result.assert_outcomes(failed=1, xfailed=1)
    value = NON_ASCII_SECRET
    forms = {"raw": value, "json ascii": json.dumps(value)[1:-1], "bytes repr": repr(value.encode())[2:-1],
             "micropython repr": ascii(value)[1:-1], "url quote": quote(value), "url quote_plus": quote_plus(value),
             "repr of json": repr(json.dumps(value))[2:-2]}
    reports = rig_project.path / "reports"
    sinks = {"terminal": result.stdout.str() + result.stderr.str(), "junit": (reports / "junit.xml").read_text(),
             "html": _html_text(reports / "report.html")}
    leaks = [(sink, kind) for sink, text in sinks.items() for kind, form in forms.items() if form in text]
    assert leaks == []
    assert "board printed ***" in sinks["junit"] and "known: '***'" in sinks["terminal"]


def test_collection_error_is_masked(rig_project, monkeypatch):
    monkeypatch.setenv("HIL_WIFI_PASSWORD", NON_ASCII_SECRET)
    rig_project.makepyfile(test_rig="import os\nraise RuntimeError(os.environ['HIL_WIFI_PASSWORD'].encode())\n")
    result = rig_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    text = result.stdout.str() + (rig_project.path / "reports" / "junit.xml").read_text()
    assert "RuntimeError: b'***'" in text and repr(NON_ASCII_SECRET.encode())[2:-1] not in text


@pytest.mark.parametrize("how", ["environment", "command line"])
def test_unwritable_report_dir_stops_the_run_at_start_up_naming_the_setting(pytester, monkeypatch, how):
    """Issue 11, defect 9: an unwritable report directory was an INTERNALERROR at the end."""
    blocker = pytester.path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "reports"
    monkeypatch.delenv("HIL_REPORT_DIR", raising=False)
    pytester.makeini("[pytest]\nhil_boards_file = no-such-boards.toml\n")
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    if how == "environment":
        monkeypatch.setenv("HIL_REPORT_DIR", str(target))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        source = "environment variable HIL_REPORT_DIR"
    else:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={target}")
        source = "command line option --hil-report-dir"
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert "INTERNALERROR" not in errors + result.stdout.str()
    assert f"setting report_dir: cannot write reports to {target} (from {source})" in errors, errors
    assert "hil_report_dir" in errors
