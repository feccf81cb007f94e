"""The HTML report of a real run on a virtual board, checked as a person would see it.

A few HIL tests (boot and reconnect: resets, wills, link drops, a blackhole, a broker
restart) run on a virtual board; their report must carry a swimlane picture per test with a
mark for every event of the test's timeline and the marks for what happened in it, the run's
facts, no secret and no reference to anything outside the page. Where Chromium or Chrome is
on PATH, the page is also rendered headless: its script draws every picture, a screenshot is
taken (kept in the test's tmp directory), and its net log shows no request made by the page.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from filelock import FileLock

from nodemcu_hil.run_facts import firmware_tree_facts
from tests import headless_chromium as chromium
from tests.report_html import all_external_references, external_references, html_extras, report_data

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SELECTION = "boot or reconnect"
SECRET = "Browser-Only-Secret-3f8d"  # the virtual access point's password for this run
RUN_TIMEOUT_S = 180
SVG = "{http://www.w3.org/2000/svg}"
WILL = re.compile(r"\[[^]]*\bwill\]$")
EVENT_LINE = re.compile(r"^\s*-?\d+\.\d{3} (\S+)\s+(\S+)\s+(.*)$")


@pytest.fixture(scope="module")
def run(tmp_path_factory, worker_id):
    """The report directory of `pytest tests_hil -k SELECTION` on one virtual board: run once
    per session, also when xdist spreads this module's tests over workers (they share it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    home, done = shared / "report-browser-run", shared / "report-browser-run.out"
    with FileLock(str(shared / "report-browser-run.lock"), timeout=RUN_TIMEOUT_S + 30):
        if not done.exists():
            done.write_text(_run_suite(home))
    failure = done.read_text()
    assert not failure, failure
    return home / "reports"


def _run_suite(home: Path) -> str:
    """'' when the run passed, else what it printed."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("HIL_", "PYTEST_XDIST", "PYTEST_CURRENT"))}
    env.update(HIL_MODE="sim", HIL_WIFI_PASSWORD=SECRET, HIL_LEASE_DIR=str(home / "leases"))
    command = [sys.executable, "-m", "pytest", "tests_hil", "-k", SELECTION, "-n", "0", "-q",
               "-p", "no:cacheprovider", "--hil-report-dir", str(home / "reports")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return "" if result.returncode == 0 else result.stdout[-4000:] + result.stderr[-2000:]


def _timelines(junit: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Test id -> its timeline's events (source, board, text), as the JUnit report carries them."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname').replace('.', '/')}.py::{case.get('name')}"
        text = next(p.get("value") for p in case.iter("property") if p.get("name") == "timeline")
        found[test_id] = [m.groups() for line in text.splitlines() if (m := EVENT_LINE.match(line))]
    return found


def _pictures(report: Path) -> dict[str, ET.Element]:
    pictures = {}
    for test_id, contents in html_extras(report).items():
        (content,) = [c for c in contents if "hil-timeline" in c]
        pictures[test_id] = ET.fromstring(content[content.index("<svg"):content.index("</svg>") + 6])
    return pictures


def _marks(svg: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{SVG}g") if kind in (g.get("class") or "").split()]


def test_each_test_has_a_picture_with_a_mark_for_every_event_and_for_what_happened(run):
    timelines, pictures = _timelines(run / "junit.xml"), _pictures(run / "report.html")
    assert set(pictures) == set(timelines) and len(pictures) >= 5
    for test_id, events in timelines.items():
        svg = pictures[test_id]
        ticks = _marks(svg, "ev")
        assert int(svg.get("data-events")) == len(events) == sum(int(g.get("data-n")) for g in ticks), test_id
        if any(source == "mqtt" and WILL.search(text) for source, _, text in events):
            assert _marks(svg, "will"), f"{test_id}: a will, but no will mark"
        if any(text.startswith(("hard reset", "soft reset")) for source, _, text in events if source == "harness"):
            assert _marks(svg, "reset"), f"{test_id}: a reset, but no reset line"
        if any("link lost" in text for source, _, text in events if source == "console"):
            assert [g for g in _marks(svg, "gap") if "reconnect gap" in g.find(f"{SVG}title").text], test_id
    outages = {test_id.rsplit("::", 1)[1]: [g.find(f"{SVG}title").text for g in _marks(svg, "outage")]
               for test_id, svg in pictures.items()}
    assert "Wi-Fi link down" in outages["test_wifi_link_drop_and_return"]
    assert "blackhole" in outages["test_silent_blackhole_is_detected_by_keepalive"]
    assert "broker stopped" in outages["test_broker_restart"]
    kicked = pictures[next(t for t in pictures if t.endswith("test_broker_kicks_the_client"))]
    assert any("broker: kick" in g.find(f"{SVG}title").text for g in _marks(kicked, "drop"))


def test_the_run_facts_agree_with_junit_and_the_files(run, tmp_path):
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    facts = {p.get("name"): p.get("value") for p in suite.find("properties")}
    board = facts["hil.board"]
    html = (run / "report.html").read_text()
    assert facts["hil.mode"] == "virtual" and facts["hil.setting.wifi_password"] == "*** (environment)"
    assert re.fullmatch(r"v\d+\.\d+\.\d+\S*", facts[f"hil.board.{board}.micropython_version"])
    assert int(facts[f"hil.board.{board}.free_heap"]) > 0, "test_boot records the firmware's free heap"
    for name in ("hil.image_sha256", "hil.firmware_tree_sha256", f"hil.board.{board}.mac"):
        assert re.fullmatch(r"[0-9a-f:]{17,64}", facts[name]) and facts[name] in html, name
    image = tmp_path / facts["hil.image"]  # the virtual board's image is made the same way each time
    subprocess.run([sys.executable, "-m", "nodemcu_hil.cli", "sim", "--make-image", str(image)], check=True,
                   capture_output=True, timeout=60)
    assert facts["hil.image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert facts["hil.firmware_tree_sha256"] == firmware_tree_facts(ROOT / "firmware_under_test")[
        "firmware_tree_sha256"]
    environment = list(report_data(run / "report.html")["environment"].items())
    assert environment[0] == ("HIL mode", "virtual"), "the Environment table opens with the run's facts"
    assert facts[f"hil.board.{board}.mac"] in dict(environment)[f"HIL board {board}"]
    assert [key for key, _ in environment].index("Python") > [key for key, _ in environment].index("HIL image sha256")


def test_no_secret_and_nothing_outside_the_page(run):
    report = run / "report.html"
    for path in [report, run / "junit.xml", *sorted((run / "serial").iterdir())]:
        assert SECRET not in path.read_text(errors="replace"), path
    assert all_external_references(report) == []


def test_chromium_draws_the_pictures_and_the_page_makes_no_request(run, tmp_path):
    browser = chromium.find_browser()
    if browser is None:
        pytest.skip("no chromium or chrome on PATH: the report was checked structurally only "
                    "(.ci/run installs the distribution's chromium)")
    url = (run / "report.html").as_uri() + "?collapsed="  # pytest-html: every row expanded
    dom = chromium.dump_dom(browser, url, net_log=tmp_path / "dom.netlog.json")
    rendered = re.findall(r'<svg [^>]*class="hil-timeline"', dom)
    assert len(rendered) == len(_pictures(run / "report.html")), "the page's script did not draw every picture"
    assert 'class="hil-run-facts"' in dom and external_references(dom) == []
    png = tmp_path / "report.png"
    chromium.screenshot(browser, url, png, net_log=tmp_path / "shot.netlog.json")
    assert chromium.png_size(png) == (1280, 2400) and png.stat().st_size > 100_000, "a blank page compresses smaller"
    for log in ("dom.netlog.json", "shot.netlog.json"):
        assert chromium.page_requests(tmp_path / log) == [], log


def test_the_request_check_sees_a_page_that_fetches(tmp_path):
    browser = chromium.find_browser()
    if browser is None:
        pytest.skip("no chromium or chrome on PATH")
    page = tmp_path / "fetching.html"
    page.write_text('<img src="http://report.invalid/x.png"><svg><image href="https://report.invalid/y.png"/></svg>')
    chromium.dump_dom(browser, page.as_uri(), net_log=tmp_path / "netlog.json")
    assert sorted(chromium.page_requests(tmp_path / "netlog.json")) == ["http://report.invalid/x.png",
                                                                         "https://report.invalid/y.png"]
