"""The board's control endpoint: what a test does to the board besides using its port.

JSON lines over TCP on loopback. A request is one object `{"cmd": NAME, ...params}`; the
reply is `{"ok": true, ...result}` or `{"ok": false, "error": TEXT}`. Commands live in a
table (`ControlServer.register(name, handler)`, handler(params: dict) -> dict), so the
MicroPython runtime and the world add theirs (GPIO, Wi-Fi) next to the board's own:
`press` / `release` (button `flash` or `rst`), `state`, `reset`, `commands`, the power
switch `power_off` / `power_on` / `power_cycle`, and the fault `bridge_stuck` (the USB-serial
bridge hangs; only a power cycle clears it).
`ControlClient` is the Python side; it is part of the package's public face.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Callable

from nodemcu_hil.sim.sockets import close_listener

Handler = Callable[[dict], dict]
MAX_LINE = 1 << 20
CLIENT_TIMEOUT = 10.0


class ControlError(RuntimeError):
    """The board refused a control command or could not be reached; the text says which."""


class ControlServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._handlers: dict[str, Handler] = {"commands": lambda params: {"commands": sorted(self._handlers)}}
        self._lock = threading.Lock()
        self._stopping = False
        self._sock = socket.create_server((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name="control-accept", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def register(self, name: str, handler: Handler) -> None:
        """Add or replace the command `name`."""
        with self._lock:
            self._handlers[name] = handler

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping = True
        close_listener(self._sock)

    def handle(self, request: Any) -> dict:
        """Run one request; every failure becomes an error reply, never an exception."""
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'a request is a JSON object with a string "cmd"'}
        name = request["cmd"]
        with self._lock:
            handler = self._handlers.get(name)
        if handler is None:
            return {"ok": False, "error": f"unknown command {name!r}; known: {', '.join(sorted(self._handlers))}"}
        params = {key: value for key, value in request.items() if key != "cmd"}
        try:
            result = handler(params) or {}
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": f"{name}: {exc}"}
        return {"ok": True, **result}

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="control-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                if len(line) > MAX_LINE:
                    reply = {"ok": False, "error": "request line too long"}
                else:
                    try:
                        reply = self.handle(json.loads(line))
                    except json.JSONDecodeError as exc:
                        reply = {"ok": False, "error": f"not JSON: {exc}"}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()


POWER_COMMANDS = {"on": "power_on", "off": "power_off", "cycle": "power_cycle"}


def register_board_commands(server: ControlServer, board) -> None:
    """The NodeMCU's own controls: its two buttons, a reset, its power, and its state."""

    def press(params: dict) -> dict:
        board.press(_button(params))
        return {}

    def release(params: dict) -> dict:
        board.release(_button(params))
        return {}

    def reset(params: dict) -> dict:
        board.press("rst")
        board.release("rst")
        return {}

    server.register("press", press)
    server.register("release", release)
    server.register("reset", reset)
    server.register("state", lambda params: board.state())
    for command in POWER_COMMANDS.values():
        server.register(command, _switch(getattr(board, command)))
    server.register("bridge_stuck", _switch(board.stick_bridge))


def _switch(action: Callable[[], None]) -> Handler:
    def handler(params: dict) -> dict:
        action()
        return {}
    return handler


def _button(params: dict) -> str:
    button = params.get("button")
    if not isinstance(button, str):
        raise ValueError('give the button as {"button": "flash"} or {"button": "rst"}')
    return button.lower()


class ControlClient:
    """Talks to a board's control endpoint (`HOST:PORT` as printed on its READY line)."""

    def __init__(self, address: str, timeout: float = CLIENT_TIMEOUT):
        host, _, port = address.rpartition(":")
        self.address = address
        try:
            self._sock = socket.create_connection((host, int(port)), timeout=timeout)
        except (OSError, ValueError) as exc:
            raise ControlError(f"cannot reach the board's control endpoint {address}: {exc}") from exc
        self._stream = self._sock.makefile("rwb")
        self._lock = threading.Lock()

    def call(self, cmd: str, **params: Any) -> dict:
        with self._lock:
            try:
                self._stream.write(json.dumps({"cmd": cmd, **params}).encode() + b"\n")
                self._stream.flush()
                line = self._stream.readline()
            except OSError as exc:
                raise ControlError(f"control endpoint {self.address} failed during {cmd!r}: {exc}") from exc
        if not line:
            raise ControlError(f"control endpoint {self.address} closed the connection during {cmd!r}")
        reply = json.loads(line)
        if not reply.pop("ok", False):
            raise ControlError(f"board refused {cmd!r}: {reply.get('error', 'no reason given')}")
        return reply

    def press(self, button: str) -> None:
        self.call("press", button=button)

    def release(self, button: str) -> None:
        self.call("release", button=button)

    def reset(self) -> None:
        """Tap RST: the chip reboots with the straps as they are."""
        self.call("reset")

    def enter_download_mode(self) -> None:
        """Hold FLASH, tap RST, release FLASH: what a user does on a board without auto-reset."""
        self.press("flash")
        try:
            self.reset()
        finally:
            self.release("flash")

    def state(self) -> dict:
        return self.call("state")

    def power(self, action: str) -> None:
        """Switch the board's power: "on", "off" or "cycle" (off, then on)."""
        if action not in POWER_COMMANDS:
            raise ControlError(f"unknown power action {action!r}; known: {', '.join(POWER_COMMANDS)}")
        self.call(POWER_COMMANDS[action])

    def stick_bridge(self) -> None:
        """Hang the board's USB-serial bridge: the link goes silent both ways until a power cycle."""
        self.call("bridge_stuck")

    def close(self) -> None:
        for closer in (self._stream.close, self._sock.close):
            try:
                closer()
            except OSError:
                pass

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
