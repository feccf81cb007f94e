"""What the bench records about the board it measured: the MicroPython its banner shows.

The banner is what the image says it is (`MicroPython v1.28.0 on 2026-04-06; ESP module
with ESP8266`), on a real board and on a virtual one alike. `sys.implementation` is no
substitute: a virtual board runs the host's unix port, whose version is the wheel's, not
the image's. The friendly REPL prints the banner when it starts, so leaving the raw REPL
(CTRL-B) shows it without a reset, and without running main.py.
"""

from __future__ import annotations

from nodemcu_hil.board import BANNER
from nodemcu_hil.repl import CTRL_B, FRIENDLY_PROMPT, Repl

BANNER_TIMEOUT_S = 5.0


def parse_banner(text: str) -> dict[str, str] | None:
    """{"micropython": "v1.28.0", "build_date": ..., "machine": ...} from console text, or None."""
    found = BANNER.search(text)
    if found is None:
        return None
    version, built, machine = found.groups()
    return {"micropython": version, "build_date": built, "machine": machine}


def banner_facts(repl: Repl, *, timeout: float = BANNER_TIMEOUT_S) -> dict[str, str] | None:
    """From a Repl in the raw REPL: leave it (CTRL-B) and read the banner the friendly REPL prints."""
    repl.serial.write(b"\r" + CTRL_B)
    text = repl.read_until(FRIENDLY_PROMPT, timeout).decode("utf-8", "replace")
    repl.transport.in_raw_repl = False
    return parse_banner(text)


def record_board_facts(repl: Repl, facts: dict) -> None:
    """The first board's banner into the run's facts (once per run): what the JSON reports."""
    if "micropython" in facts:
        return
    found = banner_facts(repl)
    facts.update(found or {"micropython": None, "banner": "not seen on leaving the raw REPL"})
