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
