"""The test's own MQTT client (paho-mqtt 2.x) with a message log to wait on."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from nodemcu_hil.errors import BrokerUnavailable, WaitTimeout
from nodemcu_hil.messages import Message, MessageLog
from nodemcu_hil.secrets import reveal


class ConnectionRefused(BrokerUnavailable):
    """The broker answered CONNECT with a refusal (bad or missing credentials)."""


class SubscriptionRefused(BrokerUnavailable):
    """The broker answered SUBSCRIBE with failure (0x80): a filter outside the client's topics."""

CONNECT_TIMEOUT = 10.0
SUBSCRIBE_TIMEOUT = 10.0
KEEPALIVE = 30

# The harness's own credentials of each in-process broker (nodemcu_hil.broker registers them
# when it starts): a test client without a user name of its own logs in with them.
_HARNESS_CREDENTIALS: dict[tuple[str, int], object] = {}


def register_credentials(host: str, port: int, credentials) -> None:
    _HARNESS_CREDENTIALS[(host, int(port))] = credentials


def forget_credentials(host: str, port: int) -> None:
    _HARNESS_CREDENTIALS.pop((host, int(port)), None)


class MqttClient:
    """Connects on construction; `subscribe`, `publish`, `wait_for`, `close`."""

    def __init__(self, host: str, port: int, client_id: str, *, username: str | None = None,
                 password: str | None = None, log_name: str = "mqtt", anonymous: bool = False):
        """Without `username`, the harness's credentials of the in-process broker at
        host:port (if it has any); `anonymous=True` sends none at all."""
        self.messages = MessageLog(log_name)
        self.client_id = client_id
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        harness = None if anonymous or username else _HARNESS_CREDENTIALS.get((host, int(port)))
        if harness is not None:
            username, password = harness.username, harness.password
        if username and not anonymous:
            self._client.username_pw_set(username, reveal(password))
        self._connected = threading.Event()
        self.refused: str | None = None  # the broker's CONNACK reason, when it refused us
        self._acks: dict[int, threading.Event] = {}
        self._granted: dict[int, list[bool]] = {}
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._where = f"{host}:{port}"
        try:
            self._client.connect(host, port, keepalive=KEEPALIVE)
        except OSError as exc:
            raise BrokerUnavailable(f"test client cannot connect: {exc}", port=self._where,
                                    hint="is the broker fixture running?") from None
        self._client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT) or self.refused:
            self.close()
            if self.refused:
                raise ConnectionRefused(f"the broker refused the connection: {self.refused}", port=self._where,
                                        hint="the harness's broker admits only the credentials it made")
            raise BrokerUnavailable(f"no CONNACK within {CONNECT_TIMEOUT:g} s", port=self._where)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            self._client.disconnect()  # no reconnect loop with credentials that were refused
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._granted[mid] = [code.is_failure for code in reason_codes]
        self._acks.setdefault(mid, threading.Event()).set()

    def _on_message(self, client, userdata, message) -> None:
        self.messages.record(Message(topic=message.topic, payload=bytes(message.payload), qos=message.qos,
                                     retain=bool(message.retain), at=time.monotonic()))

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK, so no message can slip past the subscription."""
        result, mid = self._client.subscribe(topic_filter, qos)
        if result != paho.MQTT_ERR_SUCCESS:
            raise BrokerUnavailable(f"subscribe {topic_filter!r} failed: {paho.error_string(result)}",
                                    port=self._where)
        if not self._acks.setdefault(mid, threading.Event()).wait(SUBSCRIBE_TIMEOUT):
            raise BrokerUnavailable(f"no SUBACK for {topic_filter!r} within {SUBSCRIBE_TIMEOUT:g} s",
                                    port=self._where)
        if any(self._granted.get(mid, ())):
            raise SubscriptionRefused(f"the broker refused the subscription {topic_filter!r}", port=self._where)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(CONNECT_TIMEOUT)

    def publish_burst(self, topic: str, payloads: list[bytes | str], *, qos: int = 1, timeout: float) -> None:
        """Every payload handed to paho at once, as a user's script floods a board (paho's
        in-flight window paces QoS 1), then each one confirmed by the broker within `timeout`.
        `publish` waits for each PUBACK before the next, which is a trickle, not a flood."""
        sent = [self._client.publish(topic, payload, qos=qos) for payload in payloads]
        deadline = time.monotonic() + timeout
        for count, info in enumerate(sent):
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise WaitTimeout(f"{self.client_id}: {count} of {len(sent)} messages to {topic!r} confirmed by "
                                  f"the broker within {timeout:g} s", hint="is the broker overloaded or gone?")

    def wait_for(self, topic_filter: str, predicate=None, *, timeout: float, since: float | None = None,
                 what: str | None = None) -> Message:
        return self.messages.wait_for(topic_filter, predicate, timeout=timeout, since=since, what=what)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> "MqttClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
