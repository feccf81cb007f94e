"""`hil compare A B [C ...]`: runs side by side; exit 1 on a regression, 2 on a bad file.

A run is a JUnit XML file, a bench result (bench/results/*.json) or a campaign result
(reports/campaigns/*.json). Text and markdown (a GitHub job summary) set two runs side by
side; `--format html` takes two or more, oldest first, and draws each figure across them.
"""

from __future__ import annotations

import argparse
import sys

EXIT_REGRESSION = 1
EXIT_UNREADABLE = 2
FORMATS = ("text", "markdown", "html")


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a factor of at least 1 (1.5: 50% worse is allowed), got {text!r}")
    return value


def _figure(text: str):
    from nodemcu_hil.compare import Figure

    try:
        return Figure.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure(parser) -> None:
    from nodemcu_hil.compare import DEFAULT_TOLERANCE

    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="JUnit XML, bench or campaign JSON of each run: the reference first (previous release, "
                             "virtual boards), the run under judgement last; text and markdown take two")
    parser.add_argument("--figure", action="append", type=_figure, default=[], metavar="NAME[:lower|higher]",
                        help="a recorded property to judge, e.g. reconnect_seconds or free_heap:higher "
                             "(which way is better; default lower); repeatable")
    parser.add_argument("--tolerance", type=_tolerance, default=DEFAULT_TOLERANCE, metavar="FACTOR",
                        help=f"a judged figure worse by more than this factor is a regression "
                             f"(default {DEFAULT_TOLERANCE})")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text for a terminal, markdown for a GitHub job summary, html for a page with a "
                             "chart per figure across the runs (two or more)")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _ratio(row) -> str:
    return "" if row.ratio is None else f"x{row.ratio:.2f}" + (" WORSE" if row.worse else "")


def _outcome(result) -> str:
    return "missing" if result is None else result.outcome


def render_text(rows, a_name: str, b_name: str) -> str:
    from nodemcu_hil.compare import SAME, regressions, summary
    from nodemcu_hil.table import format_table

    lines = []
    for row in rows:
        lines.append((row.test_id, _outcome(row.a), _outcome(row.b), "", "" if row.verdict == SAME else row.verdict))
        lines += [(f"  {fig.name}", _number(fig.a), _number(fig.b), _ratio(fig), "") for fig in row.figures]
    out = [f"A: {a_name}", f"B: {b_name}", "", format_table(("TEST / FIGURE", "A", "B", "B/A", "VERDICT"), lines), "", f"summary: {summary(rows)}"]
    out += [f"REGRESSION {row.test_id}: {why(row)}" for row in regressions(rows)]
    return "\n".join(out)


def why(row) -> str:
    """What makes a row a regression, in one line."""
    worse = [f"{fig.name} {_number(fig.a)} -> {_number(fig.b)} ({_ratio(fig)})" for fig in row.figures if fig.worse]
    return "; ".join([f"{_outcome(row.a)} in A, {_outcome(row.b)} in B", *worse])


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(rows, a_name: str, b_name: str) -> str:
    from nodemcu_hil.compare import SAME, regressions, summary

    out = [f"### hil compare: `{_cell(a_name)}` (A) vs `{_cell(b_name)}` (B)", "",
           f"**{len(regressions(rows))} regression(s)**: {summary(rows)}", "",
           "| test | A | B | figures (A → B, B/A) | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        figures = "<br>".join(f"{_cell(fig.name)} {_number(fig.a)} → {_number(fig.b)} {_ratio(fig)}".rstrip()
                              for fig in row.figures)
        verdict = "" if row.verdict == SAME else f"**{row.verdict}**"
        out.append(f"| `{_cell(row.test_id)}` | {_outcome(row.a)} | {_outcome(row.b)} | {figures} | {verdict} |")
    return "\n".join(out)


def run(args) -> int:
    from nodemcu_hil.compare import ReportUnreadable, compare_runs, load_run, regressions

    if len(args.runs) < 2 or (args.format != "html" and len(args.runs) != 2):
        print(f"hil compare: {args.format} compares two runs, got {len(args.runs)}"
              + ("" if len(args.runs) < 2 else "; --format html takes more"), file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        runs = [load_run(path) for path in args.runs]
    except ReportUnreadable as exc:
        print(f"hil compare: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.format == "html":
        return _run_html(args, runs)
    (run_a, run_b), (a, b) = runs, args.runs
    rows = compare_runs(run_a, run_b, watched=tuple(args.figure), tolerance=args.tolerance)
    render = render_markdown if args.format == "markdown" else render_text
    print(render(rows, f"{a} ({len(run_a)} tests)", f"{b} ({len(run_b)} tests)"))
    return EXIT_REGRESSION if regressions(rows) else 0


def _run_html(args, runs) -> int:
    from nodemcu_hil.compare import JUDGED, run_facts_of, trends
    from nodemcu_hil.compare_html import render

    series = trends(runs, watched=tuple(args.figure), tolerance=args.tolerance)
    print(render(series, args.runs, [run_facts_of(path) for path in args.runs]))
    return EXIT_REGRESSION if any(trend.verdicts[-1] in JUDGED for trend in series) else 0
