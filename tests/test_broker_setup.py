"""Issue 15, the set-up side: the board's broker credentials reach its config through every
builder, and a rig's broker binds to an interface chosen on purpose."""

from __future__ import annotations

import json

import ifaddr
import pytest

from fixtures.device_config import build
from nodemcu_hil import bind_address, bringup, config
from nodemcu_hil.broker_security import session_security
from nodemcu_hil.device_config import DeviceContext, build_files, generic_files
from nodemcu_hil.errors import ConfigError
from nodemcu_hil.inventory import BoardRecord
from nodemcu_hil.sources import LocalSource, VirtualSource

pytest_plugins = ["pytester"]


def device(settings: config.Settings) -> DeviceContext:
    return DeviceContext(settings=settings, broker_host="10.1.2.3", broker_port=1884, topic_prefix="hil/gw0")


@pytest.fixture
def security():
    return session_security({"gw0": "hil/gw0"})


@pytest.mark.parametrize("builder", [generic_files, build], ids=["generic_files", "fixtures.device_config.build"])
def test_the_boards_session_credentials_reach_its_config(builder, security):
    settings = bringup.with_broker_credentials(config.resolve(env={"HIL_WIFI_PASSWORD": "setup-wifi-pw-31"}), security.board())
    written = json.loads(builder(device(settings))["config.json"])
    assert written["broker_user"] == security.board().username == "hil-board-gw0"
    assert written["broker_password"] == security.board().password.reveal()
    assert security.board().password.reveal() in device(settings).secrets()  # masked in the deploy's output
    assert security.harness.password.reveal() not in json.dumps(written)  # the board never gets the harness's


def test_the_settings_credentials_are_the_boards_when_given():
    settings = config.resolve(env={"HIL_BROKER_USER": "rig-board", "HIL_BROKER_PASSWORD": "rig-pw"})
    security = session_security({"gw0": "hil/gw0"}, user=settings.broker_user, password=settings.broker_password)
    written = json.loads(build(device(bringup.with_broker_credentials(settings, security.board())))["config.json"])
    assert (written["broker_user"], written["broker_password"]) == ("rig-board", "rig-pw")


def test_a_tests_marker_still_hands_the_board_other_credentials(security):
    marked = config.resolve().with_overrides({"broker_password": "deliberately-wrong"})
    written = json.loads(build(device(bringup.with_broker_credentials(marked, security.board())))["config.json"])
    assert written["broker_password"] == "deliberately-wrong"
    assert written["broker_user"] == security.board().username


def test_the_deploy_builder_seam_gets_them_too(security):
    settings = bringup.with_broker_credentials(config.resolve(), security.board())
    files = bringup.config_files(settings, "127.0.0.1", 1883, "hil/gw0")
    assert json.loads(build_files(device(settings))["config.json"])["broker_user"] == "hil-board-gw0"
    assert security.board().password.reveal() in files["config.json"].decode()


# --- the bind address -----------------------------------------------------------------------

def adapters(*entries) -> list[ifaddr.Adapter]:
    """(name, [(ip, prefix), ...]) as ifaddr lists them; IPv6 as (address, flow, scope) tuples."""
    return [ifaddr.Adapter(name, name, [ifaddr.IP(ip, prefix, name) for ip, prefix in ips]) for name, ips in entries]


LOOPBACK = ("lo", [("127.0.0.1", 8), (("::1", 0, 0), 128)])
WIFI = ("wlan0", [("192.168.4.10", 24), (("fe80::1", 0, 3), 64)])
LAN = ("eth0", [("10.20.0.5", 16)])
DOCKER = ("docker0", [("172.17.0.1", 16)])
LINK_LOCAL = ("usb0", [("169.254.7.7", 16)])


def test_one_interface_is_chosen():
    assert bind_address.choose_bind_address(bind_address.ipv4_interfaces(adapters(LOOPBACK, WIFI, LINK_LOCAL))) \
        == "192.168.4.10"


def test_several_interfaces_stop_the_run_listing_them_and_the_setting():
    with pytest.raises(ConfigError) as refused:
        bind_address.choose_bind_address(bind_address.ipv4_interfaces(adapters(LOOPBACK, WIFI, LAN, DOCKER)))
    text = f"{refused.value} {refused.value.hint}"
    for shown in ("wlan0 192.168.4.10 (192.168.4.0/24)", "eth0 10.20.0.5 (10.20.0.0/16)",
                  "docker0 172.17.0.1 (172.17.0.0/16)", "hil_broker_bind"):
        assert shown in text
    assert "127.0.0.1" not in text


def test_no_interface_is_an_error_too():
    with pytest.raises(ConfigError, match="no non-loopback"):
        bind_address.choose_bind_address(bind_address.ipv4_interfaces(adapters(LOOPBACK, LINK_LOCAL)))


def rig_source() -> LocalSource:
    return LocalSource([BoardRecord(name="nodemcu-1", port="/dev/ttyUSB0")], "boards.toml", "test")


def test_virtual_boards_keep_loopback_and_a_setting_wins(monkeypatch):
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: adapters(LOOPBACK, WIFI, LAN))
    assert VirtualSource("test").broker_address(config.resolve()) == "127.0.0.1"
    chosen = config.resolve(env={"HIL_BROKER_BIND": "127.0.0.1"})
    assert rig_source().broker_address(chosen) == "127.0.0.1"


def test_several_interfaces_on_a_rig_are_an_error_before_any_board(monkeypatch):
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: adapters(LOOPBACK, WIFI, LAN))
    with pytest.raises(ConfigError, match="hil_broker_bind=auto"):
        rig_source().broker_address(config.resolve())


def test_a_rig_run_with_several_interfaces_stops_at_start_up(pytester, monkeypatch):
    """session.start asks the source for the broker's address before any fixture runs."""
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: adapters(LOOPBACK, WIFI, LAN))
    pytester.makefile(".toml", boards='[[board]]\nname = "nodemcu-1"\nport = "/dev/ttyUSB0"\n')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hil_broker_bind=auto*"])
