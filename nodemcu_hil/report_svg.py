"""A test's timeline as a swimlane picture: one inline SVG string, drawn by the harness.

The HTML report must stay one file that opens offline as a CI artifact, so the picture is
plain SVG markup: no script, no font, no image or style sheet fetched at view time (only
generic font families). Each lane is one row (`nodemcu_hil.report_lanes` decides which),
each event a tick whose hover text (`<title>`) is the line itself; events closer than a
couple of pixels in one lane share a tick, and its hover text lists them. Resets are
dashed lines across every lane, outages and reconnect gaps shaded bands, wills, dropped
links and errors coloured marks. Every text is masked by the caller's `redact` before it is
escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

from nodemcu_hil.report_lanes import DROP, ERROR, EVENT, GAP, LOSS, OUTAGE, RANK, WILL, Band, Mark, picture
from nodemcu_hil.timeline import Event

LABEL_W, PLOT_W, LANE_H, TOP, BOTTOM = 230, 820, 18, 34, 46
BIN_PX = 2.0  # events closer than this in one lane share one tick
TITLE_LINES = 12  # lines of a shared tick's hover text before "... and N more"
LABEL_CHARS = 34
FONT = "font-family:sans-serif;font-size:11px"
COLOURS = {"harness": "#666666", "world": "#228833", "broker": "#aa3377", "console": "#4477aa",
           "MQTT ↑": "#ee7733", "MQTT ↓": "#0077bb"}
KIND_COLOURS = {LOSS: "#ee6677", DROP: "#cc3311", WILL: "#aa00aa", ERROR: "#cc0000"}
BAND_STYLE = {OUTAGE: 'fill="#ffcc00" fill-opacity="0.22"',
              GAP: 'fill="#ee6677" fill-opacity="0.16" stroke="#cc3311" stroke-dasharray="4 3"'}
LEGEND = ((EVENT, "event"), (ERROR, "error"), (WILL, "will"), (DROP, "link dropped"), (LOSS, "link lost"),
          ("reset", "reset"), (OUTAGE, "outage"), (GAP, "reconnect gap"))


def _e(text: str) -> str:
    return escape(text, quote=True)


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def _lane_colour(lane: str) -> str:
    return next((colour for prefix, colour in COLOURS.items() if lane.startswith(prefix)), "#666666")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else "…" + label[-(LABEL_CHARS - 1):]


class _Scale:
    def __init__(self, start: float, end: float):
        self.start, self.span = start, max(end - start, 1e-3)

    def x(self, at: float) -> float:
        return LABEL_W + (at - self.start) / self.span * PLOT_W


def _hover(marks: Sequence[Mark]) -> str:
    lines = [mark.text for mark in marks[:TITLE_LINES]]
    if len(marks) > TITLE_LINES:
        lines.append(f"... and {len(marks) - TITLE_LINES} more")
    return "\n".join(lines)


def _ticks(marks: Sequence[Mark], scale: _Scale, colours: Sequence[str]) -> list[str]:
    bins: dict[tuple[int, int], list[Mark]] = {}
    for mark in marks:
        bins.setdefault((mark.lane, int(scale.x(mark.at) / BIN_PX)), []).append(mark)
    out = []
    for (lane, _), members in bins.items():
        kind = max((mark.kind for mark in members), key=RANK.__getitem__)
        x, y = scale.x(members[0].at), TOP + lane * LANE_H
        colour = KIND_COLOURS.get(kind, colours[lane])
        tall = kind != EVENT
        shape = (f'<path d="M{x:.1f} {y + 2} l5 7 l-5 7 l-5 -7 z" fill="{colour}"/>' if kind == WILL else
                 f'<rect x="{x - 1:.1f}" y="{y + (1 if tall else 4)}" width="{3 if tall else 2}" '
                 f'height="{LANE_H - (2 if tall else 8)}" fill="{colour}"/>')
        out.append(f'<g class="ev {kind}" data-n="{len(members)}"><title>{_e(_hover(members))}</title>{shape}</g>')
    return out


def _band(band: Band, scale: _Scale, bottom: float, end: float) -> str:
    x0, x1 = scale.x(band.start), scale.x(band.end if band.end is not None else end)
    label_x = min(x0 + 2, LABEL_W + PLOT_W - 6 * len(band.label))  # a label at the right edge stays inside
    label_y = TOP - 4 if band.kind == GAP else TOP - 15  # gaps and outages often start together
    return (f'<g class="band {band.kind}"><title>{_e(band.label)}</title>'
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 2):.1f}" height="{bottom - TOP}" '
            f'{BAND_STYLE[band.kind]}/>'
            f'<text x="{label_x:.1f}" y="{label_y}" style="{FONT}" fill="#333">{_e(band.label)}</text></g>')


def _resets(resets: Sequence[Mark], scale: _Scale, bottom: float) -> list[str]:
    out, last = [], -1e9
    for mark in resets:
        x = scale.x(mark.at)
        if x - last < 4:
            continue
        last = x
        out.append(f'<g class="reset"><title>{_e(mark.text)}</title>'
                   f'<line x1="{x:.1f}" y1="{TOP - 2}" x2="{x:.1f}" y2="{bottom}" stroke="#886600" '
                   f'stroke-width="1.5" stroke-dasharray="3 2"/></g>')
    return out


def _axis(scale: _Scale, bottom: float, origin: float, phases: Mapping[str, float]) -> list[str]:
    step = _nice_step(scale.span)
    out = [f'<line x1="{LABEL_W}" y1="{bottom}" x2="{LABEL_W + PLOT_W}" y2="{bottom}" stroke="#999"/>']
    first = math.ceil((scale.start - origin) / step) * step
    for index in range(int(scale.span / step) + 2):
        seconds = first + index * step
        x = scale.x(origin + seconds)
        if x > LABEL_W + PLOT_W + 0.5:
            break
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom + 3}" stroke="#e4e4e4"/>'
                   f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" style="{FONT}" fill="#555">'
                   f'{seconds:g} s</text>')
    for name, at in phases.items():
        x = scale.x(at)
        out.append(f'<g class="phase"><line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#555" '
                   f'stroke-width="0.6"/><text x="{x + 2:.1f}" y="{bottom - 3}" style="{FONT}" fill="#555">'
                   f'{_e(name)}</text></g>')
    return out


def _legend(y: float) -> list[str]:
    out, x = [], LABEL_W
    for kind, label in LEGEND:
        colour = KIND_COLOURS.get(kind, {"reset": "#886600", OUTAGE: "#ffcc00", GAP: "#ee6677"}.get(kind, "#4477aa"))
        out.append(f'<rect x="{x}" y="{y - 8}" width="8" height="8" fill="{colour}"/>'
                   f'<text x="{x + 11}" y="{y}" style="{FONT}" fill="#333">{_e(label)}</text>')
        x += 20 + 7 * len(label)
    out.append(f'<text x="{x}" y="{y}" style="{FONT}" fill="#333">MQTT ↑ from the board, ↓ to it</text>')
    return out


def render(events: Sequence[Event], origin: float, redact: Callable[[str], str] = lambda text: text, *,
           phases: Mapping[str, float] | None = None, title: str = "timeline") -> str:
    """The window of `events` (time-sorted) as one `<svg>` element; '' when it is empty.

    The axis counts seconds from `origin` (the test's setup start); `phases` maps a phase
    name to its start ("call", "teardown"), drawn as thin lines.
    """
    if not events:
        return ""
    shown = picture(events, origin, redact)
    start, end = min(origin, events[0].at), events[-1].at
    scale = _Scale(start, end)
    bottom = TOP + len(shown.lanes) * LANE_H
    height, width = bottom + BOTTOM, LABEL_W + PLOT_W + 10
    colours = [_lane_colour(lane) for lane in shown.lanes]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="hil-timeline" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" style="max-width:100%;height:auto;background:#fff" '
             f'data-events="{len(events)}" data-lanes="{len(shown.lanes)}"><title>{_e(redact(title))}</title>']
    for index, lane in enumerate(shown.lanes):
        y = TOP + index * LANE_H
        parts.append(f'<g class="lane"><title>{_e(lane)}</title>'
                     f'<rect x="0" y="{y}" width="{width}" height="{LANE_H}" fill="{"#f7f7f7" if index % 2 else "#fff"}"/>'
                     f'<text x="4" y="{y + 13}" style="{FONT}" fill="{colours[index]}">{_e(_short(lane))}</text></g>')
    parts += _axis(scale, bottom, origin, {name: at for name, at in (phases or {}).items() if start <= at <= end})
    parts += [_band(band, scale, bottom, end) for band in shown.bands]
    parts += _resets(shown.resets, scale, bottom)
    parts += _ticks(shown.marks, scale, colours)
    parts += _legend(height - 6)
    parts.append("</svg>")
    return "".join(parts)
