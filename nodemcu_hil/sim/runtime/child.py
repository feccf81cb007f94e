"""The board's CPU: a CPython process that runs the unix port's `run_main` in a loop.

Started by `session.py` on a PTY (`python -m nodemcu_hil.sim.runtime.child RUN_DIR`).
Each pass of the loop is one boot of the firmware; returning from `run_main` (CTRL-D,
`sys.exit`, `machine.soft_reset()`) is a soft reset. Hard resets never come back here:
the host kills the process (see layout.RESET_MARK).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from nodemcu_hil.sim.runtime.kbd import find_pending_cell, write_cell
from nodemcu_hil.sim.runtime.layout import (
    BOOT_FILE,
    CONFIG_FILE,
    KBD_CELL_FILE,
    REPL_MODE_RAW,
    SOFT_REBOOT_TEXT,
    START_MARK,
)

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _repl_mode_cell(module_file: str) -> ctypes.c_int:
    """pyexec_mode_kind lives on across run_main calls: read it to tell raw from friendly."""
    return ctypes.c_int.in_dll(ctypes.CDLL(module_file), "pyexec_mode_kind")


def _die_with_parent() -> None:
    """A board process killed outright must not leave its CPU running (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        pass


def _open_fds() -> set[int]:
    """The descriptors open now (the directory listing's own is gone by the fstat)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue
        found.add(int(name))
    return found


def _close_boot_fds(keep: set[int]) -> None:
    """A soft reset closes what the firmware left open, as the port's gc_sweep_all runs
    every finaliser (sockets, files). The unix port runs none when run_main ends, so
    every boot's sockets (a bound port, the world channel) and its flash file stayed
    open: a port stayed in use and descriptors ran out after some hundred soft resets."""
    for fd in _open_fds() - keep:
        try:
            os.close(fd)
        except OSError:
            pass


def main(run_dir: str) -> int:
    _die_with_parent()
    # Until the interpreter arms its own handler, CTRL-C must not kill or interrupt us:
    # the host only signals when SIGINT is caught, otherwise it queues 0x03 as input.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.write(1, START_MARK)
    import micropython_run

    with open(os.path.join(run_dir, CONFIG_FILE)) as f:
        config = json.load(f)
    mode = _repl_mode_cell(micropython_run.__file__)
    write_cell(Path(run_dir) / KBD_CELL_FILE, find_pending_cell(micropython_run.__file__))
    argv_base = ["micropython", "-X", "heapsize=%d" % config["heapsize"], "-i",
                 os.path.join(run_dir, BOOT_FILE)]
    keep = _open_fds()
    while True:
        kind = "raw" if mode.value == REPL_MODE_RAW else "friendly"
        micropython_run.run_main(argv_base + [kind])
        _close_boot_fds(keep)
        os.write(1, SOFT_REBOOT_TEXT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
