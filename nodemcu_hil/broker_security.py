"""Who may use the harness's broker: generated credentials, topic filters, amqtt's password
file, and amqtt's Broker made to authenticate a client before it touches any session.

The harness's user may use every topic; each board's user only its worker's namespace.
Every password is a `Secret`, remembered so that every sink of the process masks it.
"""

from __future__ import annotations

import os
import secrets as token_source
from dataclasses import dataclass, field
from pathlib import Path

from nodemcu_hil.secrets import Secret, remember, reveal

HARNESS_USER = "hil-harness"
BOARD_USER = "hil-board"
EVERYTHING = "#"
PASSWORD_BYTES = 18  # secrets.token_urlsafe: 24 characters, 144 bits


@dataclass(frozen=True)
class Credentials:
    """A user name and its password (a `Secret`: masked in every log and report)."""

    username: str
    password: Secret

    def __post_init__(self) -> None:
        object.__setattr__(self, "password", Secret(reveal(self.password)))
        remember(self.password)  # every sink of this process masks it from now on

    @classmethod
    def generate(cls, username: str) -> "Credentials":
        return cls(username, Secret(token_source.token_urlsafe(PASSWORD_BYTES)))


@dataclass(frozen=True)
class Account:
    """Who may connect, and the topic filters under which it may publish and subscribe."""

    credentials: Credentials
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Security:
    """The broker's users: the harness (everything) and the boards (their namespace each)."""

    harness: Credentials
    boards: tuple[Account, ...] = field(default_factory=tuple)

    @property
    def accounts(self) -> tuple[Account, ...]:
        return (Account(self.harness, (EVERYTHING,)), *self.boards)

    def board(self, index: int = 0) -> Credentials:
        return self.boards[index].credentials


def session_security(namespaces: dict[str, str], *, user: str = "", password: object = "") -> Security:
    """Fresh credentials for the harness and one board per namespace (`{label: topic prefix}`).

    The settings broker_user / broker_password, when set, are the boards' instead of
    generated ones (a board a rig keeps configured across runs); the harness's are always
    generated. Each board may use `<prefix>/#` and nothing else.
    """
    boards = []
    for label, prefix in namespaces.items():
        name = user or f"{BOARD_USER}-{label}"
        given = reveal(password)
        credentials = Credentials(name, Secret(given)) if given else Credentials.generate(name)
        boards.append(Account(credentials, (f"{prefix.strip('/')}/#",)))
    return Security(Credentials.generate(HARNESS_USER), tuple(boards))


def password_file(directory: Path, security: Security) -> Path:
    """amqtt's password file: `user:argon2-hash` lines, readable by this user only."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    hasher = PasswordHash((Argon2Hasher(),))
    lines = {account.credentials.username: hasher.hash(reveal(account.credentials.password))
             for account in security.accounts}
    path = directory / "passwd"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.writelines(f"{name}:{digest}\n" for name, digest in lines.items())
    return path


def checked_broker_class():
    """amqtt's Broker, authenticating a client before it touches anyone's session.

    amqtt 0.12.1 reads CONNECT, then deletes the stored session (and its subscriptions) of a
    clean-session client id, or copies the new will, user and password onto the stored
    session of a persistent one, and only then authenticates: a client with no credentials
    could strip the board's subscriptions or rewrite its will by naming its client id. Here
    `_initialize_client_session` is amqtt's, with the authentication first; the verdict is
    kept on the session and reused by amqtt's own call of `_authenticate`. A refused client
    has been given an id of its own by `HarnessAuthPlugin`, so nothing of the board's is touched.
    Retained messages go to a client only for its own subscriptions (see below).
    """
    from amqtt.broker import Broker
    from amqtt.errors import AMQTTError, MQTTError, NoDataError
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
    from amqtt.utils import gen_client_id

    class CheckedBroker(Broker):
        async def _initialize_client_session(self, reader, writer, remote_address, remote_port):
            where = f"{remote_address}:{remote_port}"
            try:
                handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
            except AMQTTError as exc:
                self.logger.warning(f"{where}: can't read first packet as CONNECT: {exc}")
                raise AMQTTError(exc) from exc
            except MQTTError as exc:
                self.logger.warning(f"invalid connection from {where}")
                await writer.close()
                raise MQTTError(exc) from exc
            except NoDataError as exc:
                self.logger.error(f"no data from {where}: {exc}")  # noqa: TRY400 - as amqtt logs it
                raise AMQTTError(exc) from exc
            verdict = await super()._authenticate(session, None)  # before any stored session is looked at
            if session.clean_session:
                if session.client_id:
                    await self._delete_session(session.client_id)
                else:
                    session.client_id = gen_client_id()
                session.parent = 0
            elif session.client_id in self._sessions:
                stored, _ = self._sessions[session.client_id]
                for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username",
                             "password"):
                    setattr(stored, name, getattr(session, name))
                session = stored
                session.parent = 1
            else:
                session.parent = 0
            session.hil_verdict = verdict
            delay = self.config.get("timeout-disconnect-delay", 0)
            if session.keep_alive > 0 and isinstance(delay, int):
                session.keep_alive += delay
            return handler, session

        async def _publish_retained_messages_for_subscription(self, subscription, session) -> None:
            # amqtt calls this on every CONNECT for *every* filter any client subscribed to
            # (`for topic in self._subscriptions`), unchecked by the topic ACLs: a board would
            # get another namespace's retained status that way. Only the client's own filters
            # (each passed the subscribe ACL) bring it retained messages.
            topic_filter = subscription[0]
            if any(holder is session for holder, _ in self._subscriptions.get(topic_filter, ())):
                await super()._publish_retained_messages_for_subscription(subscription, session)

        async def _authenticate(self, session, listener) -> bool:
            verdict = getattr(session, "hil_verdict", None)
            session.hil_verdict = None
            return verdict if verdict is not None else await super()._authenticate(session, listener)

    return CheckedBroker
