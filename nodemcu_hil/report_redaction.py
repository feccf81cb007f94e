"""Masking secrets in a pytest report before any reporter (terminal, JUnit, HTML) sees it.

A failing assertion can quote a Wi-Fi password, a captured print can contain the device
config, a recorded property can hold anything. Every text a report carries is redacted
here, in the process that ran the test, so xdist workers send nothing unmasked either.
A failure whose text held a secret loses pytest's structured traceback (it becomes plain
text); failures without secrets keep it untouched. Every spelling of a secret
(`nodemcu_hil.secrets.variants`: JSON, reprs, URL-encoded ...) is masked, not only the raw one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from nodemcu_hil.config import SETTINGS
from nodemcu_hil.secrets import redact, remember, remembered, reveal, secrets_in
from nodemcu_hil.stash import session_settings

ERROR_LINE_PREFIX = "E "  # pytest's marker for the lines of an assertion explanation


@dataclass(frozen=True)
class CrashLine:
    """Stands in for pytest's ReprFileLocation: where it failed and the one-line reason."""

    path: str
    lineno: int
    message: str


class RedactedRepr:
    """A failure's text with secrets masked, in place of pytest's structured repr."""

    def __init__(self, text: str, reprcrash: CrashLine | None):
        self.text = text
        self.reprcrash = reprcrash

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            error = line.startswith(ERROR_LINE_PREFIX)
            tw.line(line, red=error, bold=error)

    def __str__(self) -> str:
        return self.text


def secret_values(config: pytest.Config, item: pytest.Item | None = None) -> list[str]:
    """Every secret this run knows: resolved settings, the environment, `hil_settings` markers,
    and any other the process resolved; each is remembered for the timeline and console logs."""
    values: list[object] = list(remembered())
    settings = session_settings(config)
    if settings is not None:
        values += secrets_in(settings.as_mapping())
    secret_settings = [setting for setting in SETTINGS if setting.secret]
    values += [os.environ.get(setting.env) for setting in secret_settings]
    if item is not None:
        names = {setting.name for setting in secret_settings}
        for marker in item.iter_markers("hil_settings"):
            values += [value for name, value in marker.kwargs.items() if name in names]
    found = sorted({reveal(v) for v in values if isinstance(v, str) and reveal(v)})
    remember(*found)
    return found


def masker(secrets: Iterable[str]) -> Callable[[str], str]:
    values = list(secrets)
    return lambda text: redact(text, values) if values else text


def _masked_value(value: object, mask: Callable[[str], str]) -> object:
    """A recorded value masked; a figure (int, float) with nothing to mask keeps its type."""
    if isinstance(value, str):
        return mask(value)
    text = str(value)  # what JUnit writes, e.g. b'caf\xc3\xa9' for bytes
    masked = mask(text)
    return value if masked == text else masked


def _masked_extra(extra: object, mask: Callable[[str], str]) -> object:
    """A pytest-html extra with its text content masked (images are left alone)."""
    if isinstance(extra, dict) and isinstance(extra.get("content"), str) and extra.get("format_type") != "image":
        return {**extra, "content": mask(extra["content"]), "name": _masked_value(extra.get("name"), mask)}
    return extra


def redact_report(report: pytest.BaseReport, mask: Callable[[str], str]) -> None:
    """Mask secrets in the report's failure text, sections, recorded properties and extras."""
    report.sections = [(title, mask(content)) for title, content in report.sections]
    if hasattr(report, "user_properties"):  # test reports; collect reports have none
        report.user_properties = [(name, _masked_value(value, mask)) for name, value in report.user_properties]
    if getattr(report, "extras", None):
        report.extras = [_masked_extra(extra, mask) for extra in report.extras]
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = mask(report.wasxfail)
    longrepr = report.longrepr
    if longrepr is None or isinstance(longrepr, str):
        report.longrepr = None if longrepr is None else mask(longrepr)
    elif isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        path, lineno, reason = longrepr
        report.longrepr = (path, lineno, mask(reason))
    else:
        text = report.longreprtext
        masked = mask(text)
        if masked != text:
            crash = getattr(longrepr, "reprcrash", None)
            report.longrepr = RedactedRepr(masked, None if crash is None else
                                           CrashLine(str(crash.path), crash.lineno, mask(crash.message)))
