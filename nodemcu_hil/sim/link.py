"""The board's serial port as the host sees it: an RFC2217 server and an optional PTY.

RFC2217 is how ser2net and esptool's `esp_rfc2217_server` export real boards, so the
harness reaches a virtual board exactly as it reaches a remote real one. The Telnet and
RFC2217 state machine is pyserial's own server side (`serial.rfc2217.PortManager`); this
module gives it a "serial port" whose modem lines drive the board's reset circuit and
whose baud rate is the host's side of the wire. One client at a time: a second one gets
a one-line reason and is disconnected.
"""

from __future__ import annotations

import socket
import sys
import threading

from serial.rfc2217 import COM_PORT_OPTION, DONT, IAC, M_NORMAL, PortManager

from nodemcu_hil.sim.sockets import close_listener, hang_up
from nodemcu_hil.sim.wire import resample

INITIAL_HOST_BAUD = 9600  # what an RFC2217 port reports before the client sets a rate
TAKEOVER_GRACE = 0.5  # a client reconnecting right after closing waits this long for its slot
RECV_SIZE = 65536
REFUSAL_LINGER = 5.0  # longer than a client's 3 s wait for answers to its settings
LISTEN_BACKLOG = 4


class _LinePort:
    """The serial port that PortManager configures; modem lines go to the reset circuit."""

    def __init__(self, board):
        self._board = board
        self.baudrate = INITIAL_HOST_BAUD
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False
        self._dtr = False
        self._rts = False

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)
        self._board.set_dtr(self._dtr)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)
        self._board.set_rts(self._rts)

    def reset_input_buffer(self) -> None:
        # PortManager acks the PURGE only after this returns: a boot that is still
        # being decided prints its ROM text now, so the client discards it with the
        # rest of its input instead of reading it in the middle of its first SYNC.
        self._board.settle()

    def reset_output_buffer(self) -> None:
        """Nothing is queued towards the chip: bytes are delivered as they arrive."""


class _ClientSession:
    """One connected RFC2217 client."""

    def __init__(self, board, sock: socket.socket, peer: str):
        self.board = board
        self.sock = sock
        self.peer = peer
        self._write_lock = threading.Lock()
        self.closed = False
        self.line = _LinePort(board)
        self.manager = PortManager(self.line, self)

    def write(self, data: bytes) -> None:
        """PortManager's connection: Telnet replies and escaped serial data."""
        if self.closed:
            return
        with self._write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def deliver(self, data: bytes, chip_baud: int) -> None:
        received = resample(data, chip_baud, self.line.baudrate)
        if received:
            self.write(received.replace(IAC, IAC + IAC))

    def serve(self) -> None:
        try:
            while not self.closed:
                try:
                    chunk = self.sock.recv(RECV_SIZE)
                except OSError:
                    break
                if not chunk:
                    break
                self._feed(chunk)
        finally:
            self.closed = True
            self.sock.close()

    def _feed(self, chunk: bytes) -> None:
        """Plain data goes to the chip in runs; Telnet sequences through PortManager.

        Data before a Telnet command reaches the chip before the command acts, so the
        order of bytes and line changes is the order the client sent them in.
        """
        manager = self.manager
        pending = bytearray()
        index = 0
        while index < len(chunk):
            if manager.mode == M_NORMAL and manager.suboption is None:
                stop = chunk.find(IAC, index)
                stop = len(chunk) if stop < 0 else stop
                pending += chunk[index:stop]
                index = stop
                if index >= len(chunk):
                    break
            if pending:
                self.board.receive(bytes(pending), self.line.baudrate)
                pending.clear()
            pending += b"".join(manager.filter(chunk[index:index + 1]))
            index += 1
        if pending:
            self.board.receive(bytes(pending), self.line.baudrate)


class Rfc2217Server:
    """Listens on a loopback TCP port and serves one RFC2217 client at a time."""

    def __init__(self, sock: socket.socket):
        self.board = None
        self._lock = threading.Lock()
        self._slot_free = threading.Condition(self._lock)
        self._session: _ClientSession | None = None
        self._stopping = False
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, name="rfc2217-accept", daemon=True)

    @classmethod
    def bind(cls, host: str, port: int) -> "Rfc2217Server":
        """Take the TCP port now (an error here leaves nothing running)."""
        return cls(socket.create_server((host, port), backlog=LISTEN_BACKLOG))

    def attach(self, board) -> None:
        self.board = board
        board.add_listener(self._deliver)

    @property
    def url(self) -> str:
        return f"rfc2217://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping = True
        close_listener(self._sock)
        with self._lock:
            session = self._session
        if session is not None:
            hang_up(session.sock)

    def _deliver(self, data: bytes, chip_baud: int) -> None:
        session = self._session
        if session is not None and not session.closed:
            session.deliver(data, chip_baud)

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                conn, addr = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = f"{addr[0]}:{addr[1]}"
            threading.Thread(target=self._admit, args=(conn, peer), name=f"rfc2217-{peer}",
                             daemon=True).start()

    def _admit(self, conn: socket.socket, peer: str) -> None:
        with self._lock:
            self._slot_free.wait_for(lambda: self._session is None, timeout=TAKEOVER_GRACE)
            holder = self._session
            if holder is None:
                session = self._session = _ClientSession(self.board, conn, peer)
        if holder is not None:
            self._refuse(conn, peer, holder.peer)
            return
        try:
            session.serve()
        finally:
            # The chip that was just released has long sampled its straps by the time a
            # real host closes the port; then the bridge drops DTR and RTS together.
            self.board.settle()
            self.board.set_lines(False, False)
            with self._lock:
                self._session = None
                self._slot_free.notify_all()

    def _refuse(self, conn: socket.socket, peer: str, holder: str) -> None:
        """Decline RFC2217 with a one-line reason, then let the client hang up first.

        Declining the COM port option ends the client's Telnet negotiation at once; the
        reason follows as plain text (the harness's client raises PortBusy with it).
        pyserial's plain client goes on to send its settings, gets no answer and reports
        "Remote does not accept parameter change", which esptool turns into "Could not
        open ..., the port is busy or doesn't exist"; closing first would give it a bare
        BrokenPipeError instead.
        """
        reason = (f"BUSY: virtual board {self.board.config.name!r} at {self.url} is in use by "
                  f"{holder}; one client at a time, close the other connection first\r\n")
        print(f"refused RFC2217 client {peer}: port in use by {holder}", file=sys.stderr, flush=True)
        try:
            conn.sendall(IAC + DONT + COM_PORT_OPTION + reason.encode())
            conn.settimeout(REFUSAL_LINGER)
            while conn.recv(RECV_SIZE):
                pass
        except OSError:
            pass
        conn.close()
