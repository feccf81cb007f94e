"""CTRL-C into the unix port without ever killing it.

The port's SIGINT handler (ports/unix/unix_mphal.c `sighandler`) schedules a
KeyboardInterrupt and calls exit(1) when a second SIGINT arrives while the first is still
pending; with its handler disarmed (between executions, `kbd_intr(-1)`) SIGINT has its
default action and ends the process. The ESP8266's UART interrupt only ever sets the
pending interrupt again, or queues the byte as input. So the host stops the child, looks
(its SIGINT disposition, its pending-exception word) and signals only when the signal
will be handled and nothing is pending yet, then lets it run on: the child cannot change
either while it is stopped, and the signal is handled as it resumes. The caller also
spaces signals apart (session.SIGINT_MIN_GAP_S): each one the port handles can interrupt a
system call (its handler has no SA_RESTART, and its retry loop raises the pending
KeyboardInterrupt from inside C code); under bursts of signals 1 ms apart a boot was seen
left with its heap locked (MemoryError "heap is locked", then FATAL at the REPL), most
likely such a raise inside a garbage collection. On the chip a burst is one interrupt too.

The child finds the pending-exception word at start (`find_pending_cell`, before
`run_main`: the interpreter's state is plain memory then) and writes its address and the
value a pending CTRL-C puts there to the run directory; the host reads that word through
/proc/PID/mem (a parent may read its child's memory).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

STATE_SYMBOL = "mp_state_ctx"  # py/mpstate.h: thread state first, then the VM's
THREAD_STATE_SCAN = 512  # bytes of mp_state_ctx searched for mp_pending_exception
STATE_SPAN = 1 << 16  # the KeyboardInterrupt instance lives inside mp_state_ctx.vm
WORD = ctypes.sizeof(ctypes.c_void_p)
STOP_WAIT_S = 1.0
STOP_POLL_S = 0.0005
_SIGINT_BIT = 1 << (signal.SIGINT - 1)
_STOPPED_STATES = ("T", "t")


def find_pending_cell(library_file: str) -> tuple[int, int]:
    """(address of mp_pending_exception, value of a pending CTRL-C), found by scheduling a
    KeyboardInterrupt before the interpreter starts and seeing which word took a pointer
    into the state; the state is then put back as it was."""
    lib = ctypes.CDLL(library_file)
    base = ctypes.addressof(ctypes.c_char.in_dll(lib, STATE_SYMBOL))
    before = ctypes.string_at(base, THREAD_STATE_SCAN)
    lib.mp_sched_keyboard_interrupt()
    after = ctypes.string_at(base, THREAD_STATE_SCAN)
    ctypes.memmove(base, before, THREAD_STATE_SCAN)
    for off in range(0, THREAD_STATE_SCAN, WORD):
        new = int.from_bytes(after[off:off + WORD], sys.byteorder)
        if after[off:off + WORD] != before[off:off + WORD] and base <= new < base + STATE_SPAN:
            return base + off, new
    raise RuntimeError("mp_pending_exception not found in " + STATE_SYMBOL)


def write_cell(path: Path, cell: tuple[int, int]) -> None:
    path.write_text("%d %d\n" % cell)


def read_cell(path: Path) -> tuple[int, int] | None:
    try:
        address, value = path.read_text().split()
        return int(address), int(value)
    except (OSError, ValueError):
        return None


def sigint_caught(pid: int) -> bool:
    """True when the process has a SIGINT handler (Linux /proc SigCgt mask)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    except OSError:
        return False
    return False


def _state(pid: int) -> str:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "X"


@contextmanager
def stopped(pid: int):
    """The process held still (SIGSTOP) for the body; yields False if it would not stop."""
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + STOP_WAIT_S
        state = _state(pid)
        while state not in _STOPPED_STATES and state not in ("Z", "X"):
            if time.monotonic() > deadline:
                break
            time.sleep(STOP_POLL_S)
            state = _state(pid)
        yield state in _STOPPED_STATES
    finally:
        os.kill(pid, signal.SIGCONT)


def _pending(pid: int, cell: tuple[int, int]) -> bool:
    address, value = cell
    try:
        with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
            mem.seek(address)
            return int.from_bytes(mem.read(WORD), sys.byteorder) == value
    except OSError:
        return False


INPUT = "input"  # the interpreter does not take CTRL-C now: the byte is plain input
COALESCED = "coalesced"  # a CTRL-C is already pending (or one was signalled just now)
SIGNALLED = "signalled"


def interrupt(pid: int, cell: tuple[int, int] | None, may_signal: bool = True) -> str:
    """CTRL-C as the chip takes it: INPUT, COALESCED with one already pending (or when
    the caller says it is too soon after the last), or SIGNALLED."""
    try:
        with stopped(pid) as still:
            if not still or not sigint_caught(pid):
                return INPUT
            if not may_signal or (cell is not None and _pending(pid, cell)):
                return COALESCED
            os.kill(pid, signal.SIGINT)
            return SIGNALLED
    except ProcessLookupError:
        return INPUT
