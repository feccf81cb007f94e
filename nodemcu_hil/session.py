"""What the pytest plugin does at start-up, behind its hooks: settings, board source, reports.

Nothing here starts a board, a broker or a process: resolving settings and choosing the
board source only read the command line, the environment, the ini file and `boards.toml`. The
report hooks (redaction, timelines) are always installed; the default report files only
when the report directory was given (see `nodemcu_hil.reporting`).
"""

from __future__ import annotations

import os

import pytest

from nodemcu_hil import reporting
from nodemcu_hil import config as hil_config
from nodemcu_hil.errors import HilError
from nodemcu_hil.sources import choose_source
from nodemcu_hil.stash import SETTINGS_KEY, SOURCE_KEY
from nodemcu_hil.workers import worker_count

HEADER_SETTINGS = ("boards_file", "flash_baud", "broker_bind", "wifi_ssid", "wifi_password", "gpio_backend")


def given_cli(config: pytest.Config) -> dict[str, str]:
    return {s.name: value for s in hil_config.public_settings()
            if (value := config.getoption(s.ini)) is not None}


def given_ini(config: pytest.Config) -> dict[str, str]:
    return {s.name: value for s in hil_config.public_settings()
            if (value := config.getini(s.ini)) not in (None, "", [])}


def resolve_settings(config: pytest.Config) -> hil_config.Settings:
    return hil_config.resolve(cli=given_cli(config), env=os.environ, ini=given_ini(config))


def start(config: pytest.Config) -> None:
    """Resolve the settings and choose the board source (a bad value stops the run here,
    naming its source), keep both in the stash and install the report hooks.

    The broker's address is worked out here too: on a rig, hil_broker_bind=auto on a host
    on several networks stops the run before any board is touched."""
    try:
        settings = resolve_settings(config)
        source = choose_source(settings)
        source.check_workers(worker_count(config))
        source.broker_address(settings)
    except HilError as exc:
        raise pytest.UsageError(f"hil: {exc}") from None
    config.stash[SETTINGS_KEY] = settings
    config.stash[SOURCE_KEY] = source
    reporting.install(config, settings.report_dir,
                      default_files=settings.source_of("report_dir") != hil_config.SOURCE_DEFAULT)


def marker_settings(settings: hil_config.Settings, item: pytest.Item) -> hil_config.Settings:
    """The session's settings with the item's `hil_settings` markers applied, closest last."""
    for marker in reversed(list(item.iter_markers("hil_settings"))):
        settings = settings.with_overrides(marker.kwargs)
    return settings


def check_markers(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A bad `hil_settings` marker stops the run at start-up, not when its test comes up."""
    if SETTINGS_KEY not in config.stash:
        return
    for item in items:
        try:
            marker_settings(config.stash[SETTINGS_KEY], item)
        except HilError as exc:
            raise pytest.UsageError(f"hil: hil_settings marker on {item.nodeid}: {exc}") from None


def header(config: pytest.Config) -> list[str]:
    if SOURCE_KEY not in config.stash:
        return []
    settings = config.stash[SETTINGS_KEY]
    return [f"hil: {config.stash[SOURCE_KEY].describe()}",
            "hil: " + ", ".join(settings.describe(name) for name in HEADER_SETTINGS)]
