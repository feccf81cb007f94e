"""Reports that show what happened: one timeline per test, its boards, no secrets.

Every test report gets the slice of the session timeline from the test's setup start to
the end of that phase, merged with the broker's messages, as a report section `timeline`
(shown by the terminal on failure and by pytest-html in the test's log). The teardown
report carries the whole window as the JUnit property `timeline` and, in the HTML report,
as a swimlane picture (`nodemcu_hil.report_svg`) with the text beside it, and the
fingerprint of each board the test used as properties (`board`, `mac`, `flash_id`,
`micropython_version`, `free_heap`). Secrets are masked in all of it, and in failure
texts, captured output and recorded properties, before any reporter sees the report.

The run's facts (mode, boards, image, firmware tree, harness version, settings and their
sources: `nodemcu_hil.run_facts`) travel on teardown reports from wherever the boards are
(an xdist worker) to the process that writes the reports, which puts them at the top of
the HTML report and into the JUnit testsuite's properties (`nodemcu_hil.report_facts`).

Default report files: when the report directory is given (`--hil-report-dir`,
`HIL_REPORT_DIR` or the `hil_report_dir` ini key), a run writes `<report_dir>/junit.xml` and
a self-contained `<report_dir>/report.html` unless the command line names other files.
When it is not given, the HIL plugin writes no report file of its own accord: a project
that merely has the plugin installed gets no `reports/` directory (the serial logs of the
boards a test brings up still go to `<report_dir>/serial/`). The HIL plugin calls
`install(config, ..., default_files=...)` from its `pytest_configure`;
`-p nodemcu_hil.reporting` loads this module on its own, which asks for the default files.
"""

from __future__ import annotations

import html
import os
import tempfile
import time
from pathlib import Path

import pytest
from _pytest.junitxml import xml_key

from nodemcu_hil import report_facts, report_svg, run_facts
from nodemcu_hil.config import SETTINGS_BY_NAME, SOURCE_DEFAULT, SOURCE_ENV, describe_source
from nodemcu_hil.evidence import (boards_used, fingerprint_lines, fingerprint_properties, render_events,
                               window_events)
from nodemcu_hil.report_redaction import masker, redact_report, secret_values
from nodemcu_hil.stash import (BOARDS_USED_KEY, BROKER_LOG_KEY, FINGERPRINTS_KEY, PHASE_STARTS_KEY, TIMELINE_KEY,
                               session_settings)

PLUGIN_NAME = "hil-reporting"
SECTION = "timeline"
TEARDOWN_SECTION = "timeline teardown"  # pytest-html appends "teardown" sections to the test's log
TIMELINE_PROPERTY = "timeline"
JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"
BOARD_FIXTURES = ("board", "flashed", "deployed")


def note_board(item: pytest.Item, name: str) -> None:
    """Record that the test `item` used board `name` (from a function-scoped fixture)."""
    used = item.stash.setdefault(BOARDS_USED_KEY, [])
    if name not in used:
        used.append(name)


class ReportPlugin:
    """The hooks: phase start times, then redaction and evidence on every report."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.facts = run_facts.RunFacts()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[PHASE_STARTS_KEY] = {"setup": time.monotonic()}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        item.stash.setdefault(PHASE_STARTS_KEY, {})["call"] = time.monotonic()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        item.stash.setdefault(PHASE_STARTS_KEY, {})["teardown"] = time.monotonic()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        mask = masker(secret_values(self.config, item))
        redact_report(report, mask)
        self._attach_evidence(item, report, mask)
        if report.when == "teardown":
            self._attach_run_facts(item, report, mask)
        return report

    def _attach_run_facts(self, item: pytest.Item, report: pytest.TestReport, mask) -> None:
        """The facts of the boards this process brought up, as plain JSON on a teardown report:
        the way they reach an xdist controller (`pytest_runtest_logreport` below). Each board's
        fingerprint, and for the boards this test holds (its fixtures' values), their record,
        image and firmware tree; a board whose bring-up failed still has its fingerprint."""
        settings = session_settings(self.config)
        firmware_dir = None if settings is None else self.config.rootpath / settings.firmware_dir
        funcargs = getattr(item, "funcargs", None) or {}
        held = [funcargs[name] for name in BOARD_FIXTURES
                if hasattr(funcargs.get(name), "record") and hasattr(funcargs.get(name), "facts")]
        gathered = {name: dict(facts) for name, facts in self.config.stash.get(FINGERPRINTS_KEY, {}).items()}
        for board in held:
            gathered.setdefault(board.name, {}).update(run_facts.board_facts(board, firmware_dir))
        carried = {name: {key: value if isinstance(value, (int, float)) else mask(str(value))
                          for key, value in facts.items() if isinstance(value, (str, int, float))}
                   for name, facts in gathered.items()}
        if carried:
            setattr(report, run_facts.RUN_FACTS_ATTR, carried)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.facts.add(getattr(report, run_facts.RUN_FACTS_ATTR, None))

    def _facts_parts(self):
        settings = session_settings(self.config)
        mask = masker(secret_values(self.config))
        return self.facts.run_level(settings), run_facts.setting_rows(settings), mask

    @pytest.hookimpl(tryfirst=True)  # before junitxml and pytest-html write their files
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput") or session_settings(self.config) is None:
            return
        self._lead_html_environment()
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        run_level, settings, mask = self._facts_parts()
        for name, value in report_facts.junit_properties(self.facts, run_level, settings, mask):
            xml.add_global_property(name, value)

    def _lead_html_environment(self) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pytest-html without pytest-metadata: no Environment table
            return
        environment = self.config.stash.get(metadata_key, None)
        if environment is not None:
            run_level, _, mask = self._facts_parts()
            report_facts.lead_environment(environment, report_facts.environment_rows(self.facts, run_level, mask))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list, summary: list, postfix: list, session) -> None:
        """The run's facts at the top of the HTML report (pytest-html calls this at the end)."""
        if session_settings(self.config) is None:
            return
        prefix.append(report_facts.html_section(self.facts, *self._facts_parts()))

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):
        """A module that fails to import can quote a secret too (a conftest, a parametrize id)."""
        report = yield
        if report.failed:
            redact_report(report, masker(secret_values(self.config)))
        return report

    def _attach_evidence(self, item: pytest.Item, report: pytest.TestReport, mask) -> None:
        starts = item.stash.get(PHASE_STARTS_KEY, {})
        origin = starts.get("setup")
        timeline = self.config.stash.get(TIMELINE_KEY, None)
        messages = self.config.stash.get(BROKER_LOG_KEY, None)
        if origin is None or (timeline is None and messages is None):
            return
        events = window_events(timeline, messages, origin, time.monotonic())
        fingerprints = self.config.stash.get(FINGERPRINTS_KEY, {})
        boards = boards_used(item.stash.get(BOARDS_USED_KEY, []), events, fingerprints,
                             uses_board_fixture=any(name in item.fixturenames for name in BOARD_FIXTURES))
        header = [mask(line) for line in fingerprint_lines(boards, fingerprints)]
        whole = "\n".join(header + [render_events(events, origin, mask)]).strip("\n")
        if report.when != "teardown":
            if whole:
                report.sections.append((SECTION, whole + "\n"))
            return
        if report.passed:
            teardown_start = starts.get("teardown", origin)
            own = render_events([e for e in events if e.at >= teardown_start], origin, mask)
            if own:
                report.sections.append((TEARDOWN_SECTION, own + "\n"))
        elif whole:
            report.sections.append((SECTION, whole + "\n"))
        recorded = {name for name, _ in report.user_properties}  # the test's own figures win
        report.user_properties += [(name, mask(str(value)))
                                   for name, value in fingerprint_properties(boards, fingerprints)
                                   if name not in recorded]
        if whole:
            report.user_properties.append((TIMELINE_PROPERTY, whole))
            phases = {name: at for name, at in starts.items() if name != "setup"}
            picture = report_svg.render(events, origin, mask, phases=phases, title=f"timeline of {item.nodeid}")
            self._add_html_extra(report, whole, picture, mask)

    def _add_html_extra(self, report: pytest.TestReport, text: str, picture: str, mask) -> None:
        """The swimlane picture with the text timeline beside it (a browser will not open
        the text extra's data: link in a new tab, so the text is inline too)."""
        if not getattr(self.config.option, "htmlpath", None):
            return
        from pytest_html import extras

        inline = mask(f'<div class="hil-evidence">{picture}<details><summary>timeline as text '
                      f'({text.count(chr(10)) + 1} lines)</summary><pre>{html.escape(text)}</pre></details></div>')
        report.extras = [*getattr(report, "extras", []), extras.html(inline), extras.text(text, name=SECTION)]


def default_report_dir(config: pytest.Config) -> Path:
    settings = session_settings(config)
    if settings is not None:
        return settings.report_dir
    setting = SETTINGS_BY_NAME["report_dir"]
    return setting.parse(os.environ[setting.env]) if setting.env in os.environ else setting.default


def check_report_dir(config: pytest.Config, report_dir: Path) -> None:
    """Create the report directory and write in it now: failing at the end was an INTERNALERROR."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report_dir, prefix=".hil-write-check-"):
            pass
    except OSError as exc:
        setting = SETTINGS_BY_NAME["report_dir"]
        settings = session_settings(config)
        source = (settings.source_of("report_dir") if settings is not None
                  else SOURCE_ENV if setting.env in os.environ else SOURCE_DEFAULT)
        raise pytest.UsageError(
            f"hil: setting report_dir: cannot write reports to {report_dir} (from "
            f"{describe_source(setting, source)}): {exc.strerror or exc}: choose a writable directory "
            f"with hil_report_dir ({setting.option}, {setting.env})") from None


def apply_report_defaults(config: pytest.Config, report_dir: Path | None) -> None:
    """`<report_dir>/junit.xml` and `<report_dir>/report.html` unless the user named files.

    Must run before the junitxml and pytest-html plugins configure themselves, i.e. from a
    `tryfirst` `pytest_configure`.
    """
    if report_dir is None:
        return
    option = config.option
    if getattr(option, "xmlpath", None) is None:
        option.xmlpath = str(report_dir / JUNIT_FILE)
    if hasattr(option, "htmlpath") and not option.htmlpath:
        option.htmlpath = str(report_dir / HTML_FILE)
        option.self_contained_html = True


def install(config: pytest.Config, report_dir: Path | None = None, *, default_files: bool = True) -> ReportPlugin:
    """Register the report hooks once; with `default_files`, also check the report directory
    and make `<report_dir>/junit.xml` and `report.html` the default report files."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if existing is not None:
        return existing
    if default_files:
        report_dir = report_dir if report_dir is not None else default_report_dir(config)
        option = config.option
        if (session_settings(config) is not None or getattr(option, "xmlpath", None) is None
                or (hasattr(option, "htmlpath") and not option.htmlpath)):  # serial logs, JUnit or HTML go there
            check_report_dir(config, report_dir)
        apply_report_defaults(config, report_dir)
    plugin = ReportPlugin(config)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    return plugin


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    install(config)
