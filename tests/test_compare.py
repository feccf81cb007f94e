"""`hil compare`: JUnit files of two real pytest runs, side by side, regressions exit 1."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nodemcu_hil.cli import main
from nodemcu_hil.compare import (FIXED, MISSING, NEW, REGRESSION, SAME, WORSE, Figure, compare_runs, load_run,
                              regressions)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

# One suite whose outcomes and figures are steered by environment variables, so that two
# runs of it give the two sides of a comparison.
SUITE = """
    import os
    import pytest

    def test_boot(record_property):
        record_property("free_heap", int(os.environ.get("HEAP", "31000")))
        record_property("board", "nodemcu-a")

    def test_reconnect(record_property):
        record_property("reconnect_seconds", float(os.environ.get("RECONNECT", "2.0")))
        assert os.environ.get("BREAK_RECONNECT") != "1", "no reconnect within 30 s"

    def test_gpio():
        if os.environ.get("GPIO_ERROR") == "1":
            raise RuntimeError("probe board gone")

    @pytest.fixture
    def flaky_setup():
        if os.environ.get("SETUP_ERROR") == "1":
            raise RuntimeError("broker did not start")

    def test_publish(flaky_setup):
        pass

    @pytest.mark.skipif(os.environ.get("WITH_EXTRA") != "1", reason="only in B")
    def test_extra():
        pass
"""


@pytest.fixture
def junit_run(pytester, monkeypatch):
    """`junit_run(name, **env)` -> path of the JUnit XML of one run of SUITE."""
    pytester.makepyfile(test_suite=textwrap.dedent(SUITE))
    pytester.makeini("[pytest]\njunit_family = xunit1\n")

    def run(name: str, **env: str):
        for key in ("HEAP", "RECONNECT", "BREAK_RECONNECT", "GPIO_ERROR", "SETUP_ERROR", "WITH_EXTRA"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        path = pytester.path / f"{name}.xml"
        pytester.runpytest(f"--junitxml={path}", "-p", "no:cacheprovider", "-p", "no:nodemcu_hil")
        return path
    return run


def test_identical_runs_have_no_regression(junit_run, capsys):
    a, b = junit_run("a"), junit_run("b")
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "summary: 0 regression, 0 missing in B, 0 figure worse, 0 fixed, 0 new in B, 5 same" in out
    assert "reconnect_seconds" in out and "x1.00" in out
    assert "board" not in out.replace("nodemcu", ""), "a text property is not a figure"


def test_failure_error_and_setup_error_in_b_are_regressions(junit_run, capsys):
    a = junit_run("a")
    b = junit_run("b", BREAK_RECONNECT="1", GPIO_ERROR="1", SETUP_ERROR="1")
    assert main(["compare", str(a), str(b)]) == 1
    rows = {row.test_id.split("::")[-1]: row for row in compare_runs(load_run(a), load_run(b))}
    assert rows["test_reconnect"].verdict == REGRESSION and rows["test_reconnect"].b.outcome == "failed"
    assert rows["test_gpio"].b.outcome == "failed"
    assert rows["test_publish"].verdict == REGRESSION and rows["test_publish"].b.outcome == "error"
    assert rows["test_boot"].verdict == SAME
    out = capsys.readouterr().out
    assert "REGRESSION test_suite::test_reconnect: passed in A, failed in B" in out


def test_fixed_and_new_tests_are_not_regressions(junit_run):
    a = junit_run("a", BREAK_RECONNECT="1")
    b = junit_run("b", WITH_EXTRA="1")
    rows = {row.test_id.split("::")[-1]: row for row in compare_runs(load_run(a), load_run(b))}
    assert rows["test_reconnect"].verdict == FIXED
    assert rows["test_extra"].verdict == SAME  # skipped in A, passed in B
    assert main(["compare", str(a), str(b)]) == 0


def test_a_test_missing_from_b_is_a_regression(junit_run, pytester, capsys):
    a = junit_run("a")
    b = pytester.path / "b.xml"
    pytester.runpytest(f"--junitxml={b}", "-p", "no:cacheprovider", "-p", "no:nodemcu_hil", "-k", "not gpio")
    assert main(["compare", str(a), str(b)]) == 1
    assert "REGRESSION test_suite::test_gpio: passed in A, missing in B" in capsys.readouterr().out
    rows = compare_runs(load_run(b), load_run(a))
    assert [row.verdict for row in rows if row.test_id.endswith("test_gpio")] == [NEW]
    assert not regressions(rows)


def test_watched_figures_beyond_tolerance_are_regressions(junit_run, capsys):
    a = junit_run("a", RECONNECT="2.0", HEAP="31000")
    b = junit_run("b", RECONNECT="3.5", HEAP="15000")
    args = ["compare", str(a), str(b)]
    assert main(args) == 0, "figures are only judged when asked for"
    assert main([*args, "--figure", "reconnect_seconds", "--tolerance", "2"]) == 0
    assert main([*args, "--figure", "reconnect_seconds", "--tolerance", "1.5"]) == 1
    assert main([*args, "--figure", "free_heap:higher", "--tolerance", "1.5"]) == 1
    assert main([*args, "--figure", "free_heap:higher", "--tolerance", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "x1.75 WORSE" in out and f"summary: 0 regression, 0 missing in B, 1 {WORSE}" in out
    assert "REGRESSION test_suite::test_reconnect: passed in A, passed in B; reconnect_seconds 2 -> 3.5 (x1.75 WORSE)" in out


def test_markdown_for_the_job_summary(junit_run, capsys):
    a, b = junit_run("a"), junit_run("b", BREAK_RECONNECT="1", RECONNECT="4")
    assert main(["compare", "--format", "markdown", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "**1 regression(s)**" in out
    assert "| `test_suite::test_reconnect` | passed | failed | reconnect_seconds 2 → 4 x2.00 | **regression** |" in out


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("this is not xml", "not a JUnit XML file"),
    ("<html><body/></html>", "not a JUnit XML file (root element <html>)"),
])
def test_unreadable_input_is_a_one_line_error_with_exit_2(tmp_path, junit_run, content, expected):
    good, bad = junit_run("good"), tmp_path / "bad.xml"
    if content is not None:
        bad.write_text(content)
    result = subprocess.run([sys.executable, "-m", "nodemcu_hil.cli", "compare", str(good), str(bad)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and expected in result.stderr and str(bad) in result.stderr


@pytest.mark.parametrize("args", [["--tolerance", "0.5"], ["--figure", "x:sideways"]])
def test_bad_options_are_usage_errors(tmp_path, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *args, "a.xml", "b.xml"])
    assert exit_info.value.code == 2


def test_figure_direction():
    assert Figure.parse("reconnect_seconds").is_worse(2.0, 3.1, 1.5)
    assert not Figure.parse("reconnect_seconds").is_worse(2.0, 0.1, 1.5)
    assert Figure.parse("free_heap:higher").is_worse(30000, 19000, 1.5)
    assert not Figure.parse("free_heap:higher").is_worse(30000, 60000, 1.5)
    assert MISSING != REGRESSION


def _page(capsys, args: list[str]) -> tuple[int, str]:
    code = main(["compare", "--format", "html", *args])
    return code, capsys.readouterr().out


def test_html_sets_several_runs_side_by_side_with_a_chart_per_figure(junit_run, capsys):
    import xml.etree.ElementTree as ET

    from tests.report_html import external_references

    runs = [junit_run("a", RECONNECT="2.0"), junit_run("b", RECONNECT="2.2"),
            junit_run("c", RECONNECT="4.0", BREAK_RECONNECT="1")]
    code, page = _page(capsys, ["--figure", "reconnect_seconds", *map(str, runs)])
    assert code == 1
    assert "<script" not in page and external_references(page) == []
    assert page.count("<th>C</th>") == 2 and "1 regression(s) in C against B" in page
    charts = [ET.fromstring(svg) for svg in re.findall(r'<svg [^>]*class="trend".*?</svg>', page)]
    assert len(charts) == 2, "one chart per figure: free_heap of test_boot, reconnect_seconds"
    dots = {chart.find("{http://www.w3.org/2000/svg}title").text:
            [(c.get("class"), c.find("{http://www.w3.org/2000/svg}title").text)
             for c in chart.iter("{http://www.w3.org/2000/svg}circle")] for chart in charts}
    assert dots["reconnect_seconds"] == [("ok", "A: 2"), ("ok", "B: 2.2"),
                                         ("worse", "C: 4 (worse than the run before)")]
    assert '<td class="failed bad" title="regression in C">failed</td>' in page
    assert '<td class="num bad">4</td>' in page


def test_html_needs_no_figure_option_to_judge_a_benchmark_against_its_target(tmp_path, capsys):
    import json

    def bench(name: str, ratio: float, latency: float) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"when": name, "board_kind": "virtual", "benchmarks": [
            {"name": "flash", "failures": [], "figures": [
                {"name": "hil flash / esptool", "value": ratio, "target": "<= 0.2", "met": ratio <= 0.2},
                {"name": "suite speed-up", "value": latency, "target": ">= 1.6", "met": latency >= 1.6},
                {"name": "wall", "value": None, "target": ""}]}]}))
        return path

    a, b = bench("a", 0.05, 1.9), bench("b", 0.30, 1.0)
    code, page = _page(capsys, [str(a), str(b)])
    assert code == 1 and "1 regression(s) in B against A" in page
    assert page.count('class="worse missed"') == 2, "both figures worse in their target's direction, both missed"
    assert main(["compare", str(a), str(b)]) == 1
    assert "REGRESSION bench::flash: passed in A, passed in B; hil flash / esptool 0.05 -> 0.3" in capsys.readouterr().out
    assert _page(capsys, [str(b), str(a)])[0] == 0, "better in the target's direction is no regression"


def test_campaign_results_are_runs_too(tmp_path):
    import json

    path = tmp_path / "campaign.json"
    path.write_text(json.dumps({"when": "x", "campaigns": [
        {"name": "images", "passed": True, "failures": [], "figures": {"cases": 52, "refused": 52, "note": "text",
                                                                       "ok": True}},
        {"name": "secrets", "passed": False, "failures": ["leak"], "figures": {"occurrences": 1}}]}))
    run = load_run(path)
    assert run["campaign::images"].outcome == "passed" and run["campaign::images"].figures == {"cases": 52.0,
                                                                                              "refused": 52.0}
    assert run["campaign::secrets"].outcome == "failed"


def test_text_and_markdown_take_two_runs_html_more(junit_run, tmp_path, capsys):
    a = junit_run("a")
    assert main(["compare", str(a), str(a), str(a)]) == 2
    assert "text compares two runs, got 3; --format html takes more" in capsys.readouterr().err
    assert main(["compare", "--format", "html", str(a)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"neither": []}')
    assert main(["compare", str(a), str(bad)]) == 2
    assert "neither bench nor campaign results" in capsys.readouterr().err
