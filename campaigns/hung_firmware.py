"""Hung firmware left on a board: the harness gets its REPL back within the ladder's deadline.

Each case leaves a different kind of bad firmware on one virtual board (a busy loop, a
CTRL-C-proof loop in main.py or in boot.py, a flood of output, a crash), then runs the
session bring-up's `start_firmware` on it, as a rig does at the start of every run. The
board must answer at its prompt afterwards, through the rung the case needs, within the
deadline the ladder's own timeouts add up to.
"""

from __future__ import annotations

import time

from campaigns.model import Context, Result

NAME = "hung_firmware"
SUMMARY = "a hung firmware on the board at session start: recovered by the right rung, within its deadline"

BOARD_NAME = "hung-board"
BOARD_MAC = "5c:cf:7f:4a:96:01"
BOOT_TIMEOUT_S = 8  # the campaign's boot_timeout: every rung's wait derives from it
LADDER_RUNGS = 5  # reach_repl, CTRL-C, soft reset, hard reset, reflash (each at most one boot_timeout)
REFLASH_ALLOWANCE_S = 30.0
DEADLINE_S = LADDER_RUNGS * BOOT_TIMEOUT_S + REFLASH_ALLOWANCE_S

CTRL_C_PROOF = "import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n"
# (case, file, code, rungs that may bring it back)
CASES = (
    ("busy main.py", "main.py", "while True:\n    pass\n", {"reset"}),
    ("CTRL-C-proof main.py", "main.py", CTRL_C_PROOF, {"reflash"}),
    ("CTRL-C-proof boot.py", "boot.py", CTRL_C_PROOF, {"reflash"}),
    ("chatty CTRL-C-proof main.py", "main.py",
     "import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    print('still here ' * 8)\n", {"reflash"}),
    ("main.py that crashes", "main.py", "import no_such_module\n", {"reset"}),
    ("main.py that sleeps for ever", "main.py", "import time\nwhile True:\n    time.sleep(1)\n", {"reset"}),
)
QUICK_CASES = ("busy main.py", "CTRL-C-proof main.py")


def run(ctx: Context) -> Result:
    from nodemcu_hil import bringup
    from nodemcu_hil.board import connect_board, disconnect_board
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.errors import HilError
    from nodemcu_hil.gpio import NoPins
    from nodemcu_hil.inventory import BoardRecord
    from nodemcu_hil.sim_rig import make_sim_image
    from nodemcu_hil.timeline import Timeline
    from nodemcu_hil.sim import start_board

    result = Result(name=NAME)
    settings = resolve_for_cli({"boot_timeout": BOOT_TIMEOUT_S, "report_dir": str(ctx.work_dir / "reports")})
    image = make_sim_image(ctx.work_dir)
    cases = [case for case in CASES if not ctx.quick or case[0] in QUICK_CASES]
    # Paced: a chatty firmware prints at the UART's 11.5 KB/s, as on a chip, not at memory speed.
    with start_board(name=BOARD_NAME, mac=BOARD_MAC, state_dir=ctx.work_dir / "board", pace=True,
                     log=ctx.work_dir / "sim.log") as process:
        record = BoardRecord(name=BOARD_NAME, port=process.url, mac=BOARD_MAC)
        board = connect_board(record, timeline=Timeline(), pins=NoPins(BOARD_NAME), log_dir=ctx.work_dir / "serial")
        try:
            bringup.flash_board(board, image, settings)
            for name, path, code, rungs in cases:
                if ctx.out_of_time():
                    result.not_reached += 1
                    continue
                try:
                    _case(result, board, settings, name, path, code, rungs)
                except HilError as exc:
                    result.fail(f"{name}: could not set the case up or clean it away: {exc}")
        finally:
            disconnect_board(board)
    seconds = [row["seconds"] for row in result.rows]
    result.figures.update(cases=len(result.rows), recovered=sum(row["answers"] == "yes" for row in result.rows),
                          worst_seconds=max(seconds, default=0.0), deadline_seconds=DEADLINE_S)
    return result


def _case(result: Result, board, settings, name: str, path: str, code: str, rungs: set[str]) -> None:
    from nodemcu_hil import bringup
    from nodemcu_hil.errors import HilError

    board.out_of_service = None
    with board.repl() as repl:
        repl.put(path, code.encode())
    started = time.monotonic()
    try:
        how = bringup.start_firmware(board, settings)
        board.interrupt()
        answers = True
    except HilError as exc:
        how, answers = f"failed: {exc.what}", False
    seconds = round(time.monotonic() - started, 1)
    result.rows.append({"case": name, "recovered by": how, "seconds": seconds,
                        "answers": "yes" if answers else "no"})
    if not answers:
        result.fail(f"{name}: the board did not come back ({how})")
    elif how not in rungs:
        result.fail(f"{name}: came back by {how}, expected {' or '.join(sorted(rungs))}")
    if seconds > DEADLINE_S:
        result.fail(f"{name}: took {seconds} s, over the ladder's deadline of {DEADLINE_S:g} s")
    if answers:
        with board.repl() as repl:
            repl.exec(f"import os\ntry:\n    os.remove({path!r})\nexcept OSError:\n    pass\n")
