"""The run's facts where people look first: the top of the HTML report, JUnit properties.

`nodemcu_hil.run_facts` gathers them; this module only lays them out: an HTML section for
pytest-html's summary (plain markup with inline styles, nothing fetched) and flat
`(name, value)` pairs for the JUnit testsuite's properties (`record_testsuite_property`
semantics), named `hil.mode`, `hil.board.<name>.mac`, `hil.setting.<name>` .... Every value
passes the caller's `mask` on its way out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from nodemcu_hil.config import SOURCE_DEFAULT
from nodemcu_hil.run_facts import RunFacts, ordered

PREFIX = "hil"
CELL = 'style="padding:1px 10px 1px 0;text-align:left;vertical-align:top;font-family:monospace;color:#222"'
HEAD = 'style="padding:1px 10px 1px 0;text-align:left;font-weight:bold;color:#222"'
BOARD_COLUMNS = (("board", "name"), ("mac", "MAC"), ("port_kind", "port"), ("flash_size", "flash size"),
                 ("micropython_version", "MicroPython"), ("free_heap", "free heap"), ("flash", "flash"))

Mask = Callable[[str], str]


def junit_properties(facts: RunFacts, run_level: Sequence[tuple[str, object]],
                     settings: Sequence[tuple[str, str, str]], mask: Mask) -> list[tuple[str, str]]:
    props = [(f"{PREFIX}.{name}", str(value)) for name, value in run_level]
    for board, board_facts in facts.boards.items():
        props.append((f"{PREFIX}.board", board))
        props += [(f"{PREFIX}.board.{board}.{name}", str(value)) for name, value in ordered(board_facts)]
    props += [(f"{PREFIX}.setting.{name}", f"{value} ({source})") for name, value, source in settings]
    return [(mask(name), mask(value)) for name, value in props]


ENVIRONMENT_PREFIX = "HIL "


def environment_rows(facts: RunFacts, run_level: Sequence[tuple[str, object]], mask: Mask) -> list[tuple[str, str]]:
    """The first rows of pytest-html's Environment table, which a reader meets before
    Python and the plugins: the run, then one line per board."""
    rows = [(f"{ENVIRONMENT_PREFIX}{name.replace('_', ' ')}", str(value)) for name, value in run_level]
    for name, board in facts.boards.items():
        shown = ", ".join(f"{label} {board[key]}" for key, label in BOARD_COLUMNS[1:] if key in board)
        rows.append((f"{ENVIRONMENT_PREFIX}board {name}", shown or "-"))
    return [(mask(key), mask(value)) for key, value in rows]


def lead_environment(environment: dict, rows: Sequence[tuple[str, str]]) -> None:
    """Put `rows` first in pytest-metadata's dict, in place: pytest-html holds that very
    dict since the session started and writes it with the report at the end."""
    rest = [(key, value) for key, value in environment.items() if not str(key).startswith(ENVIRONMENT_PREFIX)]
    environment.clear()
    environment.update(rows)
    environment.update(rest)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], mask: Mask, css_class: str) -> str:
    head = "".join(f"<th {HEAD}>{escape(mask(str(cell)))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td {CELL}>{escape(mask(str(cell)))}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f'<table class="{css_class}" style="border-collapse:collapse;margin:4px 0 10px"><tr>{head}</tr>{body}</table>'


def html_section(facts: RunFacts, run_level: Sequence[tuple[str, object]],
                 settings: Sequence[tuple[str, str, str]], mask: Mask) -> str:
    """"Run facts": the run, its boards (one row each), the settings in force with their sources."""
    parts = ['<section class="hil-run-facts" style="margin:6px 0 14px">',
             "<h2>Run facts</h2>", _table(("fact", "value"), run_level, mask, "hil-run")]
    if facts.boards:
        rows = [[name] + [board.get(key, "-") for key, _ in BOARD_COLUMNS[1:]] for name, board in facts.boards.items()]
        parts.append(_table([label for _, label in BOARD_COLUMNS], rows, mask, "hil-boards"))
    else:
        parts.append("<p>No board was brought up in this run.</p>")
    if settings:
        given = [f"{name}={value} ({source})" for name, value, source in settings if source != SOURCE_DEFAULT]
        summary = f"settings in force ({len(settings)}, with their sources); not default: {', '.join(given) or 'none'}"
        parts.append(f"<details><summary>{escape(mask(summary))}</summary>"
                     + _table(("setting", "value", "source"), settings, mask, "hil-settings") + "</details>")
    parts.append("</section>")
    return "".join(parts)
