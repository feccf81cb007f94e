"""The in-process broker: records publishes, restarts on its port, kicks clients, leaks nothing."""

from __future__ import annotations

import socket
import threading

import pytest

from nodemcu_hil.broker import HilBroker
from nodemcu_hil.errors import BrokerUnavailable, WaitTimeout
from nodemcu_hil.messages import topic_matches
from nodemcu_hil.mqtt import MqttClient

TIMEOUT = 10


@pytest.fixture
def broker():
    with HilBroker() as running:
        yield running


def client(broker, client_id):
    return MqttClient(broker.host, broker.port, client_id)


@pytest.mark.parametrize("topic_filter, topic, expected", [
    ("a/+/c", "a/b/c", True), ("a/#", "a/b/c", True), ("a/+", "a/b/c", False),
    ("a/b", "a/b", True), ("a/b/c", "a/b", False), ("#", "x", True),
])
def test_topic_matching(topic_filter, topic, expected):
    assert topic_matches(topic_filter, topic) is expected


def test_every_publish_is_recorded_with_sender_and_order(broker):
    with client(broker, "listener") as listener, client(broker, "talker") as talker:
        listener.subscribe("hil/#")
        talker.publish("hil/a", "1")
        talker.publish("hil/b", b"2", retain=True)
        got = listener.wait_for("hil/b", timeout=TIMEOUT)
        assert got.payload == b"2"
        recorded = broker.messages.wait_for("hil/b", timeout=TIMEOUT)
        assert recorded.sender == "talker" and recorded.retain
        first = broker.messages.wait_for("hil/a", timeout=TIMEOUT)
        assert first.at <= recorded.at


def test_wait_for_times_out_naming_what_it_waited_for(broker):
    with client(broker, "listener") as listener:
        listener.subscribe("hil/#")
        with pytest.raises(WaitTimeout, match=r"no message on 'hil/never' \(status\) within 0.2 s"):
            listener.wait_for("hil/never", timeout=0.2, what="status")


def test_a_burst_is_confirmed_whole_and_counted_in_order(broker):
    """publish_burst hands every message over at once; wait_count gives the first N in
    order, and says how many came when they did not all come."""
    with client(broker, "flooder") as flooder:
        flooder.publish_burst("hil/burst", [str(n) for n in range(200)], qos=1, timeout=TIMEOUT)
        got = broker.messages.wait_count("hil/burst", 200, timeout=TIMEOUT)
        assert [m.payload for m in got] == [str(n).encode() for n in range(200)]
        with pytest.raises(WaitTimeout, match=r"200 of 201 messages on 'hil/burst' \(one more\) within 0.2 s"):
            broker.messages.wait_count("hil/burst", 201, timeout=0.2, what="one more")


def test_restart_keeps_the_port_and_clients_can_reconnect(broker):
    port = broker.port
    broker.restart()
    assert broker.port == port
    with client(broker, "after-restart") as again:
        again.subscribe("x")


def test_stopped_broker_refuses_connections(broker):
    broker.stop()
    with pytest.raises(BrokerUnavailable, match="test client cannot connect"):
        client(broker, "nobody")
    broker.start()


def test_kick_drops_a_client_and_sends_its_will(broker):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    dropped = threading.Event()
    victim = paho.Client(CallbackAPIVersion.VERSION2, client_id="victim")
    victim.will_set("hil/victim/status", "offline", qos=1, retain=True)
    victim.on_disconnect = lambda *args: dropped.set()
    victim.connect(broker.host, broker.port)
    victim.loop_start()
    try:
        with client(broker, "watcher") as watcher:
            watcher.subscribe("hil/victim/status")
            assert "victim" in broker.connected_clients()
            broker.kick("victim")
            assert dropped.wait(TIMEOUT), "the kicked client never saw its connection drop"
            assert watcher.wait_for("hil/victim/status", timeout=TIMEOUT).payload == b"offline"
            will = broker.messages.wait_for("hil/victim/status", timeout=TIMEOUT, what="recorded will")
            assert (will.payload, will.sender, will.will, will.retain) == (b"offline", "victim", True, True)
    finally:
        victim.loop_stop()
    with pytest.raises(BrokerUnavailable, match="no connected client 'ghost'"):
        broker.kick("ghost")


def test_clean_disconnect_records_no_will(broker):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    polite = paho.Client(CallbackAPIVersion.VERSION2, client_id="polite")
    polite.will_set("hil/polite/status", "offline", qos=1, retain=True)
    polite.connect(broker.host, broker.port)
    polite.loop_start()
    with client(broker, "watcher") as watcher:
        watcher.subscribe("hil/polite/#")
        polite.publish("hil/polite/bye", "bye", qos=1).wait_for_publish(TIMEOUT)
        polite.disconnect()
        polite.loop_stop()
        watcher.wait_for("hil/polite/bye", timeout=TIMEOUT)
        with pytest.raises(WaitTimeout):
            watcher.wait_for("hil/polite/status", timeout=1)
    assert not broker.messages.matching("hil/polite/status")


def test_close_frees_port_and_thread():
    broker = HilBroker()
    broker.start()
    port, thread = broker.port, broker._thread
    broker.close()
    broker.close()
    assert not thread.is_alive()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_port_in_use_is_a_clear_error():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = HilBroker(port=squatter.getsockname()[1])
        try:
            with pytest.raises(BrokerUnavailable, match="cannot listen on 127.0.0.1:.*another process listens"):
                broker.start()
        finally:
            broker.close()


def test_silent_client_is_dropped_after_one_and_a_half_keepalives_and_its_will_sent(broker):
    """A half-open client (no PINGREQ, no FIN) is detected as MQTT 3.1.1 section 3.1.2.10 asks."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    silent = paho.Client(CallbackAPIVersion.VERSION2, client_id="silent")
    silent.will_set("hil/silent/status", "offline", qos=1, retain=True)
    silent.connect(broker.host, broker.port, keepalive=1)
    silent.loop(timeout=1.0)  # CONNECT goes out; then nothing more: no loop, no PINGREQ
    with client(broker, "watcher") as watcher:
        watcher.subscribe("hil/silent/status")
        will = watcher.wait_for("hil/silent/status", timeout=TIMEOUT, what="will of the silent client")
        assert will.payload == b"offline"
    silent.socket().close()


def _not_here() -> str:
    from nodemcu_hil.setting_types import host_addresses

    return next(f"203.0.113.{n}" for n in range(1, 255) if f"203.0.113.{n}" not in host_addresses())


@pytest.mark.parametrize("host, port", [("not-here", 0), ("not-here", 18830),
                                        ("no-such-host.invalid", 0), ("no-such-host.invalid", 18830)])
def test_bind_address_not_on_this_host_names_it_the_setting_and_the_host_addresses(host, port):
    """Issue 11, defect 9: `OSError [Errno 99]` and `gaierror` gave no hint what to fix."""
    host = _not_here() if host == "not-here" else host
    before = {thread.name for thread in threading.enumerate()}
    with pytest.raises(BrokerUnavailable) as error:
        with HilBroker(host, port):
            pass
    message = str(error.value)
    assert host in message and "hil_broker_bind" in message and "127.0.0.1" in message, message
    assert "this host's addresses" in message
    assert {thread.name for thread in threading.enumerate()} - before == set(), "a failed start leaked its thread"
