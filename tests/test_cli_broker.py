"""`hil broker` (issue 15): no anonymous client; it makes credentials, says where it listens,
shows the passwords in clear only on a terminal and keeps them out of its redirected output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest

from nodemcu_hil.broker_security import session_security
from nodemcu_hil.commands.broker import announce
from nodemcu_hil.mqtt import ConnectionRefused, MqttClient, SubscriptionRefused
from nodemcu_hil.secrets import MASK

HIL = [sys.executable, "-m", "nodemcu_hil.cli"]


@pytest.fixture
def running(tmp_path):
    path = tmp_path / "creds.toml"
    env = {key: value for key, value in os.environ.items() if key not in ("HIL_BROKER_USER", "HIL_BROKER_PASSWORD")}
    process = subprocess.Popen([*HIL, "broker", "--port", "0", "--seconds", "20", "--credentials-file", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = process.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("mqtt://127.0.0.1:")
        stderr = [process.stderr.readline()]
        while "credentials in" not in stderr[-1] and stderr[-1]:
            stderr.append(process.stderr.readline())
        yield process, int(ready[1].rsplit(":", 1)[1]), tomllib.loads(path.read_text()), path, "".join(stderr)
    finally:
        process.kill()
        process.wait()


def test_hil_broker_refuses_anonymous_clients_and_admits_its_credentials(running):
    process, port, creds, path, stderr = running
    with pytest.raises(ConnectionRefused):
        MqttClient("127.0.0.1", port, "manual", anonymous=True)
    harness, board = creds["harness"], creds["board"]
    with MqttClient("127.0.0.1", port, "manual", username=harness["user"], password=harness["password"]) as client:
        client.publish("anything/at/all", board["password"], qos=0)  # a password as payload: printed masked
    line = process.stdout.readline().split()
    assert line == ["manual", "anything/at/all", "[qos0]", MASK]
    with MqttClient("127.0.0.1", port, "board", username=board["user"], password=board["password"]) as client:
        client.subscribe("hil/#")
        with pytest.raises(SubscriptionRefused):
            client.subscribe("#")


def test_hil_broker_says_where_it_listens_and_masks_passwords_off_a_terminal(running):
    process, port, creds, path, stderr = running
    assert f"listening on 127.0.0.1:{port}" in stderr and "anonymous clients are refused" in stderr
    assert str(path) in stderr and MASK in stderr
    assert creds["harness"]["user"] in stderr and creds["board"]["user"] in stderr
    assert creds["harness"]["password"] not in stderr and creds["board"]["password"] not in stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert creds["harness"]["password"] != creds["board"]["password"] and len(creds["board"]["password"]) >= 20


def test_on_a_terminal_the_passwords_are_shown_once():
    security = session_security({"manual": "hil"})
    shown = "\n".join(announce(security, "127.0.0.1:1883", "/x", in_clear=True))
    assert security.harness.password.reveal() in shown and security.board().password.reveal() in shown
    masked = "\n".join(announce(security, "127.0.0.1:1883", "/x", in_clear=False))
    assert security.harness.password.reveal() not in masked and "topics hil/#" in masked
