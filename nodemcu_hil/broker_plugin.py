"""The harness's amqtt plugin: records every publish (wills included) and when each client
was last heard.

amqtt instantiates plugins itself from dotted names, so the per-broker state is handed
over through a small registry keyed by an id that travels in the plugin's configuration.
The last-heard times let `HilBroker` enforce MQTT keepalive, which amqtt's broker leaves
unhandled (its read timeout does nothing), while MQTT 3.1.1 section 3.1.2.10 requires the
server to drop a client silent for 1.5 keepalive periods and publish its will. amqtt raises
no event for a will it publishes, so the plugin records one the way amqtt decides to send
it: the client went away without a DISCONNECT packet and had a will.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.plugins.base import BasePlugin

from nodemcu_hil.messages import Message, MessageLog


@dataclass
class BrokerState:
    messages: MessageLog
    last_heard: dict[str, float] = field(default_factory=dict)
    said_goodbye: set[str] = field(default_factory=set)  # sent DISCONNECT: their will is void
    stopping: bool = False  # the broker itself is closing connections: no will is claimed then


_STATES: dict[int, BrokerState] = {}
_NEXT_ID = itertools.count(1)


def attach_state(state: BrokerState) -> int:
    state_id = next(_NEXT_ID)
    _STATES[state_id] = state
    return state_id


def detach_state(state_id: int) -> None:
    _STATES.pop(state_id, None)


class HarnessPlugin(BasePlugin):
    @dataclass
    class Config:
        state_id: int = 0

    @property
    def _state(self) -> BrokerState | None:
        return _STATES.get(self.config.state_id)

    async def on_broker_message_received(self, *, client_id: str, message, **_) -> None:
        state = self._state
        if state is None or message is None:
            return
        state.messages.record(Message(topic=message.topic, payload=bytes(message.data or b""),
                                      qos=message.qos or 0, retain=bool(message.retain), sender=client_id,
                                      at=time.monotonic()))

    async def on_mqtt_packet_received(self, *, packet=None, session=None, **_) -> None:
        state = self._state
        if state is not None and session is not None and session.client_id:
            state.last_heard[session.client_id] = time.monotonic()
            if isinstance(packet, DisconnectPacket):
                state.said_goodbye.add(session.client_id)

    async def on_broker_client_connected(self, *, client_id: str, **_) -> None:
        state = self._state
        if state is not None:
            state.last_heard[client_id] = time.monotonic()
            state.said_goodbye.discard(client_id)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session=None, **_) -> None:
        state = self._state
        if state is None or client_session is None or state.stopping:
            return
        if client_id in state.said_goodbye:
            state.said_goodbye.discard(client_id)
            return
        if client_session.will_flag and client_session.will_topic:
            state.messages.record(Message(topic=client_session.will_topic,
                                          payload=bytes(client_session.will_message or b""),
                                          qos=client_session.will_qos or 0, retain=bool(client_session.will_retain),
                                          sender=client_id, will=True, at=time.monotonic()))
