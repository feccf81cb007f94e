"""`hil compare --format html`: runs side by side as one self-contained page.

Each test is a row with its outcome in every run; each of its figures a row with its values
and a small inline SVG chart across the runs. A value worse than the run before (a
watched figure beyond the tolerance, or a benchmark's figure against its target's
direction), a missed target and a regression are highlighted. Plain markup and an inline
style sheet: no script, nothing fetched, so the page opens offline as a CI artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import PurePath

from nodemcu_hil.compare import BROKEN, JUDGED, MISSING, REGRESSION, SAME, FigureTrend, Trend

CHART_W, CHART_H, PAD = 170, 44, 6
FACTS_SHOWN = ("when", "mode", "board", "image", "image_sha256", "firmware_tree_sha256", "harness_version",
               "micropython")
STYLE = """
body{font-family:sans-serif;font-size:13px;color:#222;margin:16px}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:middle}
th{background:#f3f3f3}.test td{border-top:2px solid #ccc;font-weight:bold}.fig td:first-child{padding-left:24px}
.results td:first-child{max-width:480px;overflow-wrap:anywhere}
.passed{color:#1a7f37}.failed,.error{color:#cf222e}.skipped,.missing{color:#888}
.bad{background:#ffebe9;color:#a40e26;font-weight:bold}.miss{outline:2px solid #d4a72c}
.num{font-family:monospace;text-align:right}.mono{font-family:monospace}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def chart(figure: FigureTrend, labels: Sequence[str]) -> str:
    """The figure's values across the runs as a line with a dot per run; a dot worse than
    the run before is red, one that missed its target ringed."""
    known = [v for v in figure.values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (CHART_W - 2 * PAD) / max(len(figure.values) - 1, 1)

    def point(index: int, value: float) -> tuple[float, float]:
        return PAD + index * step, CHART_H - PAD - (value - low) / span * (CHART_H - 2 * PAD)

    dots, path, pen_down = [], [], False
    for index, value in enumerate(figure.values):
        if value is None:
            pen_down = False
            continue
        x, y = point(index, value)
        path.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
        worse, missed = figure.worse[index], figure.missed[index]
        note = " (worse than the run before)" if worse else ""
        note += " (missed its target)" if missed else ""
        dots.append(f'<circle class="{"worse" if worse else "ok"}{" missed" if missed else ""}" cx="{x:.1f}" '
                    f'cy="{y:.1f}" r="{4 if worse or missed else 3}" fill="{"#cf222e" if worse else "#0969da"}" '
                    f'stroke="{"#d4a72c" if missed else "none"}" stroke-width="2">'
                    f'<title>{_e(f"{labels[index]}: {_value(value)}{note}")}</title></circle>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{CHART_W}" height="{CHART_H}" '
            f'viewBox="0 0 {CHART_W} {CHART_H}" role="img"><title>{_e(figure.name)}</title>'
            f'<path d="{" ".join(path)}" fill="none" stroke="#57606a" stroke-width="1.2"/>{"".join(dots)}</svg>')


def _outcome_cell(outcome: str | None, verdict: str, label: str) -> str:
    shown = "missing" if outcome is None else outcome
    bad = verdict in (REGRESSION, MISSING)
    said = f"{verdict.removesuffix(' in B')} in {label}" if verdict else ""
    return f'<td class="{_e(shown)}{" bad" if bad else ""}" title="{_e(said)}">{_e(shown)}</td>'


def _figure_row(figure: FigureTrend, labels: Sequence[str]) -> str:
    cells = "".join(f'<td class="num{" bad" if worse else ""}{" miss" if missed else ""}">{_value(value)}</td>'
                    for value, worse, missed in zip(figure.values, figure.worse, figure.missed))
    return f'<tr class="fig"><td>{_e(figure.name)}</td>{cells}<td>{chart(figure, labels)}</td></tr>'


def _facts_table(labels: Sequence[str], names: Sequence[str], facts: Sequence[Mapping[str, str]]) -> str:
    keys = [key for key in FACTS_SHOWN if any(key in f for f in facts)]
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    rows = ["<tr><td>file</td>" + "".join(f'<td class="mono" title="{_e(name)}">{_e(PurePath(name).name)}</td>'
                                          for name in names) + "</tr>"]
    for key in keys:
        values = [f.get(key, "-") for f in facts]
        rows.append(f"<tr><td>{_e(key)}</td>"
                    + "".join(f'<td class="mono" title="{_e(v)}">{_e(v[:16] + "…" if len(v) > 20 else v)}</td>'
                              for v in values) + "</tr>")
    return f'<table class="runs"><tr><th>run</th>{head}</tr>{"".join(rows)}</table>'


def render(trends: Sequence[Trend], names: Sequence[str], facts: Sequence[Mapping[str, str]]) -> str:
    """The whole page: the runs and their facts, the last run's verdict, then test by test."""
    labels = [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(len(names))]
    last = [t for t in trends if t.verdicts[-1] in JUDGED]
    worse_anywhere = sum(any(v in JUDGED for v in t.verdicts) for t in trends)
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    rows = []
    for trend in trends:
        latest = next((i for i in reversed(range(len(trend.verdicts))) if trend.verdicts[i] not in ("", SAME)), None)
        verdict = "" if latest is None else f"{trend.verdicts[latest].removesuffix(' in B')} in {labels[latest]}"
        cells = "".join(_outcome_cell(o, v, label) for o, v, label in zip(trend.outcomes, trend.verdicts, labels))
        rows.append(f'<tr class="test"><td class="mono">{_e(trend.test_id)}</td>{cells}'
                    f'<td class="{"bad" if trend.verdicts[-1] in JUDGED else ""}">{_e(verdict)}</td></tr>')
        rows += [_figure_row(figure, labels) for figure in trend.figures]
    regressions = "".join(f"<li class=mono>{_e(t.test_id)}: {_e(t.verdicts[-1])}</li>" for t in last)
    broken = sum(t.outcomes[-1] in BROKEN for t in trends)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>hil compare</title>"
            f"<style>{STYLE}</style></head><body><h1>hil compare: {len(names)} runs</h1>"
            f"{_facts_table(labels, names, facts)}"
            f'<h2 class="{"bad" if last else ""}">{len(last)} regression(s) in {labels[-1]} against {labels[-2]}</h2>'
            f"<ul>{regressions}</ul><p>{broken} test(s) failed or errored in {labels[-1]}; "
            f"{worse_anywhere} test(s) regressed somewhere in the series. Red: worse than the run before; "
            f"ringed: missed its target.</p>"
            f'<table class="results"><tr><th>test / figure</th>{head}<th>verdict / trend</th></tr>{"".join(rows)}</table>'
            f"</body></html>")
