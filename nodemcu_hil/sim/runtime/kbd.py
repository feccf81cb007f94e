"""CTRL-C into the unix port as the ESP8266 takes it: a pending KeyboardInterrupt.

The unix build raises KeyboardInterrupt straight from its SIGINT handler
(MICROPY_ASYNC_KBD_INTR, ports/unix/variants/mpconfigvariant_common.h): a signal that lands
inside a garbage collection leaves the collector's flag set ("heap is locked" for the rest
of the boot, then FATAL at the REPL), one inside an allocation can corrupt the heap. The
ESP8266's UART interrupt only calls mp_sched_keyboard_interrupt(): the exception is
pending, and the VM raises it at its next check (a branch, a delay, an event poll).

So the host stops the child (SIGSTOP) and looks before it acts:
- SIGINT not caught (the interpreter disarmed it, `kbd_intr(-1)` or between executions):
  the byte is plain input, as on the chip;
- a KeyboardInterrupt already pending: this one coalesces with it;
- blocked in a wait (sleep, poll, a read): SIGINT, whose raise out of the system call is
  the chip's raise from its delay or event loop;
- anywhere else (running Python or C, or blocked writing output or on a lock, where the
  collector may be mid-way): the host does what mp_sched_keyboard_interrupt does, writing
  the pending-exception word and clearing the exception's traceback through
  /proc/PID/mem. If the child then goes to sleep with it still pending (a call into
  time.sleep happens before the VM's next check), `follow_up` turns it into a signal.

The child finds the pending-exception word at start (`find_pending_cell`, before
`run_main`: the interpreter's state is plain memory then) and writes its address and the
value a pending CTRL-C puts there to the run directory.
"""

from __future__ import annotations

import ctypes
import os
import platform
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
# py/objexcept.h mp_obj_exception_t: base (type), the traceback alloc/len word, then
# traceback_data, which mp_sched_keyboard_interrupt() clears before it schedules.
TRACEBACK_DATA_OFFSET = 2 * WORD
NOT_IN_SYSCALL = ("running", "-1")  # /proc/PID/syscall outside a system call
# Blocked here the child may be inside the collector or hold a lock (a finaliser's
# output, the GC mutex): never raise out of these. Numbers per architecture
# (asm/unistd.h); on another one every system call counts as a wait.
UNSAFE_SYSCALLS = {
    "x86_64": frozenset({1, 18, 20, 202}),  # write, pwrite64, writev, futex
    "aarch64": frozenset({64, 66, 68, 98}),  # write, writev, pwrite64, futex
}.get(platform.machine(), frozenset())


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


def _put_word(mem, address: int, value: int) -> None:
    mem.seek(address)
    mem.write(value.to_bytes(WORD, sys.byteorder))


def _schedule(pid: int, cell: tuple[int, int]) -> bool:
    """mp_sched_keyboard_interrupt(), done from outside while the child is stopped."""
    address, value = cell
    try:
        with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
            _put_word(mem, value + TRACEBACK_DATA_OFFSET, 0)
            _put_word(mem, address, value)
        return True
    except OSError:
        return False


def _unschedule(pid: int, cell: tuple[int, int]) -> None:
    try:
        with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
            _put_word(mem, cell[0], 0)
    except OSError:
        pass


def in_wait(pid: int) -> bool:
    """The child is blocked in a system call that may be interrupted (see UNSAFE_SYSCALLS)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            number = f.read().split(maxsplit=1)[0]
    except (OSError, IndexError):
        return False
    if number in NOT_IN_SYSCALL:
        return False
    try:
        return int(number) not in UNSAFE_SYSCALLS
    except ValueError:
        return False


INPUT = "input"  # the interpreter does not take CTRL-C now: the byte is plain input
COALESCED = "coalesced"  # a CTRL-C is already pending
SIGNALLED = "signalled"  # SIGINT raised it out of a wait
SCHEDULED = "scheduled"  # pending: the VM raises it at its next check (see follow_up)


def interrupt(pid: int, cell: tuple[int, int] | None) -> str:
    """CTRL-C as the chip takes it: INPUT, COALESCED, SIGNALLED or SCHEDULED."""
    try:
        with stopped(pid) as still:
            if not still or cell is None or not sigint_caught(pid):
                return INPUT
            if _pending(pid, cell):
                return COALESCED
            if in_wait(pid):
                os.kill(pid, signal.SIGINT)
                return SIGNALLED
            return SCHEDULED if _schedule(pid, cell) else INPUT
    except ProcessLookupError:
        return INPUT


def follow_up(pid: int, cell: tuple[int, int]) -> bool:
    """A scheduled CTRL-C the child went to sleep with becomes a signal (the chip's delay
    loops check for it; the port's sleeps do not). True while it is still pending and
    should be looked at again."""
    try:
        with stopped(pid) as still:
            if not still or not sigint_caught(pid) or not _pending(pid, cell):
                return False
            if not in_wait(pid):
                return True
            _unschedule(pid, cell)
            os.kill(pid, signal.SIGINT)
            return False
    except ProcessLookupError:
        return False
