"""The recovery ladder for a board that stopped answering.

Each rung is stronger and slower than the one before: CTRL-C, soft reset, hard reset
over RTS, power cycle, reflash. The first rung after which the board answers CTRL-C at its
prompt wins. The power cycle clears what no reset can (a hung USB-serial bridge); a board
without power control skips it, and says so. When none works, the board is out of service
for the rest of the session and every later test that needs it fails at once with the
reason, so a hung board never hangs the run. Every rung tried (or skipped) is written to
the timeline, and so into the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nodemcu_hil.board import Board
from nodemcu_hil.errors import DeviceHung, HilError
from nodemcu_hil.power import WIRING_HINT

RUNG_CTRL_C = "CTRL-C"
RUNG_SOFT_RESET = "soft reset"
RUNG_HARD_RESET = "hard reset"
RUNG_POWER_CYCLE = "power cycle"
RUNG_REFLASH = "reflash"


NO_POWER_CONTROL = "no power control"
BY_HAND_HINT = "check the serial log in the report directory"


class OutOfService(DeviceHung):
    """Every rung of the ladder failed; the board stays out of the session."""


class _Skipped(Exception):
    """A rung this board cannot take; the reason goes on the timeline."""


@dataclass
class LadderResult:
    rung: str
    tried: list[str]


def _answers(board: Board) -> None:
    """Healthy means: CTRL-C reaches the friendly prompt."""
    board.interrupt()


def _soft_reset(board: Board, timeout: float) -> None:
    board.soft_reset(timeout)
    _answers(board)


def _hard_reset(board: Board, timeout: float) -> None:
    board.hard_reset()
    _answers(board)


def _power_cycle(board: Board, timeout: float) -> None:
    """Power off and on, then wait for the boot the console sees (banner, else CTRL-C)."""
    if board.power is None:
        raise _Skipped(NO_POWER_CONTROL)
    board.power_cycle(timeout)
    _answers(board)


def _out_of_service_hint(board: Board) -> str:
    if board.power is None:
        return f"power-cycle it by hand; so that the ladder can, {WIRING_HINT}; {BY_HAND_HINT}"
    return f"its power cycle ({board.power.description}) did not bring it back either; {BY_HAND_HINT}"


def climb(board: Board, *, boot_timeout: float, reflash: Callable[[], None]) -> LadderResult:
    """Try each rung in turn; `OutOfService` (with every failure) when none works."""
    if board.out_of_service:
        raise OutOfService(f"out of service since earlier: {board.out_of_service}", board=board.name,
                           port=board.record.port)
    rungs: list[tuple[str, Callable[[], None]]] = [
        (RUNG_CTRL_C, lambda: _answers(board)),
        (RUNG_SOFT_RESET, lambda: _soft_reset(board, boot_timeout)),
        (RUNG_HARD_RESET, lambda: _hard_reset(board, boot_timeout)),
        (RUNG_POWER_CYCLE, lambda: _power_cycle(board, boot_timeout)),
        (RUNG_REFLASH, lambda: (reflash(), _answers(board))),
    ]
    tried: list[str] = []
    for name, rung in rungs:
        board.action(f"recovery: trying {name}")
        try:
            rung()
        except _Skipped as skipped:
            tried.append(f"{name}: skipped ({skipped})")
            board.action(f"recovery: {name} skipped ({skipped})")
            continue
        except HilError as exc:
            tried.append(f"{name}: {exc.what}")
            board.action(f"recovery: {name} did not help ({exc.what})")
            continue
        board.action(f"recovery: the board answers again after {name}")
        return LadderResult(rung=name, tried=tried)
    board.out_of_service = "; ".join(tried)
    board.action(f"recovery: out of service for the rest of the session ({board.out_of_service})")
    raise OutOfService(f"board did not recover ({board.out_of_service})", board=board.name, port=board.record.port,
                       hint=_out_of_service_hint(board))
