"""The board's serial port as a pseudo-terminal, for picocom, ampy and esptool on a path.

A PTY has no modem lines (esptool says "Chip was NOT reset" there, or with `--before
no-reset` "Pre-connection option "no-reset" was selected"), so resets come from
the board's buttons. The rate the host set is read from the terminal settings through
the master side (TCGETS2, which also carries non-standard rates such as 74880), and
bytes exchanged at another rate than the chip's arrive garbled. Output waits for the
terminal: past `OUTPUT_BACKLOG` unread bytes the chip's writes block until the terminal
reads (a UART never loses bytes to a host that reads; an unpaced board is only as fast as
its reader). A terminal that reads nothing for `STALL_SECONDS` while output is held counts
as absent: then the oldest output is lost, as a USB bridge with nobody reading loses it,
until the terminal reads again. While no client has the port open (the master sees a
hang-up) the chip's output is dropped, as a closed /dev/ttyUSB0 drops it: held for the
next client, the output of a session on the RFC2217 face reached the next PTY client after
its input flush (mpremote then took a raw-paste reply, `R\x01\x80...`, for output). Whether
a client has the port open is asked of the master (a hang-up) as output arrives, so the
first bytes after an open reach it however late the reader thread runs. The master runs
in packet mode, so a client's input flush (pyserial does one on open, esptool before
every sync) also discards the backlog held for a terminal that was full; output still
flowing to it is in flight and stays, as bytes on the wire do (the flush is reported
after the fact, and a reset pressed just after an open must not lose its banner).
`--pty LINK` names a stable symlink to the /dev/pts/N node, replaced atomically at start.

Auto-reset (the default, as a NodeMCU on USB): esptool's SYNC reaching a chip that runs
its firmware (or halted without one) resets it into the ROM loader first, as the DTR/RTS
circuit would have before esptool synced, and the ROM text goes where esptool's input
flush would have put it; when the client then closes the port with the chip still in the
loader it entered that way, the chip boots from flash (esptool's hard reset at the end).
A loader re-entered through FLASH_END(0) (`--after no-reset`) is left running. With
`auto_reset=False` (`hil sim --no-auto-reset`) the PTY is a board without that circuit:
the FLASH and RST buttons are the only way into the loader. The link keeps no slave
descriptor of its own, so a hang-up on the master tells it the client has closed.
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
HANGUP_POLL = 0.02  # while nobody has the port open: how soon a new client is noticed
FALLBACK_BAUD = 115200
SYNC_PREFIX = b"\xc0\x00\x08\x24\x00\x00\x00\x00\x00\x07\x07\x12\x20"  # esptool's SYNC frame
OUTPUT_BACKLOG = 16 * 1024  # chip output held before the chip's writes wait for the terminal
STALL_SECONDS = 3.0  # a terminal that drains nothing for this long while the chip waits is absent


class PtyError(OSError):
    """The PTY or its symlink could not be set up."""


class PtyLink:
    def __init__(self, link: str | os.PathLike | None = None, *, auto_reset: bool = True):
        self.board = None
        self.auto_reset = auto_reset
        self._sync_tail = b""
        self._auto_loader = False  # the chip is in a loader the auto-reset put it in
        self._client_open = False
        self._write_lock = threading.Lock()
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
        self._terminal_full = False  # the last write did not take all that was held
        self._out_ready = threading.Condition()
        self._thread = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="pty-writer", daemon=True)
        os.close(self._slave)  # the node stays (and keeps its settings) while the master is open
        self._slave = -1

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
            if fd < 0:
                continue
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
        if not self._client_open and not self._client_present():
            return  # a closed port: the bytes go nowhere
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
                if self._unattended or not self._client_open:
                    del self._out[:len(self._out) - OUTPUT_BACKLOG]  # nobody reads: the oldest is lost
                    self._out_epoch += 1
                    break
                self._out_ready.wait(POLL_INTERVAL)

    def _write_loop(self) -> None:
        while not self._closing:
            with self._out_ready:
                self._out_ready.wait_for(lambda: self._out or self._closing, POLL_INTERVAL)
                if not self._out:
                    continue
            with self._write_lock, self._out_ready:
                pending = bytes(self._out[:READ_SIZE])
                if not pending:
                    continue
                try:
                    written = os.write(self._master, pending)
                except BlockingIOError:
                    written = 0
                except OSError:
                    return
                del self._out[:written]
                self._terminal_full = written < len(pending)
                if written:
                    self._drained += written
                    self._unattended = not self._client_open
                    self._out_ready.notify_all()
            if not written:
                select.select([], [self._master], [], POLL_INTERVAL)

    def _client_present(self) -> bool:
        """A client has the slave open now: the master shows no hang-up."""
        poller = select.poll()
        poller.register(self._master, select.POLLHUP)
        present = not any(revents & select.POLLHUP for _, revents in poller.poll(0))
        if present:
            self._client_open = True
        return present

    def _read_loop(self) -> None:
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        while not self._closing:
            events = poller.poll((POLL_INTERVAL if self._client_open else HANGUP_POLL) * 1000)
            if not events:
                self._client_open = True  # no hang-up: a client has the slave open
                continue
            revents = events[0][1]
            data = b""
            if revents & select.POLLIN:
                try:
                    data = os.read(self._master, READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""  # EIO: no client has the slave open
            if not data:
                self._client_closed()
                time.sleep(HANGUP_POLL)  # the hang-up stays signalled until a client opens
                continue
            self._client_open = True
            if data[0] == PACKET_DATA:
                if len(data) > 1:
                    self._from_host(data[1:])
            elif data[0] & PACKET_FLUSHREAD:
                self._host_purged()

    def _from_host(self, data: bytes) -> None:
        baud = self.host_baud()
        if self.auto_reset:
            data = self._watch_for_sync(data, baud)
        if data:
            self.board.receive(data, baud)

    def _watch_for_sync(self, data: bytes, baud: int) -> bytes:
        """esptool's first SYNC to a running chip: reset it into the ROM loader, as the
        auto-reset circuit would have before the SYNC was sent (the SYNC itself is lost in
        the reset, esptool's next one is answered)."""
        from nodemcu_hil.sim.board import MODE_APPLICATION, MODE_HALTED

        window = self._sync_tail + data
        found = window.find(SYNC_PREFIX)
        if found < 0 or self.board.mode not in (MODE_APPLICATION, MODE_HALTED):
            self._sync_tail = window[-(len(SYNC_PREFIX) - 1):]
            return data
        self._sync_tail = b""
        before = found - (len(window) - len(data))
        if before > 0:
            self.board.receive(data[:before], baud)
        self.board.auto_reset(download=True)
        with self._write_lock:
            with self._out_ready:  # esptool flushes its input after the reset: the ROM text
                self._out.clear()
                self._out_epoch += 1
                self._out_ready.notify_all()
            try:
                termios.tcflush(self._master, termios.TCOFLUSH)
            except termios.error:
                pass
        self._auto_loader = True
        return b""

    def _client_closed(self) -> None:
        """The last client closed the port: after esptool on an auto-reset loader, its hard
        reset (RTS pulse) boots the firmware."""
        from nodemcu_hil.sim.board import MODE_DOWNLOAD

        was_open, self._client_open = self._client_open, False
        self._sync_tail = b""
        if not was_open:
            return
        with self._out_ready:
            self._out.clear()  # what the client did not read leaves with it
            self._out_epoch += 1
            self._out_ready.notify_all()
        auto, self._auto_loader = self._auto_loader, False
        if auto and self.board.mode == MODE_DOWNLOAD and not self.board.loader_rebooted:
            self.board.auto_reset(download=False)

    def _host_purged(self) -> None:
        """The terminal flushed its input (tcflush): what it could not take is gone, as on
        RFC2217's PURGE; a boot still being decided prints its ROM text first."""
        with self._out_ready:
            if self._terminal_full:
                self._out.clear()
                self._out_epoch += 1
                self._terminal_full = False
                self._out_ready.notify_all()
        self.board.settle()
