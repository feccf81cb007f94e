"""The bench runner's shape (one table, one JSON document) with tiny fake benchmarks; no timing."""

from __future__ import annotations

import json
import types

from bench import runner
from bench.board_facts import parse_banner, record_board_facts
from bench.model import Figure, Result, Target, percentile
from bench.targets import virtual_board
from nodemcu_hil.cli import main as hil_main


def fake(name: str, run, in_quick: bool = True):
    return types.SimpleNamespace(NAME=name, SUMMARY=f"{name} (fake)", IN_QUICK=in_quick, run=run)


def figures_run(ctx):
    result = Result("fake")
    result.ratio("ours / bare", 1.0, 4.0, "<= 0.5", "same board")
    result.ratio("too slow / bare", 3.0, 2.0, "<= 1.05")
    result.add("wall time", 12.5, "s")
    result.latency("set -> pin", [0.010 + i / 1000 for i in range(20)], p50=50, p95=150)
    ctx.facts["micropython"] = (1, 28, 0)
    return result


def broken_run(ctx):
    raise RuntimeError("the board went away")


def test_the_runner_prints_one_table_and_writes_the_json(tmp_path):
    lines: list[str] = []
    path = tmp_path / "results" / "run.json"
    modules = [fake("fake", figures_run), fake("broken", broken_run), fake("slow", figures_run, in_quick=False)]
    doc = runner.run_all(modules, quick=True, target=Target("virtual"), json_path=path, out=lines.append)
    assert json.loads(path.read_text()) == json.loads(json.dumps(doc, default=str))
    assert {"when", "quick", "machine", "versions", "board_kind", "benchmarks"} <= set(doc)
    assert doc["board_kind"] == "virtual" and doc["quick"] is True
    assert {"esptool", "mpremote", "board_micropython"} <= set(doc["versions"])
    assert doc["versions"]["esptool"] and doc["versions"]["board_micropython"] == (1, 28, 0)
    assert doc["board_facts"] == {"micropython": (1, 28, 0)}
    assert [b["name"] for b in doc["benchmarks"]] == ["fake", "broken"]          # "slow" is not in --quick
    fake_doc, broken_doc = doc["benchmarks"]
    verdicts = {f["name"]: f["met"] for f in fake_doc["figures"]}
    assert verdicts == {"ours / bare": True, "too slow / bare": False, "wall time": None,
                        "set -> pin p50": True, "set -> pin p95": True}
    assert {"value", "unit", "target", "detail"} <= set(fake_doc["figures"][0])
    assert broken_doc["failures"] and "the board went away" in broken_doc["failures"][0]
    table = "\n".join(lines)
    assert "ours / bare" in table and "ABOVE" in table and "FAILED" in table and str(path) in table


def test_a_figure_without_a_value_or_target_has_no_verdict():
    assert Figure("x", None, "x", "<= 1").met is None
    assert Figure("x", 2.0, "x", "").met is None
    assert Figure("x", 2.0, "x", ">= 1.6").met is True and Figure("x", 1.5, "x", ">= 1.6").met is False
    assert 95 <= percentile(list(range(1, 101)), 95) <= 96 and percentile([7.0], 50) == 7.0


def test_hil_bench_outside_a_checkout_says_it_needs_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert hil_main(["bench", "--quick"]) == 2
    assert "no nodemcu-hil checkout" in capsys.readouterr().err


def test_tasks_offers_bench():
    import tasks
    assert "bench" in tasks.TASKS and tasks.TASKS["bench"][1] is None
    assert tasks.TASKS["hil"][1] == ["tests_hil"] and tasks.TASKS["test"][1] == []


def test_the_banner_gives_version_build_date_and_machine():
    text = "\r\nMicroPython v1.19.1-dirty on 2022-06-18; ESP module with ESP8266\r\nType \"help()\" ...\r\n>>> "
    assert parse_banner(text) == {"micropython": "v1.19.1-dirty", "build_date": "2022-06-18",
                                  "machine": "ESP module with ESP8266"}
    assert parse_banner("raw REPL; CTRL-B to exit\r\n>") is None


def test_the_board_facts_are_the_images_banner_not_the_host_interpreter(tmp_path):
    """A virtual board runs the host's unix port: its sys.implementation is the wheel's
    version, while the banner (and so the JSON) shows the image's."""
    from nodemcu_hil.repl import Repl
    facts: dict = {}
    with virtual_board(tmp_path / "vb", "bench-facts", pty=False, version="v1.19.1") as board:
        with Repl.open(board.url, board="bench-facts") as repl:
            repl.enter(soft_reset=False)
            host = repl.eval("__import__('sys').implementation.version")
            record_board_facts(repl, facts)
    assert tuple(host[:2]) != (1, 19), "the host's unix port is not the image's version: nothing to tell apart"
    assert facts == {"micropython": "v1.19.1", "build_date": "2026-04-06", "machine": "ESP module with ESP8266"}


def test_side_by_side_reports_the_largest_k_under_2x_and_each_ratio(tmp_path, monkeypatch):
    """k = 2 at 1.4x, k = 3 at 2.5x: two boards side by side, both ratios reported, no k = 4."""
    import time as clock

    from bench import side_by_side as sbs
    from bench.model import Context
    slowest = {1: 10.0, 2: 14.0, 3: 25.0, 4: 30.0}
    asked: list[int] = []

    def fake_runs(work_dir, k):
        asked.append(k)
        return [sbs.Run(slowest[k] - i, True, "passed") for i in range(k)]

    monkeypatch.setattr(sbs, "side_by_side", fake_runs)
    ctx = Context(quick=False, work_dir=tmp_path, deadline=clock.monotonic() + 600, target=Target("virtual"))
    result = sbs.run(ctx)
    assert asked == [1, 2, 3] and not result.failures
    figures = {f.name: f for f in result.figures}
    assert result.figures[0].value == 2 and result.figures[0].target == "" and "k=3 above 2x" in result.figures[0].detail
    assert figures["side by side, k=2: slowest suite / alone"].value == 1.4
    assert figures["side by side, k=3: slowest suite / alone"].value == 2.5


def test_side_by_side_stops_at_a_failed_run(tmp_path, monkeypatch):
    import time as clock

    from bench import side_by_side as sbs
    from bench.model import Context
    monkeypatch.setattr(sbs, "side_by_side", lambda work_dir, k: [sbs.Run(10.0, k < 2, "1 failed")] * k)
    ctx = Context(quick=False, work_dir=tmp_path, deadline=clock.monotonic() + 600, target=Target("virtual"))
    result = sbs.run(ctx)
    assert result.figures[0].value == 1 and "a run failed at k=2" in result.figures[0].detail
    assert "FAILED" in result.figures[1].detail


def test_side_by_side_starts_no_k_the_run_has_no_time_for(tmp_path, monkeypatch):
    import time as clock

    from bench import side_by_side as sbs
    from bench.model import Context
    monkeypatch.setattr(sbs, "side_by_side", lambda work_dir, k: [sbs.Run(100.0, True, "passed")] * k)
    now = clock.monotonic()
    ctx = Context(quick=False, work_dir=tmp_path, deadline=now + 600, target=Target("virtual"), run_deadline=now + 60)
    result = sbs.run(ctx)
    assert len(result.figures) == 1 and "k=2 would not fit the time budget" in result.figures[0].detail
