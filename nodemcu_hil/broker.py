"""The in-process MQTT broker (amqtt) the firmware under test connects to.

It runs in its own thread and event loop so that tests stay synchronous, and it can be
stopped, started and restarted on the same port, and made to drop one client, which is
how the reconnect tests hurt the firmware. Every publish it receives, and every will it
sends for a client that went away, is recorded with a timestamp in a `MessageLog`.

Given a `Security` (`broker_security`; the session and `hil broker` always give one), it lets in only the
users it names, each with its password, and each only under its topic filters: the
harness's own user everywhere (`#`), a board's user under its worker's namespace. The
checks are amqtt's own plugins (password file, topic ACLs), subclassed in `broker_plugin`
where amqtt lacks something; every refusal goes to `on_action`, i.e. the timeline. Without
a `Security` the broker is open to anonymous clients: for self-tests of other concerns only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nodemcu_hil.broker_plugin import BrokerState, attach_state, detach_state
from nodemcu_hil.broker_security import Security, checked_broker_class, password_file
from nodemcu_hil.errors import BrokerUnavailable
from nodemcu_hil.messages import MessageLog
from nodemcu_hil.mqtt import forget_credentials, register_credentials

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
CLIENT_CLOSE_TIMEOUT = 1.0
STOP_TIMEOUT = 10.0
HARNESS_PLUGIN = "nodemcu_hil.broker_plugin.HarnessPlugin"
KEEPALIVE_GRACE = 1.5  # MQTT 3.1.1 section 3.1.2.10
KEEPALIVE_CHECK_S = 0.25
ANONYMOUS_AUTH_PLUGIN = "amqtt.plugins.authentication.AnonymousAuthPlugin"
AUTH_PLUGIN = "nodemcu_hil.broker_plugin.HarnessAuthPlugin"
TOPIC_PLUGIN = "nodemcu_hil.broker_plugin.HarnessTopicPlugin"


def pick_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


class HilBroker:
    """amqtt in a background thread; `start()`, `stop()`, `restart()`, `kick()`, `close()`."""

    def __init__(self, host: str = LOOPBACK, port: int = 0, log_name: str = "broker",
                 on_action: Callable[[str], None] = lambda text: None, security: Security | None = None):
        self.host = host
        self.port = port
        self._on_action = on_action
        self.security = security
        self.messages = MessageLog(log_name)
        self._state = BrokerState(self.messages, on_refusal=on_action)
        self._private_dir: Path | None = None
        self._state_id = attach_state(self._state)
        self._keepalive_task = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"amqtt-{log_name}", daemon=True)
        self._thread.start()
        self._broker = None

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._broker is not None

    def _call(self, coroutine, timeout: float, what: str):
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise BrokerUnavailable(f"broker did not {what} within {timeout:g} s",
                                    port=f"{self.host}:{self.port}") from None

    def start(self) -> BrokerAddress:
        if self._broker is not None:
            return self.address
        from amqtt.errors import BrokerError

        try:
            if self.port == 0:
                self.port = pick_free_port(self.host)
            self._on_action(f"broker: start on {self.host}:{self.port}")
            self._call(self._start(), START_TIMEOUT, "start")
        except (OSError, BrokerError) as exc:
            raise self._bind_error(exc if isinstance(exc, OSError) else exc.__cause__ or exc) from None
        return self.address

    def _bind_error(self, cause: BaseException) -> BrokerUnavailable:
        """Why the broker cannot listen, and which setting to change."""
        where = f"{self.host}:{self.port}" if self.port else self.host
        code = getattr(cause, "errno", None)
        if code == errno.EADDRINUSE:
            return BrokerUnavailable(f"cannot listen on {where}: another process listens there",
                                     hint="choose another hil_broker_port (0 picks a free one)")
        if isinstance(cause, socket.gaierror) or code == errno.EADDRNOTAVAIL:
            from nodemcu_hil.setting_types import bind_problem, host_addresses

            problem = bind_problem(self.host) or (
                f"{self.host} is not an address of this host; this host's addresses: {', '.join(host_addresses())}")
            return BrokerUnavailable(f"cannot listen on {where}: {problem}",
                                     hint="set hil_broker_bind to one of them, or to auto")
        return BrokerUnavailable(f"cannot listen on {where}: {cause}",
                                 hint="check hil_broker_bind and hil_broker_port")

    async def _start(self) -> None:
        Broker = checked_broker_class()

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {**self._security_plugins(), HARNESS_PLUGIN: {"state_id": self._state_id}},
        }
        broker = Broker(config, loop=self._loop)
        await broker.start()
        self._broker = broker
        if self.security is not None:
            register_credentials(self.host, self.port, self.security.harness)
        self._state.stopping = False
        self._keepalive_task = asyncio.ensure_future(self._enforce_keepalive(broker))

    def _security_plugins(self) -> dict[str, dict]:
        if self.security is None:
            return {ANONYMOUS_AUTH_PLUGIN: {"allow_anonymous": True}}
        if self._private_dir is None:
            self._private_dir = Path(tempfile.mkdtemp(prefix="hil-broker-"))
        acl = {account.credentials.username: list(account.topics) for account in self.security.accounts}
        return {
            AUTH_PLUGIN: {"password_file": str(password_file(self._private_dir, self.security)),
                          "state_id": self._state_id, "will_acl": acl},
            TOPIC_PLUGIN: {"publish_acl": acl, "subscribe_acl": acl, "receive_acl": acl,
                           "state_id": self._state_id},
        }

    async def _enforce_keepalive(self, broker) -> None:
        """Drop clients silent for 1.5 keepalive periods, so their will is published."""
        while True:
            await asyncio.sleep(KEEPALIVE_CHECK_S)
            now = time.monotonic()
            for client_id, (session, handler) in list(broker.sessions.items()):
                heard = self._state.last_heard.get(client_id)
                silent_for = None if heard is None else now - heard
                if (session.keep_alive and silent_for is not None and handler.writer is not None
                        and session.transitions.is_connected()
                        and silent_for > KEEPALIVE_GRACE * session.keep_alive):
                    self._on_action(f"broker: dropping {client_id}, silent for {silent_for:.1f} s "
                                    f"with keepalive {session.keep_alive} s")
                    self._state.last_heard.pop(client_id, None)
                    await handler.writer.close()

    def stop(self) -> None:
        """Shut the broker down: clients see their connection close, the port is freed."""
        if self._broker is None:
            return
        broker, self._broker = self._broker, None
        self._on_action("broker: stop")
        self._state.stopping = True
        if self._keepalive_task is not None:
            self._loop.call_soon_threadsafe(self._keepalive_task.cancel)
            self._keepalive_task = None
        self._call(self._shutdown(broker), STOP_TIMEOUT, "stop")

    @staticmethod
    async def _shutdown(broker) -> None:
        """Close every client's connection first, then shut down.

        amqtt's shutdown otherwise waits on deliveries in flight (a QoS 1 message whose
        PUBACK is due, a client half-way through CONNECT) and can outlast any timeout.
        """
        for _, handler in list(broker.sessions.values()):
            if handler is not None and handler.writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(handler.writer.close(), CLIENT_CLOSE_TIMEOUT)
        await broker.shutdown()

    def restart(self) -> BrokerAddress:
        self.stop()
        return self.start()

    def connected_clients(self) -> list[str]:
        async def names() -> list[str]:
            return [] if self._broker is None else [
                client_id for client_id, (session, _) in self._broker.sessions.items()
                if session.transitions.is_connected()]
        return self._call(names(), STOP_TIMEOUT, "list its clients")

    def kick(self, client_id: str) -> None:
        """Drop one client's TCP connection as a failing broker would (its will is sent)."""
        async def drop() -> bool:
            entry = None if self._broker is None else self._broker.sessions.get(client_id)
            if entry is None or entry[1].writer is None:
                return False
            self._on_action(f"broker: kick {client_id}")
            await entry[1].writer.close()
            return True
        if not self._call(drop(), STOP_TIMEOUT, f"kick {client_id}"):
            raise BrokerUnavailable(f"no connected client {client_id!r} to kick",
                                    port=f"{self.host}:{self.port}",
                                    hint=f"connected: {', '.join(self.connected_clients()) or 'none'}")

    def close(self) -> None:
        """Stop the broker and its thread; safe to call twice, never leaks the port."""
        with contextlib.suppress(BrokerUnavailable):
            self.stop()
        if self._thread.is_alive():
            with contextlib.suppress(BrokerUnavailable):
                self._call(self._cancel_leftovers(), STOP_TIMEOUT, "cancel its client tasks")
            with contextlib.suppress(BrokerUnavailable):  # its name lookups' thread (a bad bind host)
                self._call(self._loop.shutdown_default_executor(), STOP_TIMEOUT, "stop its executor")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()
        detach_state(self._state_id)
        forget_credentials(self.host, self.port)
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    @staticmethod
    async def _cancel_leftovers() -> None:
        """Client handlers amqtt leaves behind after shutdown, so the loop closes cleanly."""
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def __enter__(self) -> "HilBroker":
        try:
            self.start()
        except BaseException:
            self.close()  # a broker that could not start leaves no thread or loop behind
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

