"""The harness's amqtt plugins: one records every publish it lets through (wills included) and when each client
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

import hashlib
import hmac
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.plugins.base import BasePlugin

from nodemcu_hil.messages import Message, MessageLog


class VerifiedPasswords:
    """The passwords argon2 accepted, as digests under a key of this broker's own, each for
    the user and the stored hash it matched: the same password again is accepted by comparing
    digests; a different one, or a password file that changed, is not known here."""

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._digests: dict[tuple[str, str], bytes] = {}

    def _digest(self, password: object) -> bytes:
        data = password.encode() if isinstance(password, str) else bytes(password or b"")
        return hashlib.blake2b(data, key=self._key).digest()

    def knows(self, user: str, stored_hash: str, password: object) -> bool:
        known = self._digests.get((user, stored_hash))
        return known is not None and hmac.compare_digest(known, self._digest(password))

    def remember(self, user: str, stored_hash: str, password: object) -> None:
        self._digests[(user, stored_hash)] = self._digest(password)


@dataclass
class BrokerState:
    messages: MessageLog
    last_heard: dict[str, float] = field(default_factory=dict)
    said_goodbye: set[str] = field(default_factory=set)  # sent DISCONNECT: their will is void
    stopping: bool = False  # the broker itself is closing connections: no will is claimed then
    on_refusal: Callable[[str], None] | None = None  # a client, publish or subscribe refused
    verified: VerifiedPasswords = field(default_factory=VerifiedPasswords)  # outlives a broker restart


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

    async def on_broker_message_broadcast(self, *, client_id: str, message, **_) -> None:
        # broadcast, not received: a publish the topic ACL refused is not a message anyone saw
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


# --- who may connect, and where each may publish and subscribe --------------------------------
#
# amqtt 0.12.1 brings the checks themselves: `FileAuthPlugin` (user:argon2-hash lines in a
# password file) and `TopicAccessControlListPlugin` (per-user topic filters for publish,
# subscribe and receive). What it lacks, added here:
# - a refusal is only a debug log line: the subclasses tell the harness (`BrokerState.on_refusal`),
#   which puts it on the test's timeline;
# - `FileAuthPlugin` answers None (ignored) for a client without a user name: refused here;
# - the will topic of CONNECT is never checked against any ACL: checked here against the
#   user's publish filters, so a board cannot leave a will in another board's namespace;
# - a refused client still takes over the session of a connected client with the same client
#   id (amqtt authenticates first but acts on the id regardless): a refused session is renamed,
#   so the connected board keeps its connection; a client id held by another user is refused;
# - the dataclass Config of `TopicAccessControlListPlugin` has no field for `subscribe-acl` or
#   `receive-acl` (only the deprecated `acl`): the subclass's Config adds them;
# - every CONNECT costs an argon2 verification (about 0.15 s of CPU, run inside the broker's
#   event loop, so every client's traffic stalls meanwhile) although the harness's clients and
#   the board log in with the same password dozens of times a session: a password that passed
#   argon2 once is remembered as a keyed digest (with the hash it matched, for the broker's
#   life, restarts included) and matched by that; any other password still goes through argon2
#   (`VerifiedPasswords`).

from amqtt.contexts import Action  # noqa: E402
from amqtt.plugins.authentication import FileAuthPlugin  # noqa: E402
from amqtt.plugins.topic_checking import TopicAccessControlListPlugin  # noqa: E402

_REFUSED = itertools.count(1)


def topic_allowed(topic: str, filters) -> bool:
    """amqtt's own matching of a topic (or filter) against a user's allowed filters."""
    return any(TopicAccessControlListPlugin.topic_ac(topic, allowed) for allowed in filters or ())


def _refuse(state: BrokerState | None, text: str) -> None:
    if state is not None and state.on_refusal is not None:
        state.on_refusal(text)


class HarnessAuthPlugin(FileAuthPlugin):
    """amqtt's password-file check, with refusals reported and the gaps above closed."""

    async def _check_password(self, session) -> bool | None:
        """amqtt's verdict (argon2) for a password not seen before; True for one it accepted."""
        state = _STATES.get(self.config.state_id)
        user = session.username
        stored = self._users.get(user) if user else None
        if state is not None and stored and state.verified.knows(user, stored, session.password or ""):
            return True
        verdict = await super().authenticate(session=session)
        if verdict is True and state is not None and stored:
            state.verified.remember(user, stored, session.password or "")
        return verdict

    @dataclass
    class Config:
        password_file: str | None = None
        state_id: int = 0
        will_acl: dict[str, list[str]] = field(default_factory=dict)

    async def authenticate(self, *, session) -> bool:
        verdict = await self._check_password(session)
        user = session.username
        why = None
        if not user:
            why = "no user name (anonymous clients are not allowed)"
        elif verdict is not True:
            why = f"wrong user name or password (user {user!r})"
        elif session.will_flag and not topic_allowed(session.will_topic or "", self.config.will_acl.get(user)):
            why = f"will topic {session.will_topic!r} is outside user {user!r}'s namespace"
        else:
            holder = self.context.get_session(session.client_id) if session.client_id else None
            if (holder is not None and holder is not session and holder.username and holder.username != user
                    and holder.transitions.is_connected()):
                why = f"client id {session.client_id!r} is held by another user"
        if why is None:
            return True
        _refuse(_STATES.get(self.config.state_id),
                f"broker: refused {session.client_id or '(no id)'} from {session.remote_address}: {why}")
        # amqtt goes on to take over a connected session with this id: give it an id of its own
        session.client_id = f"refused-{next(_REFUSED)}"
        return False


class HarnessTopicPlugin(TopicAccessControlListPlugin):
    """amqtt's topic ACLs for publish, subscribe and receive, with refusals reported."""

    @dataclass
    class Config:
        publish_acl: dict[str, list[str]] = field(default_factory=dict)
        subscribe_acl: dict[str, list[str]] = field(default_factory=dict)
        receive_acl: dict[str, list[str]] = field(default_factory=dict)
        state_id: int = 0

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        allowed = bool(await super().topic_filtering(session=session, topic=topic, action=action))
        if not allowed and action in (Action.PUBLISH, Action.SUBSCRIBE):
            who = session.client_id if session else "?"
            user = session.username if session else None
            _refuse(_STATES.get(self.config.state_id),
                    f"broker: refused {action.value} of {topic!r} by {who} (user {user!r}): outside its namespace")
        return allowed
