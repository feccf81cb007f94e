"""The board's serial port as a pseudo-terminal, for picocom, ampy and esptool on a path.

A PTY has no modem lines (esptool says "Chip was NOT reset" there, or with `--before
no-reset` "Pre-connection option "no-reset" was selected"), so resets come from
the board's buttons. The rate the host set is read from the terminal settings through
the master side (TCGETS2, which also carries non-standard rates such as 74880), and
bytes exchanged at another rate than the chip's arrive garbled. Output waits for the
terminal: past `OUTPUT_BACKLOG` unread bytes the chip's writes block until the terminal
reads (a UART never loses bytes to a host that reads; an unpaced board is only as fast as
its reader). A terminal that reads nothing for `STALL_SECONDS` while output is held counts
as absent (nobody has the port open): then the oldest output is lost, as a USB bridge with
nobody reading loses it, until the terminal reads again. The master runs in
packet mode, so a client's input flush (pyserial does one on open, esptool before every
sync) also discards that backlog. `--pty LINK` names a
stable symlink to the /dev/pts/N node, replaced atomically at start.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty
from pathlib import Path

from nodemcu_hil.sim.wire import resample

TCGETS2 = 0x802C542A  # Linux: struct termios2 with c_ispeed / c_ospeed
PACKET_DATA = 0  # packet mode: first byte of a read that carries data
PACKET_FLUSHREAD = 0x01  # TIOCPKT_FLUSHREAD: the terminal discarded its input
TERMIOS2 = struct.Struct("=4IB19s2I")
READ_SIZE = 65536
POLL_INTERVAL = 0.2
FALLBACK_BAUD = 115200
OUTPUT_BACKLOG = 16 * 1024  # chip output held before the chip's writes wait for the terminal
STALL_SECONDS = 3.0  # a terminal that drains nothing for this long while the chip waits is absent


class PtyError(OSError):
    """The PTY or its symlink could not be set up."""


class PtyLink:
    def __init__(self, link: str | os.PathLike | None = None):
        self.board = None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # until a client configures it, nothing is echoed or mangled
        os.set_blocking(self._master, False)
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))
        self.device = os.ttyname(self._slave)
        self.link = Path(link) if link else None
        self._closing = False
        if self.link is not None:
            self._make_link()
        self._out = bytearray()
        self._out_epoch = 0
        self._drained = 0  # bytes the terminal has taken so far
        self._unattended = False  # nobody read for STALL_SECONDS: drop instead of waiting
        self._out_ready = threading.Condition()
        self._thread = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="pty-writer", daemon=True)

    def attach(self, board) -> None:
        self.board = board
        board.add_listener(self._deliver)

    @property
    def path(self) -> str:
        return str(self.link) if self.link else self.device

    def start(self) -> None:
        self._thread.start()
        self._writer.start()

    def host_baud(self) -> int:
        try:
            raw = fcntl.ioctl(self._master, TCGETS2, bytes(TERMIOS2.size))
        except OSError:
            return FALLBACK_BAUD
        return TERMIOS2.unpack(raw)[-1] or FALLBACK_BAUD

    def close(self) -> None:
        self._closing = True
        with self._out_ready:
            self._out_ready.notify_all()
        for thread in (self._thread, self._writer):
            if thread.is_alive():
                thread.join(timeout=2 * POLL_INTERVAL + 1)
        if self.link is not None:
            try:
                if os.readlink(self.link) == self.device:
                    self.link.unlink()
            except OSError:
                pass
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _make_link(self) -> None:
        link = self.link
        if link.exists() and not link.is_symlink():
            self._close_fds()
            raise PtyError(errno.EEXIST, f"{link} exists and is not a symlink; "
                                         f"choose another --pty path")
        temporary = link.with_name(f".{link.name}.{os.getpid()}")
        try:
            if temporary.is_symlink():
                temporary.unlink()
            os.symlink(self.device, temporary)
            os.replace(temporary, link)
        except OSError as exc:
            self._close_fds()
            raise PtyError(exc.errno, f"cannot create the PTY link {link}: {exc.strerror}") from exc

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            os.close(fd)

    def _deliver(self, data: bytes, chip_baud: int) -> None:
        """Queue chip output for the writer thread; past the backlog, wait for the terminal."""
        if self._closing:
            return
        received = resample(data, chip_baud, self.host_baud())
        with self._out_ready:
            self._out += received
            self._out_ready.notify_all()
            waited_from, drained = time.monotonic(), self._drained
            while len(self._out) > OUTPUT_BACKLOG and not self._closing:
                if self._drained != drained:
                    waited_from, drained = time.monotonic(), self._drained
                elif time.monotonic() - waited_from >= STALL_SECONDS:
                    self._unattended = True
                if self._unattended:
                    del self._out[:len(self._out) - OUTPUT_BACKLOG]  # nobody reads: the oldest is lost
                    self._out_epoch += 1
                    break
                self._out_ready.wait(POLL_INTERVAL)

    def _write_loop(self) -> None:
        while not self._closing:
            with self._out_ready:
                self._out_ready.wait_for(lambda: self._out or self._closing, POLL_INTERVAL)
                pending = bytes(self._out[:READ_SIZE])
                epoch = self._out_epoch
            if not pending:
                continue
            try:
                written = os.write(self._master, pending)
            except BlockingIOError:
                select.select([], [self._master], [], POLL_INTERVAL)
                continue
            except OSError:
                return
            with self._out_ready:
                if epoch == self._out_epoch:  # else a purge already dropped these bytes
                    del self._out[:written]
                self._drained += written
                self._unattended = False
                self._out_ready.notify_all()

    def _read_loop(self) -> None:
        while not self._closing:
            ready, _, _ = select.select([self._master], [], [], POLL_INTERVAL)
            if not ready:
                continue
            try:
                data = os.read(self._master, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if not data:
                continue
            if data[0] == PACKET_DATA:
                if len(data) > 1:
                    self.board.receive(data[1:], self.host_baud())
            elif data[0] & PACKET_FLUSHREAD:
                self._host_purged()

    def _host_purged(self) -> None:
        """The terminal flushed its input (tcflush): what it has not read is gone, as on
        RFC2217's PURGE; a boot still being decided prints its ROM text first."""
        with self._out_ready:
            self._out.clear()
            self._out_epoch += 1
            self._out_ready.notify_all()
        self.board.settle()
