"""pytest plugin: options, ini keys, markers and fixtures over the harness drivers.

No logic lives here: settings come from `config`, board choice from `assignment`,
leases from `lease`. Each fixture is a few lines over one of those.
"""

from __future__ import annotations

import os

import pytest

from nodemcu_hil import assignment, bringup, reporting
from nodemcu_hil import config as hil_config
from nodemcu_hil.board import Board
from nodemcu_hil.broker import HilBroker
from nodemcu_hil.errors import HilError
from nodemcu_hil.mqtt import MqttClient
from nodemcu_hil.recovery import RUNG_SOFT_RESET, OutOfService
from nodemcu_hil.timeline import Timeline

SETTINGS_KEY = pytest.StashKey[hil_config.Settings]()
PLAN_KEY = pytest.StashKey[assignment.BoardPlan]()

MARKERS = (
    "hil: a hardware-in-the-loop test that needs a board (real or virtual)",
    "hil_settings(**settings): per-test overrides of harness settings (highest precedence)",
    "slow: takes more than a few seconds",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "ESP8266 hardware-in-the-loop harness")
    for setting in hil_config.public_settings():
        help_text = f"{setting.help} (env {setting.env}, ini {setting.ini}; default: {setting.default})"
        if setting.parse is hil_config.parse_bool:
            group.addoption(setting.option, dest=setting.ini, action="store_const", const="true",
                            default=None, help=help_text)
        else:
            group.addoption(setting.option, dest=setting.ini, default=None, metavar=setting.name.upper(),
                            help=help_text)
        parser.addini(setting.ini, setting.help, default=None)


def _given_cli(pytest_config: pytest.Config) -> dict[str, str]:
    return {s.name: value for s in hil_config.public_settings()
            if (value := pytest_config.getoption(s.ini)) is not None}


def _given_ini(pytest_config: pytest.Config) -> dict[str, str]:
    return {s.name: value for s in hil_config.public_settings()
            if (value := pytest_config.getini(s.ini)) not in (None, "", [])}


def resolve_settings(pytest_config: pytest.Config) -> hil_config.Settings:
    return hil_config.resolve(cli=_given_cli(pytest_config), env=os.environ, ini=_given_ini(pytest_config))


def worker_count(pytest_config: pytest.Config) -> int:
    workerinput = getattr(pytest_config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput["workercount"])
    return int(getattr(pytest_config.option, "numprocesses", 0) or 0) or 1


def worker_name(pytest_config: pytest.Config) -> str:
    workerinput = getattr(pytest_config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "gw0"


def worker_index(pytest_config: pytest.Config) -> int:
    return int(worker_name(pytest_config).removeprefix("gw"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        settings = resolve_settings(config)
        plan = assignment.plan_boards(settings)
        assignment.check_capacity(plan, worker_count(config))
    except HilError as exc:
        raise pytest.UsageError(f"hil: {exc}") from None
    config.stash[SETTINGS_KEY] = settings
    config.stash[PLAN_KEY] = plan
    reporting.install(config, settings.report_dir)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A bad `hil_settings` marker stops the run at start-up, not when its test comes up."""
    if SETTINGS_KEY not in config.stash:
        return
    for item in items:
        try:
            marker_settings(config.stash[SETTINGS_KEY], item)
        except HilError as exc:
            raise pytest.UsageError(f"hil: hil_settings marker on {item.nodeid}: {exc}") from None


def marker_settings(settings: hil_config.Settings, item: pytest.Item) -> hil_config.Settings:
    """The session's settings with the item's `hil_settings` markers applied, closest last."""
    for marker in reversed(list(item.iter_markers("hil_settings"))):
        settings = settings.with_overrides(marker.kwargs)
    return settings


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PLAN_KEY not in config.stash:
        return []
    settings = config.stash[SETTINGS_KEY]
    shown = ("boards_file", "flash_baud", "broker_bind", "wifi_ssid", "wifi_password", "gpio_backend")
    return [f"hil: {config.stash[PLAN_KEY].describe()}",
            "hil: " + ", ".join(settings.describe(name) for name in shown)]


@pytest.fixture(scope="session")
def hil_session_settings(pytestconfig: pytest.Config) -> hil_config.Settings:
    """Settings resolved from command line, environment and ini (no markers)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture
def hil_settings(request: pytest.FixtureRequest, hil_session_settings: hil_config.Settings) -> hil_config.Settings:
    """This test's settings: its `hil_settings(...)` markers beat every other source."""
    return marker_settings(hil_session_settings, request.node)


@pytest.fixture(scope="session")
def hil_board_plan(pytestconfig: pytest.Config) -> assignment.BoardPlan:
    return pytestconfig.stash[PLAN_KEY]


@pytest.fixture(scope="session")
def hil_leased_board(pytestconfig: pytest.Config, hil_board_plan, hil_session_settings):
    """The inventory record of this worker's board, leased for the whole session."""
    if hil_board_plan.mode != "hardware":
        pytest.skip("no real board in sim mode: virtual boards are leased by the sim fixtures")
    record, lease = assignment.lease_assigned_board(hil_board_plan, hil_session_settings,
                                                    worker_index(pytestconfig))
    with lease:
        yield record


# --- the board fixtures: each a few lines over nodemcu_hil.bringup --------------------------

@pytest.fixture(scope="session")
def hil_timeline(pytestconfig: pytest.Config) -> Timeline:
    """The session's one timeline: console lines, MQTT messages, harness actions."""
    return pytestconfig.stash.setdefault(reporting.TIMELINE_KEY, Timeline())


@pytest.fixture(scope="session")
def board(pytestconfig, hil_board_plan, hil_session_settings, hil_timeline, tmp_path_factory) -> Board:
    """This worker's board (leased real one, or a virtual one), identified, console attached."""
    with bringup.session_board(hil_board_plan, hil_session_settings, worker=worker_name(pytestconfig),
                               worker_index=worker_index(pytestconfig),
                               state_dir=tmp_path_factory.mktemp("boards"), timeline=hil_timeline) as leased:
        leased.facts.update(mac=leased.identity.mac)
        pytestconfig.stash.setdefault(reporting.FINGERPRINTS_KEY, {})[leased.name] = leased.facts
        yield leased


@pytest.fixture(scope="session")
def flashed(board, hil_board_plan, hil_session_settings, tmp_path_factory) -> Board:
    """The board flashed with the configured MicroPython image (skipped when already there)."""
    image = bringup.firmware_image_path(hil_session_settings, hil_board_plan, tmp_path_factory.mktemp("image"))
    outcome = bringup.flash_board(board, image, hil_session_settings)
    board.facts["flash"] = "skipped" if outcome.skipped else f"written at {outcome.baud} baud"
    return board


@pytest.fixture(scope="session")
def broker(pytestconfig, hil_board_plan, hil_session_settings, hil_timeline) -> HilBroker:
    """The in-process amqtt broker the firmware is configured to reach."""
    host = bringup.broker_bind_address(hil_session_settings, hil_board_plan.mode)
    with HilBroker(host, hil_session_settings.broker_port,
                   on_action=lambda text: hil_timeline.action("broker", text)) as running:
        pytestconfig.stash[reporting.BROKER_LOG_KEY] = running.messages
        yield running


@pytest.fixture(scope="session")
def hil_topic_prefix(pytestconfig, hil_session_settings) -> str:
    """Each worker's own topic namespace, so parallel boards never see each other."""
    return f"{hil_session_settings.topic_prefix}/{worker_name(pytestconfig)}"


@pytest.fixture(scope="session")
def deployed_once(pytestconfig, flashed, broker, hil_session_settings, hil_topic_prefix) -> Board:
    """The firmware tree (hil_firmware_dir, relative to the rootdir), its libraries and the
    config files that hil_device_config builds, synced once per session (as `hil deploy`)."""
    flashed.facts["deploy"] = bringup.deploy_board(flashed, hil_session_settings, broker.host, broker.port,
                                                   hil_topic_prefix, root=pytestconfig.rootpath).plan.summary()
    return flashed


@pytest.fixture
def deployed(pytestconfig, deployed_once, hil_settings, broker, hil_topic_prefix) -> Board:
    """The deployed firmware, with this test's settings, freshly soft-reset (boot.py, then
    main.py); an unresponsive board goes up the recovery ladder first, or fails the test."""
    try:
        how = bringup.restart_for_test(deployed_once, hil_settings, lambda: bringup.deploy_board(
            deployed_once, hil_settings, broker.host, broker.port, hil_topic_prefix, root=pytestconfig.rootpath))
    except OutOfService as exc:
        pytest.fail(str(exc), pytrace=False)
    if how != RUNG_SOFT_RESET:
        deployed_once.facts["recovered_by"] = how
    return deployed_once


@pytest.fixture
def mqtt(broker, hil_topic_prefix, pytestconfig) -> MqttClient:
    """A paho client on the broker, subscribed to this worker's namespace."""
    client = MqttClient(broker.host, broker.port, f"hil-test-{worker_name(pytestconfig)}")
    client.subscribe(f"{hil_topic_prefix}/#")
    yield client
    client.close()
