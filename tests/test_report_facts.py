"""The run's facts at the top of the HTML report and as JUnit testsuite properties, also when
xdist workers gathered them; secrets masked; the hashes are the files' own."""

from __future__ import annotations

import hashlib
import textwrap
import xml.etree.ElementTree as ET

import pytest

from nodemcu_hil.config import resolve
from nodemcu_hil.run_facts import firmware_tree_facts, image_facts, port_kind, setting_rows, tree_hash

pytest_plugins = ["pytester"]

SECRET = "Facts-Only-Secret-77c1"  # remembered secrets are process-wide: one no other test uses
MAC = "5c:cf:7f:aa:bb:01"
BROKEN_MAC = "5c:cf:7f:aa:bb:99"

CONFTEST = f"""
    from dataclasses import dataclass, field
    from pathlib import Path
    import os
    import pytest
    from nodemcu_hil.inventory import BoardRecord

    @dataclass
    class FakeBoard:
        record: BoardRecord
        facts: dict = field(default_factory=dict)
        image_path: Path | None = None
        deployed_files: dict | None = None

        @property
        def name(self):
            return self.record.name

    @pytest.fixture(scope="session")
    def board(tmp_path_factory):
        image = tmp_path_factory.mktemp("image") / "ESP8266_GENERIC-v1.28.0.bin"
        image.write_bytes(b"\\xe9" + b"image" * 100)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        facts = {{"mac": "{MAC[:-2]}0" + worker[-1], "micropython_version": "v1.28.0",
                  "note": "joined with " + os.environ["HIL_WIFI_PASSWORD"]}}
        return FakeBoard(BoardRecord(name="fake-" + worker, port="rfc2217://127.0.0.1:4000", flash_size=2 << 20),
                         facts, image, {{"main.py": b"x"}})

    @pytest.fixture
    def broken(pytestconfig):
        from nodemcu_hil.stash import FINGERPRINTS_KEY
        pytestconfig.stash.setdefault(FINGERPRINTS_KEY, {{}})["broken-board"] = {{"mac": "{BROKEN_MAC}"}}
        raise RuntimeError("deploy failed")
"""

TESTS = """
    def test_one(board):
        board.facts["free_heap"] = 30123

    def test_two(board):
        pass

    def test_three(board):
        pass

    def test_no_board():
        pass

    def test_bring_up_fails(broken):
        pass
"""


@pytest.fixture
def facts_project(pytester, monkeypatch):
    monkeypatch.setenv("HIL_WIFI_PASSWORD", SECRET)
    monkeypatch.delenv("HIL_REPORT_DIR", raising=False)
    pytester.makeconftest(textwrap.dedent(CONFTEST))
    pytester.makepyfile(test_facts=textwrap.dedent(TESTS))
    (pytester.path / "firmware").mkdir()
    (pytester.path / "firmware" / "main.py").write_text("print('hi')\n")
    return pytester


def _suite_properties(path) -> list[tuple[str, str]]:
    suite = ET.parse(path).getroot().find("testsuite")
    return [(p.get("name"), p.get("value")) for p in suite.find("properties")]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two xdist workers"])
def test_facts_reach_the_top_of_the_html_report_and_the_junit_testsuite(facts_project, workers):
    result = facts_project.runpytest("-p", "no:cacheprovider", "--hil-report-dir=out", *workers)
    result.assert_outcomes(passed=4, errors=1)
    junit, report = facts_project.path / "out" / "junit.xml", facts_project.path / "out" / "report.html"
    props = _suite_properties(junit)
    names = dict(props)
    boards = [value for name, value in props if name == "hil.board" and value != "broken-board"]
    assert len(boards) == (2 if workers else 1) and all(b.startswith("fake-gw") for b in boards)
    board = boards[0]
    assert names["hil.board.broken-board.mac"] == BROKEN_MAC, "a board whose bring-up failed is listed too"
    image_sha = hashlib.sha256(b"\xe9" + b"image" * 100).hexdigest()
    assert names["hil.mode"] == "virtual" and names["hil.harness_version"]
    assert names["hil.image"] == "ESP8266_GENERIC-v1.28.0.bin" and names["hil.image_sha256"] == image_sha
    assert names[f"hil.board.{board}.mac"].startswith(MAC[:-2])
    assert names[f"hil.board.{board}.port_kind"] == "RFC2217 (network)"
    assert names[f"hil.board.{board}.flash_size"] == "2 MB"
    assert names[f"hil.board.{board}.micropython_version"] == "v1.28.0"
    assert "30123" in [value for name, value in props if name.endswith(".free_heap")]
    assert names["hil.firmware_tree_sha256"] == firmware_tree_facts(facts_project.path / "firmware")[
        "firmware_tree_sha256"]
    assert names["hil.setting.wifi_password"] == "*** (environment)"
    assert names["hil.setting.report_dir"].endswith("out (command line)")
    html = report.read_text()
    assert '<section class="hil-run-facts"' in html and image_sha in html and names[f"hil.board.{board}.mac"] in html
    assert html.index("hil-run-facts") < html.index('id="results-table"')
    for text in (junit.read_text(), html):
        assert SECRET not in text
    assert "joined with ***" in names[f"hil.board.{board}.note"]


def test_no_facts_section_without_the_hil_plugin(facts_project):
    facts_project.runpytest("-p", "no:nodemcu_hil", "-p", "nodemcu_hil.reporting", "-p", "no:cacheprovider",
                            "-k", "not bring_up")
    assert "hil-run-facts" not in (facts_project.path / "reports" / "report.html").read_text()


def test_hashes_are_of_the_files_and_see_every_change(tmp_path):
    image = tmp_path / "mp.bin"
    image.write_bytes(b"abc")
    assert image_facts(image) == {"image": "mp.bin", "image_bytes": 3,
                                  "image_sha256": hashlib.sha256(b"abc").hexdigest()}
    assert image_facts(None) == {} and image_facts(tmp_path / "missing.bin") == {}
    assert tree_hash({"a.py": b"1", "b.py": b"2"}) == tree_hash({"b.py": b"2", "a.py": b"1"})
    assert tree_hash({"a.py": b"1"}) != tree_hash({"a.py": b"2"}) != tree_hash({"c.py": b"2"})


def test_the_firmware_tree_hash_leaves_out_what_is_not_deployed(tmp_path):
    tree = tmp_path / "fw"
    (tree / "__pycache__").mkdir(parents=True)
    (tree / "main.py").write_text("x = 1\n")
    before = firmware_tree_facts.__wrapped__(tree)
    (tree / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"junk")
    (tree / "notes.txt").write_text("not deployed")
    assert firmware_tree_facts.__wrapped__(tree) == before
    (tree / "manifest.toml").write_text("[libraries]\n")
    assert firmware_tree_facts.__wrapped__(tree)["firmware_tree_sha256"] != before["firmware_tree_sha256"]
    assert firmware_tree_facts.__wrapped__(tmp_path / "none") == {}


def test_settings_rows_keep_sources_and_mask_secrets():
    settings = resolve(env={"HIL_WIFI_PASSWORD": SECRET, "HIL_FLASH_BAUD": "115200"})
    rows = {name: (value, source) for name, value, source in setting_rows(settings)}
    assert rows["wifi_password"] == ("***", "environment")
    assert rows["flash_baud"] == ("115200", "environment") and rows["firmware_image"] == ("(none)", "default")
    assert port_kind("/dev/ttyUSB0") == "serial device"
    assert port_kind("rfc2217://h:1", virtual=True) == "RFC2217 (network), virtual board"


def test_free_heap_is_asked_of_the_board_at_its_repl():
    from contextlib import contextmanager

    from nodemcu_hil.run_facts import FREE_HEAP_CODE, free_heap

    class Board:
        def __init__(self, answer: bytes):
            self.answer, self.asked = answer, []

        @contextmanager
        def repl(self):
            yield self

        def exec(self, code):
            self.asked.append(code)
            return self.answer

    board = Board(b"30512\r\n")
    assert free_heap(board) == 30512 and board.asked == [FREE_HEAP_CODE]
    assert free_heap(Board(b"MemoryError\r\n")) is None
