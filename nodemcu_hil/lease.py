"""Cross-process board leases, so two runs never drive one board.

A lease is an OS file lock (filelock, flock on POSIX) in a directory shared by every user
of the rig, keyed by the board's MAC where known so that moving a board to another USB
port keeps its lease. The kernel drops the lock when the holder dies, even by SIGKILL, so
a dead holder's lease is simply taken over. Beside each lock a small JSON file names the
current holder, which is what `PortBusy` reports to the process left waiting.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from filelock import FileLock, Timeout

from nodemcu_hil.errors import PortBusy

SHARED_DIR_MODE = 0o1777  # like /tmp: every rig user may create leases, none may delete another's
LOCK_FILE_MODE = 0o666


@dataclass(frozen=True)
class Holder:
    pid: int
    cmdline: str
    host: str
    since: float

    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        age = time.time() - self.since
        return f"pid {self.pid} on {self.host} ({self.cmdline}), holding it for {age:.0f} s"


def _own_cmdline() -> str:
    try:
        raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
        return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        return " ".join(sys.argv)


def _ensure_dir(lease_dir: Path) -> None:
    if not lease_dir.exists():
        lease_dir.mkdir(parents=True, exist_ok=True)
        try:
            lease_dir.chmod(SHARED_DIR_MODE)
        except PermissionError:
            pass


class BoardLease:
    """An exclusive claim on one board; use as a context manager or acquire()/release().

    A board may be named two ways (its MAC, or the port it sits on, as `--port URL` names
    it), so a lease can hold several keys at once: all are taken, in sorted order so that
    two claimants never deadlock, or none is.
    """

    def __init__(self, keys: str | Sequence[str], lease_dir: Path, *, board: str, port: str):
        self.keys = tuple(sorted({keys} if isinstance(keys, str) else set(keys)))
        self.board = board
        self.port = port
        self.lease_dir = Path(lease_dir)
        self._locks: list[FileLock] = []
        self._blocked_by = self.keys[0]

    @property
    def key(self) -> str:
        return self.keys[0]

    def _lock_path(self, key: str) -> Path:
        return self.lease_dir / f"{key}.lock"

    def _holder_path(self, key: str) -> Path:
        return self.lease_dir / f"{key}.holder.json"

    @property
    def held(self) -> bool:
        return len(self._locks) == len(self.keys) and all(lock.is_locked for lock in self._locks)

    def read_holder(self) -> Holder | None:
        """Who holds the key that kept us out (or the first key)."""
        try:
            data = json.loads(self._holder_path(self._blocked_by).read_text())
            return Holder(int(data["pid"]), str(data["cmdline"]), str(data["host"]), float(data["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def try_acquire(self, timeout: float = 0) -> bool:
        """Take the lease if it frees up within `timeout` seconds (0: now or never)."""
        _ensure_dir(self.lease_dir)
        deadline = time.monotonic() + timeout
        for key in self.keys:
            lock = FileLock(self._lock_path(key), mode=LOCK_FILE_MODE)
            try:
                lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            except Timeout:
                self._blocked_by = key
                self._release_locks()
                return False
            self._locks.append(lock)
        self._write_holder()
        return True

    def acquire(self, timeout: float) -> "BoardLease":
        """Take the lease, waiting up to `timeout` seconds; `PortBusy` names the holder."""
        if not self.try_acquire(timeout):
            holder = self.read_holder()
            who = holder.describe() if holder and holder.alive() else "a process that left no holder record"
            raise PortBusy(f"board is leased by {who}; waited {timeout:g} s",
                           board=self.board, port=self.port,
                           hint="wait for that run to finish, stop it, or raise hil_lease_timeout")
        return self

    def _write_holder(self) -> None:
        record = json.dumps({"pid": os.getpid(), "cmdline": _own_cmdline(), "host": socket.gethostname(),
                             "since": time.time(), "board": self.board, "port": self.port})
        for key in self.keys:
            temporary = self._holder_path(key).with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(record)
            os.replace(temporary, self._holder_path(key))

    def _release_locks(self) -> None:
        for lock in reversed(self._locks):
            lock.release(force=True)
        self._locks = []

    def release(self) -> None:
        if not self._locks:
            return
        for key in self.keys:
            try:
                self._holder_path(key).unlink(missing_ok=True)
            except OSError:
                pass
        self._release_locks()

    def __enter__(self) -> "BoardLease":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def port_key(port: str) -> str:
    """One key per physical port: a by-id link and the /dev/ttyUSBn it points at are one."""
    if "://" in port:
        name = port.lower().rstrip("/")
    else:
        name = os.path.realpath(port)
    return "port-" + re.sub(r"[^A-Za-z0-9._-]", "_", name)


def lease_for(record, lease_dir: Path) -> BoardLease:
    """The (not yet acquired) lease of an inventory record: by its port, and by its MAC when
    known, so `--port URL` and `--board NAME` exclude each other and a board moved to
    another USB port keeps its lease."""
    keys = [port_key(record.port)] + ([record.mac.replace(":", "")] if record.mac else [])
    return BoardLease(keys, lease_dir, board=record.name, port=record.port)


def lease_first_free(records, lease_dir: Path, timeout: float) -> tuple[object, BoardLease]:
    """Any free board among `records`, polling until `timeout`; `PortBusy` if none frees up."""
    leases = [(record, lease_for(record, lease_dir)) for record in records]
    deadline = time.monotonic() + timeout
    while True:
        for record, lease in leases:
            if lease.try_acquire():
                return record, lease
        if time.monotonic() >= deadline:
            holders = "; ".join(f"{record.name}: {h.describe() if (h := lease.read_holder()) else 'unknown holder'}"
                                for record, lease in leases)
            raise PortBusy(f"all {len(leases)} boards stayed leased for {timeout:g} s ({holders})",
                           hint="wait for the other runs, or raise hil_lease_timeout")
        # Block briefly on one lock (filelock polls it) before scanning them all again.
        record, lease = leases[0]
        if lease.try_acquire(max(0.0, min(0.2, deadline - time.monotonic()))):
            return record, lease
