"""pytest plugin: options, ini keys, markers and fixtures over the harness drivers.

No logic lives here: start-up (settings, board source, report hooks) is `session`, where
boards come from `sources`, bring-up `bringup`, xdist workers `workers`, stash keys `stash`.
Each hook and fixture is a few lines over one of those. Loaded by the pytest11 entry point
wherever nodemcu-hil is installed, it starts nothing until a test asks for a HIL fixture,
and writes report files only when the report directory is given (`nodemcu_hil.reporting`).
"""

from __future__ import annotations

import pytest

from nodemcu_hil import bringup, reporting, session
from nodemcu_hil import config as hil_config
from nodemcu_hil.board import Board
from nodemcu_hil.broker import HilBroker
from nodemcu_hil.broker_security import session_security
from nodemcu_hil.mqtt import MqttClient
from nodemcu_hil.recovery import RUNG_SOFT_RESET, OutOfService
from nodemcu_hil.sources import BoardSource
from nodemcu_hil.stash import BROKER_LOG_KEY, FINGERPRINTS_KEY, SETTINGS_KEY, SOURCE_KEY, TIMELINE_KEY
from nodemcu_hil.timeline import Timeline
from nodemcu_hil.workers import worker_index, worker_name

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


@pytest.hookimpl(tryfirst=True)  # before junitxml and pytest-html read their report paths
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    session.start(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session.check_markers(config, items)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return session.header(config)


@pytest.fixture(scope="session")
def hil_session_settings(pytestconfig: pytest.Config) -> hil_config.Settings:
    """Settings resolved from command line, environment and ini (no markers)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture
def hil_settings(request: pytest.FixtureRequest, hil_session_settings: hil_config.Settings) -> hil_config.Settings:
    """This test's settings: its `hil_settings(...)` markers beat every other source."""
    return session.marker_settings(hil_session_settings, request.node)


@pytest.fixture(scope="session")
def hil_board_source(pytestconfig: pytest.Config) -> BoardSource:
    """Where this run's boards come from: virtual boards, boards.toml, or labgrid places."""
    return pytestconfig.stash[SOURCE_KEY]


@pytest.fixture(scope="session")
def hil_leased_board(pytestconfig: pytest.Config, hil_board_source, hil_session_settings):
    """The record of this worker's real board, held for the whole session (no bring-up)."""
    if not hil_board_source.records():
        pytest.skip(f"no board to lease from the {hil_board_source.kind} source: "
                    "virtual boards are started by the board fixture")
    with hil_board_source.lease(hil_session_settings, worker_index(pytestconfig)) as record:
        yield record


# --- the board fixtures: each a few lines over nodemcu_hil.bringup --------------------------

@pytest.fixture(scope="session")
def hil_timeline(pytestconfig: pytest.Config) -> Timeline:
    """The session's one timeline: console lines, MQTT messages, harness actions."""
    return pytestconfig.stash.setdefault(TIMELINE_KEY, Timeline())


@pytest.fixture(scope="session")
def board(pytestconfig, hil_board_source, hil_session_settings, hil_timeline, tmp_path_factory) -> Board:
    """This worker's board from the run's source, identified, console attached."""
    with bringup.session_board(hil_board_source, hil_session_settings, worker=worker_name(pytestconfig),
                               worker_index=worker_index(pytestconfig),
                               state_dir=tmp_path_factory.mktemp("boards"), timeline=hil_timeline) as leased:
        leased.facts.update(mac=leased.identity.mac)
        pytestconfig.stash.setdefault(FINGERPRINTS_KEY, {})[leased.name] = leased.facts
        yield leased


@pytest.fixture(scope="session")
def flashed(board, hil_board_source, hil_session_settings, tmp_path_factory) -> Board:
    """The board flashed with the configured MicroPython image (skipped when already there)."""
    image = bringup.firmware_image_path(hil_session_settings, hil_board_source, tmp_path_factory.mktemp("image"))
    outcome = bringup.flash_board(board, image, hil_session_settings)
    board.facts["flash"] = "skipped" if outcome.skipped else f"written at {outcome.baud} baud"
    return board


@pytest.fixture(scope="session")
def broker(pytestconfig, hil_board_source, hil_session_settings, hil_timeline, hil_topic_prefix) -> HilBroker:
    """The in-process amqtt broker the firmware is configured to reach: no anonymous client,
    the harness's credentials everywhere, the board's (generated, or the settings
    broker_user/broker_password) only under this worker's topic prefix."""
    host = hil_board_source.broker_address(hil_session_settings)
    security = session_security({worker_name(pytestconfig): hil_topic_prefix},
                                user=hil_session_settings.broker_user,
                                password=hil_session_settings.broker_password)
    with HilBroker(host, hil_session_settings.broker_port, security=security,
                   on_action=lambda text: hil_timeline.action("broker", text)) as running:
        pytestconfig.stash[BROKER_LOG_KEY] = running.messages
        yield running


@pytest.fixture(scope="session")
def hil_topic_prefix(pytestconfig, hil_session_settings) -> str:
    """Each worker's own topic namespace, so parallel boards never see each other."""
    return f"{hil_session_settings.topic_prefix}/{worker_name(pytestconfig)}"


@pytest.fixture(scope="session")
def deployed_once(pytestconfig, flashed, broker, hil_session_settings, hil_topic_prefix) -> Board:
    """The firmware tree (hil_firmware_dir, relative to the rootdir), its libraries and the
    config files that hil_device_config builds, synced once per session (as `hil deploy`)."""
    settings = bringup.with_broker_credentials(hil_session_settings, broker.security.board())
    flashed.facts["deploy"] = bringup.deploy_board(flashed, settings, broker.host, broker.port,
                                                   hil_topic_prefix, root=pytestconfig.rootpath).plan.summary()
    return flashed


@pytest.fixture
def deployed(request, pytestconfig, deployed_once, hil_settings, broker, hil_topic_prefix) -> Board:
    """The deployed firmware, with this test's settings, freshly soft-reset (boot.py, then
    main.py); an unresponsive board goes up the recovery ladder first, or fails the test."""
    reporting.note_board(request.node, deployed_once.name)
    try:
        settings = bringup.with_broker_credentials(hil_settings, broker.security.board())
        how = bringup.restart_for_test(deployed_once, settings, lambda: bringup.deploy_board(
            deployed_once, settings, broker.host, broker.port, hil_topic_prefix, root=pytestconfig.rootpath))
    except OutOfService as exc:
        pytest.fail(str(exc), pytrace=False)
    if how != RUNG_SOFT_RESET:
        deployed_once.facts["recovered_by"] = how
    return deployed_once


@pytest.fixture
def mqtt(broker, hil_topic_prefix, pytestconfig) -> MqttClient:
    """A paho client on the broker with the harness's credentials, subscribed to this
    worker's namespace."""
    harness = broker.security.harness
    client = MqttClient(broker.host, broker.port, f"hil-test-{worker_name(pytestconfig)}",
                        username=harness.username, password=harness.password)
    client.subscribe(f"{hil_topic_prefix}/#")
    yield client
    client.close()
