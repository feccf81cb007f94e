"""Two runs on one board: the second is refused with `PortBusy` naming the first.

A holder keeps one virtual board (`hil console`, by `--board` from a boards.toml or by
`--port`); contenders then try it every way a person or CI would: `hil flash` and
`hil deploy` by board and by port, and a pytest run of the HIL suite. Each must fail
within its lease timeout, say the board is leased, and name the holder's pid; and the
board's flash must be untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from campaigns.model import Context, Result

NAME = "busy_port"
SUMMARY = "two runs on one board: PortBusy naming the holder, for --port and --board alike"

BOARD_NAME = "busy-board"
BOARD_MAC = "5c:cf:7f:b0:5e:01"
LEASE_TIMEOUT_S = "1"
RUN_TIMEOUT_S = 120.0
HOLDER_READY = re.compile(r"^hil console: ")
HIL = [sys.executable, "-m", "nodemcu_hil.cli"]
ROOT = Path(__file__).resolve().parents[1]


def _contenders(url: str, image: Path) -> list[tuple[str, list[str]]]:
    return [
        ("hil flash --board", [*HIL, "flash", "--board", BOARD_NAME, str(image)]),
        ("hil flash --port", [*HIL, "flash", "--port", url, str(image)]),
        ("hil deploy --board", [*HIL, "deploy", "--board", BOARD_NAME, "--broker-host", "127.0.0.1"]),
        ("hil deploy --port", [*HIL, "deploy", "--port", url, "--broker-host", "127.0.0.1"]),
        ("pytest tests_hil", [sys.executable, "-m", "pytest", "tests_hil/test_boot.py", "-n", "0", "-q",
                              "-p", "no:cacheprovider", "-x"]),
    ]


@contextmanager
def holding(argv: list[str], env: dict, what: str) -> Iterator[subprocess.Popen]:
    """A `hil console` that holds the lease until the block ends; waits for its first line."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    ready = threading.Event()
    seen: list[str] = []

    def read() -> None:
        for line in process.stdout:
            seen.append(line)
            if HOLDER_READY.match(line):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(RUN_TIMEOUT_S) or process.poll() is not None:
            raise RuntimeError(f"the holder ({what}) did not start: {''.join(seen)[-500:]}")
        yield process
    finally:
        process.terminate()
        process.wait(10)


def _flash_md5(url: str, size: int) -> str:
    from nodemcu_hil.esptool_session import connect, quiet
    from nodemcu_hil.ports import open_port

    with open_port(url) as port:
        esp = connect(port, where={"port": url}, log=lambda line: None)
        with quiet(lambda line: None):
            digest = esp.flash_md5sum(0, size)
            esp.hard_reset()
    return digest


def run(ctx: Context) -> Result:
    from nodemcu_hil.sim_rig import make_sim_image
    from nodemcu_hil.sim import start_board

    result = Result(name=NAME)
    image = make_sim_image(ctx.work_dir)
    boards = ctx.work_dir / "boards.toml"
    env = {**os.environ, "HIL_LEASE_DIR": str(ctx.work_dir / "leases"), "HIL_LEASE_TIMEOUT": LEASE_TIMEOUT_S,
           "HIL_BOARDS_FILE": str(boards), "HIL_FIRMWARE_IMAGE": str(image),
           "HIL_REPORT_DIR": str(ctx.work_dir / "reports")}
    env.pop("PYTEST_XDIST_WORKER", None)
    with start_board(name=BOARD_NAME, mac=BOARD_MAC, state_dir=ctx.work_dir / "board",
                     log=ctx.work_dir / "sim.log") as board:
        boards.write_text(f'[[board]]\nname = "{BOARD_NAME}"\nport = "{board.url}"\nmac = "{BOARD_MAC}"\n')
        md5_before = _flash_md5(board.url, len(image.read_bytes()))
        holders = [("hil console --board", [*HIL, "console", "--board", BOARD_NAME, "--seconds", "600"]),
                   ("hil console --port", [*HIL, "console", "--port", board.url, "--seconds", "600"])]
        contenders = _contenders(board.url, image)
        if ctx.quick:
            contenders = [contenders[0], contenders[1], contenders[4]]
        for holder_name, holder_argv in holders:
            with holding(holder_argv, env, holder_name) as holder:
                for contender_name, argv in contenders:
                    if ctx.out_of_time():
                        result.not_reached += 1
                        continue
                    _try(result, holder_name, holder.pid, contender_name, argv, env)
        md5_after = _flash_md5(board.url, len(image.read_bytes()))
    cases = len(result.rows)
    named = sum(row["names holder"] == "yes" for row in result.rows)
    result.figures.update(cases=cases, refused=sum(row["refused"] == "yes" for row in result.rows),
                          names_holder=named, flash_changed=int(md5_before != md5_after))
    if md5_before != md5_after:
        result.fail("the flash changed while another process held the board")
    return result


def _try(result: Result, holder_name: str, holder_pid: int, contender_name: str, argv: list[str],
         env: dict) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    output = done.stdout + done.stderr
    refused = done.returncode != 0 and "leased by" in output
    names = f"pid {holder_pid}" in output
    result.rows.append({"holder": holder_name, "contender": contender_name, "exit": done.returncode,
                        "refused": "yes" if refused else "no", "names holder": "yes" if names else "no"})
    if not (refused and names):
        result.fail(f"{contender_name} while {holder_name} held the board: exit {done.returncode}, "
                    f"{'no PortBusy' if not refused else 'holder pid not named'}: {output.strip()[-300:]!r}")
