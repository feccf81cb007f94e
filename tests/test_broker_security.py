"""The session broker admits only the credentials it made, each under its own topics (issue 15)."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from nodemcu_hil.broker import HilBroker
from nodemcu_hil.broker_security import HARNESS_USER, session_security
from nodemcu_hil.mqtt import ConnectionRefused, MqttClient, SubscriptionRefused
from nodemcu_hil.secrets import MASK, Secret, remembered


@pytest.fixture
def secured():
    """A broker with the harness's user and two boards' (gw0, gw1), recording its actions."""
    actions: list[str] = []
    security = session_security({"gw0": "hil/gw0", "gw1": "hil/gw1"})
    with HilBroker(security=security, on_action=actions.append) as running:
        running.actions = actions
        yield running


def board_client(broker: HilBroker, index: int, client_id: str, **kwargs) -> MqttClient:
    credentials = broker.security.board(index)
    return MqttClient(broker.host, broker.port, client_id, username=credentials.username,
                      password=credentials.password, **kwargs)


def refusals(broker: HilBroker) -> list[str]:
    return [text for text in broker.actions if "refused" in text]


def raw_connect(broker: HilBroker, client_id: str, **credentials) -> int:
    """A bare paho client (no harness code): the CONNACK reason's value."""
    answered = threading.Event()
    result: list[int] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if credentials:
        client.username_pw_set(credentials["username"], credentials.get("password"))
    client.on_connect = lambda c, u, f, reason, p: (result.append(reason.value), answered.set())
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


def test_an_anonymous_client_is_refused_and_the_refusal_is_on_the_timeline(secured):
    assert raw_connect(secured, "stranger") != 0  # 0 would be "accepted"
    with pytest.raises(ConnectionRefused):
        MqttClient(secured.host, secured.port, "stranger-2", anonymous=True)
    assert any("stranger" in text and "anonymous" in text for text in refusals(secured)), secured.actions


def test_a_wrong_password_is_refused_and_the_right_one_admitted(secured):
    user = secured.security.board(0).username
    assert raw_connect(secured, "guesser", username=user, password="not-the-password") != 0
    assert raw_connect(secured, "guesser", username="nobody", password="x") != 0
    assert raw_connect(secured, "board", username=user, password=secured.security.board(0).password.reveal()) == 0
    assert any("guesser" in text and "password" in text for text in refusals(secured))


def test_a_wrong_password_is_refused_after_the_right_one_was_accepted(secured):
    """The broker remembers a password argon2 accepted (each CONNECT would cost argon2 again):
    a different password for the same user is still refused, the remembered one still admitted."""
    user, right = secured.security.board(0).username, secured.security.board(0).password.reveal()
    assert raw_connect(secured, "board", username=user, password=right) == 0
    assert raw_connect(secured, "guesser", username=user, password="not-the-password") != 0
    assert raw_connect(secured, "guesser-2", username=user, password=right + "x") != 0
    assert raw_connect(secured, "guesser-3", username=user) != 0
    assert raw_connect(secured, "board", username=user, password=right) == 0


def test_a_remembered_password_outlives_a_restart_but_not_a_new_password_file(secured):
    user, old = secured.security.board(0).username, secured.security.board(0).password.reveal()
    assert raw_connect(secured, "board", username=user, password=old) == 0
    secured.restart()
    assert raw_connect(secured, "board", username=user, password=old) == 0
    secured.security = session_security({"gw0": "hil/gw0", "gw1": "hil/gw1"})  # same users, new passwords
    secured.restart()
    assert secured.security.board(0).username == user
    assert raw_connect(secured, "board", username=user, password=old) != 0, "a replaced password still admitted"
    assert raw_connect(secured, "board", username=user, password=secured.security.board(0).password.reveal()) == 0


@pytest.mark.parametrize("topic_filter", ["#", "hil/#", "hil/+/status", "hil/gw1/#", "hil/gw1/abc/gpio/+/set",
                                          "+/gw0/#"])
def test_a_board_cannot_subscribe_beyond_its_namespace(secured, topic_filter):
    with board_client(secured, 0, "board-a") as board:
        board.subscribe("hil/gw0/#")  # its own: granted
        with pytest.raises(SubscriptionRefused):
            board.subscribe(topic_filter)
    assert any(repr(topic_filter) in text for text in refusals(secured))


def test_a_board_cannot_publish_into_another_namespace(secured):
    with MqttClient(secured.host, secured.port, "harness") as harness, board_client(secured, 0, "board-a") as board:
        harness.subscribe("#")
        board.publish("hil/gw1/victim/gpio/2/set", b"1")
        board.publish("elsewhere/status", b"x")
        board.publish("hil/gw0/board-a/status", b"online")  # its own: delivered
        # publish waits for each PUBACK, so the refused ones were handled before this arrives
        harness.wait_for("hil/gw0/board-a/status", timeout=5)
    assert [m.topic for m in harness.messages] == ["hil/gw0/board-a/status"]
    assert [m.topic for m in secured.messages] == ["hil/gw0/board-a/status"]  # the broker's log neither
    assert sum("refused publish" in text for text in refusals(secured)) == 2


def test_the_harness_may_do_everything(secured):
    with MqttClient(secured.host, secured.port, "harness") as harness:
        harness.subscribe("#")
        harness.publish("anywhere/at/all", b"1")
        harness.wait_for("anywhere/at/all", timeout=5)
    assert not refusals(secured)


def test_a_will_outside_the_namespace_is_refused(secured):
    credentials = secured.security.board(0)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sneaky")
    client.username_pw_set(credentials.username, credentials.password.reveal())
    client.will_set("hil/gw1/victim/gpio/2/set", b"1")
    answered, result = threading.Event(), []
    client.on_connect = lambda c, u, f, reason, p: (result.append(reason.value), answered.set())
    client.connect(secured.host, secured.port)
    client.loop_start()
    try:
        assert answered.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert result[0] != 0
    assert any("will topic" in text for text in refusals(secured))


def test_a_refused_client_naming_the_boards_client_id_leaves_the_board_alone(secured):
    with board_client(secured, 0, "board-a") as board, MqttClient(secured.host, secured.port, "harness") as harness:
        board.subscribe("hil/gw0/#")
        assert raw_connect(secured, "board-a") != 0  # anonymous, the board's id, clean session
        assert raw_connect(secured, "board-a", username=secured.security.board(0).username, password="x") != 0
        other = secured.security.board(1)  # valid credentials, but another board's: no takeover either
        assert raw_connect(secured, "board-a", username=other.username, password=other.password.reveal()) != 0
        assert "board-a" in secured.connected_clients()
        harness.publish("hil/gw0/board-a/gpio/2/set", b"1")
        board.wait_for("hil/gw0/board-a/gpio/2/set", timeout=5)  # its subscription survived
    assert any("held by another user" in text for text in refusals(secured))


def test_the_settings_credentials_replace_the_generated_ones():
    security = session_security({"gw0": "hil/gw0"}, user="rig-board", password=Secret("rig-pass"))
    assert security.board().username == "rig-board" and security.board().password.reveal() == "rig-pass"
    assert security.harness.username == HARNESS_USER and security.harness.password.reveal() != "rig-pass"
    with HilBroker(security=security) as running:
        assert raw_connect(running, "b", username="rig-board", password="rig-pass") == 0


def test_generated_passwords_are_fresh_masked_secrets():
    one, two = session_security({"gw0": "hil/gw0"}), session_security({"gw0": "hil/gw0"})
    passwords = [one.harness.password, one.board().password, two.harness.password, two.board().password]
    assert len({p.reveal() for p in passwords}) == 4 and all(len(p.reveal()) >= 20 for p in passwords)
    assert all(str(p) == MASK and p.reveal() not in repr(one) for p in passwords)
    assert all(p.reveal() in remembered() for p in passwords)  # every sink of the process masks them


def test_a_board_gets_no_retained_message_of_another_namespace(secured):
    with MqttClient(secured.host, secured.port, "harness") as harness:
        harness.subscribe("#")  # amqtt 0.12.1 offered every client the retained messages of such filters
        harness.publish("hil/gw1/board-b/status", b"online", retain=True)
        harness.publish("hil/gw0/board-a/status", b"online", retain=True)
        harness.wait_for("hil/gw0/board-a/status", timeout=5)
        with board_client(secured, 0, "board-a") as board:
            board.subscribe("hil/gw0/#")
            board.wait_for("hil/gw0/board-a/status", timeout=5)
            harness.publish("hil/gw0/marker", b"after")  # retained ones are sent before it
            board.wait_for("hil/gw0/marker", timeout=5)
            assert {m.topic for m in board.messages} == {"hil/gw0/board-a/status", "hil/gw0/marker"}
