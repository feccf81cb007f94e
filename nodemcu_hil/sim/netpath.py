"""The network path between the board's TCP sockets and the hosts they reach.

Every TCP connection the firmware opens arrives here first: the firmware's `socket`
module connects to this relay, presents the token the world issued for its destination,
and waits for one status byte (0 = connected, else the errno lwIP would report). The
relay then carries bytes both ways, so the world's faults hit the firmware's own sockets:

- blackhole: nothing is read or delivered in either direction, no FIN, no RST; both TCP
  peers stay open (as with packets silently lost). Lifting it delivers what was held,
  as TCP retransmission would.
- latency: each chunk is delivered `latency_ms` after it was read, in each direction.
- abort (the Wi-Fi link or the station's address is lost): lwIP aborts every pcb bound
  to the old address (netif_set_ipaddr -> tcp_abort -> ERR_ABRT), so the board's side
  is reset and its socket raises ECONNABORTED (modlwip error_lookup_table); nothing
  reaches the peer, whose connection stays half-open until its own timeout.
- freeze (the chip is reset): the board's side goes silent and nothing reaches the peer.
  The firmware announces each close() first (`announce_close`); a board-side EOF that
  was not announced is the interpreter dying with the chip, and freezes likewise.
"""

from __future__ import annotations

import errno
import logging
import secrets
import selectors
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

RELAY_HOST = "127.0.0.1"
STATUS_OK = 0
UPSTREAM_GIVEUP_S = 18.0  # lwIP 1.4 gives up after its SYN retransmissions (~18 s)
CHUNK = 16384
SEND_TIMEOUT_S = 5.0
TOKEN_LINE_MAX = 64
TICK_S = 0.2
KEEP_FINISHED = 64

log = logging.getLogger(__name__)


@dataclass
class _Conn:
    token: str
    dst: tuple[str, int]
    fw: socket.socket | None = None
    up: socket.socket | None = None
    state: str = "pending"  # pending handshake waiting connecting open | closed aborted frozen refused
    start_at: float = 0.0
    connect_deadline: float = 0.0
    head: bytes = b""
    to_up: deque = field(default_factory=deque)  # (due, bytes | None for EOF)
    to_fw: deque = field(default_factory=deque)
    fw_eof: bool = False
    up_eof: bool = False
    discarding: bool = False
    closing: bool = False  # the firmware called close(): its EOF is an orderly FIN


class NetPath:
    def __init__(self, on_open: Callable[[], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 upstream_giveup_s: float = UPSTREAM_GIVEUP_S):
        self._on_open = on_open
        self._clock = clock
        self._giveup_s = upstream_giveup_s
        self.blackhole = False
        self.latency_ms = 0
        self._conns: dict[str, _Conn] = {}
        self._sel = selectors.DefaultSelector()
        self._calls: deque = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    # --- public face (any thread)
    def start(self) -> tuple[str, int]:
        self._listener = socket.create_server((RELAY_HOST, 0))
        self._listener.setblocking(False)
        self._sel.register(self._listener, selectors.EVENT_READ, ("listen", None))
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="netpath", daemon=True)
        self._thread.start()
        return self._listener.getsockname()[:2]

    def admit(self, dst: tuple[str, int]) -> str:
        """Issue the token the firmware presents to open a connection to `dst`."""
        token = secrets.token_hex(8)
        self._run(lambda: self._conns.__setitem__(token, _Conn(token, (str(dst[0]), int(dst[1])))))
        return token

    def announce_close(self, token: str) -> None:
        """The firmware is about to close this socket: forward its EOF as a FIN.

        An EOF nobody announced means the interpreter died with the chip (a reset): a
        real chip sends nothing then, so the peer is left half-open.
        """
        def mark() -> None:
            conn = self._conns.get(token)
            if conn is not None:
                conn.closing = True

        self._run(mark)

    def fate(self, token: str) -> str:
        conn = self._conns.get(token)
        return conn.state if conn else "unknown"

    def set_blackhole(self, on: bool) -> None:
        self._run(lambda: self._apply_blackhole(bool(on)))

    def set_latency(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got {ms}")
        self._run(lambda: setattr(self, "latency_ms", int(ms)))

    def abort_all(self) -> None:
        self._run(lambda: self._end_all("aborted"))

    def freeze_all(self) -> None:
        self._run(lambda: self._end_all("frozen"))

    def close_all(self) -> None:
        """The firmware closed every socket (a soft reset): peers get their FIN."""
        self._run(lambda: self._end_all("closed"))

    def connections(self) -> list[dict]:
        return [{"dst": list(c.dst), "state": c.state} for c in list(self._conns.values())]

    def close(self) -> None:
        if not self._running:
            return
        self._running = False
        self._wake()
        if self._thread:
            self._thread.join(timeout=5)
        for conn in list(self._conns.values()):
            for sock in (conn.fw, conn.up):
                if sock:
                    sock.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock:
                sock.close()
        self._sel.close()

    def _run(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the relay thread and wait for it, so a fault is in force on return."""
        if not self._running:
            fn()
            return
        done = threading.Event()
        self._calls.append((fn, done))
        self._wake()
        if not done.wait(timeout=5):
            raise TimeoutError("the network path relay did not answer within 5 s")

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"!")
        except OSError:
            pass

    # --- the relay thread
    def _loop(self) -> None:
        while self._running:
            try:
                self._turn()
            except Exception:  # one bad connection must not stop the whole path
                log.exception("network path relay: unexpected error, continuing")

    def _turn(self) -> None:
        for key, _ in self._sel.select(self._next_timeout()):
            kind, conn = key.data
            if kind == "listen":
                self._accept()
            elif kind == "wake":
                self._wake_r.recv(4096)
            else:
                self._on_ready(kind, conn)
        while self._calls:
            fn, done = self._calls.popleft()
            try:
                fn()
            finally:
                done.set()
        self._progress()
        self._prune()

    def _prune(self) -> None:
        """Forget the oldest finished connections (their fate stays known for a while)."""
        done = [t for t, c in self._conns.items()
                if c.state in ("closed", "refused", "aborted", "frozen") and c.fw is None and c.up is None]
        for token in done[:max(0, len(done) - KEEP_FINISHED)]:
            del self._conns[token]

    def _next_timeout(self) -> float:
        dues = [q[0][0] for c in self._conns.values() for q in (c.to_up, c.to_fw) if q]
        dues += [c.start_at for c in self._conns.values() if c.state == "waiting"]
        if not dues or self.blackhole:
            return TICK_S  # the SYN give-up is checked at this pace
        return max(0.0, min(min(dues) - self._clock(), TICK_S))

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        sock.settimeout(SEND_TIMEOUT_S)
        holder = _Conn(token="", dst=("", 0), fw=sock, state="handshake")
        self._sel.register(sock, selectors.EVENT_READ, ("fw", holder))

    def _on_ready(self, kind: str, conn: _Conn) -> None:
        if conn.state == "handshake":
            self._handshake(conn)
        elif kind == "up" and conn.state == "connecting":
            self._upstream_connected(conn)
        elif kind == "up" and conn.discarding:
            self._discard(conn)
        elif conn.state == "open":
            self._pump(conn, kind)

    def _handshake(self, holder: _Conn) -> None:
        data = self._recv(holder.fw)
        holder.head += data or b""
        if not data or (b"\n" not in holder.head and len(holder.head) > TOKEN_LINE_MAX):
            self._sel.unregister(holder.fw)
            holder.fw.close()
            return
        if b"\n" not in holder.head:
            return
        line, rest = holder.head.split(b"\n", 1)
        conn = self._conns.get(line.decode("ascii", "replace").strip())
        self._sel.unregister(holder.fw)
        if conn is None or conn.state != "pending":
            holder.fw.close()
            return
        conn.fw, conn.state, conn.start_at = holder.fw, "waiting", self._clock() + self.latency_ms / 1000
        if rest:
            conn.to_up.append((self._clock(), rest))

    def _start_upstream(self, conn: _Conn) -> None:
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setblocking(False)
        err = up.connect_ex(conn.dst)
        conn.up, conn.state = up, "connecting"
        conn.connect_deadline = self._clock() + self._giveup_s
        if err not in (0, errno.EINPROGRESS):
            self._upstream_failed(conn, err)
            return
        self._sel.register(up, selectors.EVENT_WRITE, ("up", conn))

    def _upstream_connected(self, conn: _Conn) -> None:
        err = conn.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._sel.unregister(conn.up)
        if err:
            self._upstream_failed(conn, err)
            return
        conn.up.setblocking(True)
        conn.up.settimeout(SEND_TIMEOUT_S)
        conn.state = "open"
        conn.to_fw.append((self._clock() + self.latency_ms / 1000, bytes([STATUS_OK])))
        if not self.blackhole:
            self._sel.register(conn.fw, selectors.EVENT_READ, ("fw", conn))
            self._sel.register(conn.up, selectors.EVENT_READ, ("up", conn))
        if self._on_open:
            self._on_open()

    def _upstream_failed(self, conn: _Conn, err: int) -> None:
        """A refused SYN comes back as RST (lwIP ERR_RST -> ECONNRESET); silence -> ERR_ABRT."""
        code = errno.ECONNRESET if err == errno.ECONNREFUSED else errno.ECONNABORTED
        if conn.up is not None:
            conn.up.close()
        conn.up, conn.state = None, "refused"
        self._send(conn.fw, bytes([code]))
        conn.fw.close()
        conn.fw = None

    def _pump(self, conn: _Conn, kind: str) -> None:
        src = conn.fw if kind == "fw" else conn.up
        data = self._recv(src)
        if kind == "fw" and not data and not conn.closing:
            self._finish(conn, "frozen")
            return
        queue = conn.to_up if kind == "fw" else conn.to_fw
        queue.append((self._clock() + self.latency_ms / 1000, data or None))
        if not data:
            self._sel.unregister(src)
            if kind == "fw":
                conn.fw_eof = True
            else:
                conn.up_eof = True

    def _progress(self) -> None:
        now = self._clock()
        for conn in list(self._conns.values()):
            if conn.state == "waiting" and now >= conn.start_at + self._giveup_s:
                self._upstream_failed(conn, errno.ETIMEDOUT)  # every SYN was lost
            elif self.blackhole:
                continue
            elif conn.state == "waiting" and now >= conn.start_at:
                self._start_upstream(conn)
            elif conn.state == "connecting" and now >= conn.connect_deadline:
                self._sel.unregister(conn.up)
                self._upstream_failed(conn, errno.ETIMEDOUT)
            if conn.state == "open":
                self._deliver(conn, conn.to_up, conn.up, now)
                self._deliver(conn, conn.to_fw, conn.fw, now)
                if conn.fw_eof and conn.up_eof and not conn.to_up and not conn.to_fw:
                    self._finish(conn, "closed")

    def _deliver(self, conn: _Conn, queue: deque, dst: socket.socket | None, now: float) -> None:
        while queue and queue[0][0] <= now and dst is not None:
            _, data = queue.popleft()
            if data is None:
                self._shutdown(dst)
            elif not self._send(dst, data):
                self._finish(conn, "closed", rst=True)
                return

    def _apply_blackhole(self, on: bool) -> None:
        """Stop (or resume) reading the open connections: held bytes wait in the kernel."""
        self.blackhole = on
        for conn in self._conns.values():
            if conn.state != "open":
                continue
            for kind, sock, eof in (("fw", conn.fw, conn.fw_eof), ("up", conn.up, conn.up_eof)):
                self._forget(sock)
                if not on and not eof:
                    self._sel.register(sock, selectors.EVENT_READ, (kind, conn))

    def _end_all(self, how: str) -> None:
        for conn in list(self._conns.values()):
            if conn.state in ("open", "connecting", "waiting", "pending"):
                self._finish(conn, how, rst=(how == "aborted"))

    def _finish(self, conn: _Conn, how: str, rst: bool = False) -> None:
        """End the board's side; the peer's side is closed only for an orderly close."""
        was_open = conn.state == "open"
        self._forget(conn.fw)
        if conn.fw is not None:
            if rst:
                conn.fw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.fw.close()
            conn.fw = None
        self._forget(conn.up)
        conn.to_up.clear()
        conn.to_fw.clear()
        conn.state = how
        if conn.up is not None and how in ("aborted", "frozen") and was_open:
            conn.discarding = True
            self._sel.register(conn.up, selectors.EVENT_READ, ("up", conn))
        elif conn.up is not None:
            conn.up.close()
            conn.up = None

    def _discard(self, conn: _Conn) -> None:
        """A peer left half-open: swallow what it still sends, close when it gives up."""
        if not self._recv(conn.up):
            self._forget(conn.up)
            conn.up.close()
            conn.up, conn.discarding = None, False

    def _forget(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(CHUNK)
        except OSError:
            return b""

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
