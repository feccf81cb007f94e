"""Names shared by the host side and the child: files in a boot's run directory, exit codes."""

from __future__ import annotations

CONFIG_FILE = "config.json"
BOOT_FILE = "boot_entry.py"  # the `-i` file run_main executes before its REPL
VBOARD_MODULE = "_vboard.py"
RESET_REQUEST_FILE = "reset_request"
SOFT_REBOOT_TEXT = b"MPY: soft reboot\r\n"
REPL_MODE_RAW = 1  # shared/runtime/pyexec.h: PYEXEC_MODE_RAW_REPL

# _vboard.request_reset(kind) -> the child's exit status -> the host's reset kind
EXIT_HARD = 40
EXIT_DEEPSLEEP = 41
EXIT_WDT = 42
EXIT_CODES = {"hard": EXIT_HARD, "deepsleep": EXIT_DEEPSLEEP, "wdt": EXIT_WDT}
RESET_KINDS = {code: kind for kind, code in EXIT_CODES.items()}
