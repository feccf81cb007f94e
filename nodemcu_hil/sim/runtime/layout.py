"""Names shared by the host side and the child: files in a boot's run directory, and the
in-band reset request."""

from __future__ import annotations

CONFIG_FILE = "config.json"
BOOT_FILE = "boot_entry.py"  # the `-i` file run_main executes before its REPL
VBOARD_MODULE = "_vboard.py"
KBD_CELL_FILE = "kbd_cell"  # child -> host: where a pending CTRL-C shows (runtime/kbd.py)
SOFT_REBOOT_TEXT = b"MPY: soft reboot\r\n"
REPL_MODE_RAW = 1  # shared/runtime/pyexec.h: PYEXEC_MODE_RAW_REPL

# _vboard.request_reset(kind) writes DLE 'R' <letter> unescaped to the real stdout; the
# host's translator (which escapes nothing else that way) sees it, kills the child at once
# and asks the board for a reboot. Text output never carries DLE 'R' except by this.
RESET_MARK = b"\x10R"
# child.py writes DLE 'S' once its own SIGINT handling is out of the way: from then on a
# caught SIGINT is the interpreter's (before it, CPython's handler would kill the child).
START_MARK = b"\x10S"
RESET_LETTERS = {"hard": b"H", "deepsleep": b"D", "wdt": b"W"}
RESET_BY_LETTER = {letter[0]: kind for kind, letter in RESET_LETTERS.items()}
