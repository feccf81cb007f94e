"""Flashing: the harness (`hil flash`) against the bare `esptool write-flash`, same image, same board.

Figures (each a ratio of two runs in this process's run, on the same board):
- `hil flash --force` / `esptool -b 460800 write-flash 0 IMAGE`, over RFC2217 and over the
  board's PTY (on the PTY, which has no DTR/RTS, the board's FLASH button is pressed
  through its control channel before each side, as a user without auto-reset would);
- `hil flash` of the image the board already holds / the first flash (the running firmware
  hashes its flash, no write; the ROM loader's MD5 only when it cannot answer);
- full run only, the earlier bench_esptool figures: `flash-id` and a 1 MB random write at
  460800 by the harness's esptool session against the bare command line, and the same
  write to a board paced at the line rate.
On real boards (boards.toml) the first board's port is used, with the firmware_image setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.model import Context, Result, median
from bench.targets import ROOT, realistic_image, virtual_board

NAME = "flash"
SUMMARY = "hil flash / esptool write-flash (RFC2217, PTY); re-flash unchanged / first flash"
IN_QUICK = True
BAUD = 460800
WRITE_SIZE = 1024 * 1024
WRITE_OFFSET = 0x100000
HIL = str(Path(sys.executable).with_name("hil"))

HARNESS_SCRIPT = """
import sys, time
from esptool.cmds import attach_flash, detect_chip, flash_id, reset_chip, run_stub, write_flash
from nodemcu_hil.ports import open_port
url, action = sys.argv[1], sys.argv[2]
started = time.monotonic()
port = open_port(url)
try:
    esp = run_stub(detect_chip(port=port))
    if action == "write":
        esp.change_baud(int(sys.argv[4]))
    attach_flash(esp)
    if action == "flash-id":
        flash_id(esp)
    else:
        data = open(sys.argv[3], "rb").read()
        write_started = time.monotonic()
        write_flash(esp, [(int(sys.argv[5]), data)])
        print("WRITE", time.monotonic() - write_started, file=sys.stderr)
    reset_chip(esp, "hard-reset")
finally:
    port.close()
print("TOTAL", time.monotonic() - started, file=sys.stderr)
"""


def timed(command: list[str], env: dict | None = None) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:7])} failed: {(result.stdout + result.stderr)[-400:]}")
    marks = {}
    for line in result.stderr.splitlines():
        name, _, value = line.partition(" ")
        if name in ("WRITE", "TOTAL"):
            marks[name] = float(value)
    return elapsed, marks


def bare_write(port: str, image: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "esptool", "--port", port, *extra, "-b", str(BAUD), "write-flash", "0", str(image)]


def hil_flash(port: str, image: Path, *, force: bool) -> list[str]:
    return [HIL, "flash", "--port", port, "--baud", str(BAUD), *(["--force"] if force else []), str(image)]


def flash_pair(result: Result, ctx: Context, label: str, port: str, image: Path, env: dict,
               before=lambda: None, target: str = "", bare_extra: tuple = ()) -> None:
    """bare esptool, then the harness (forced), repeated on the same board; medians of each."""
    bare, ours = [], []
    for _ in range(ctx.repeat(2)):
        before()
        bare.append(timed(bare_write(port, image, *bare_extra), env)[0])
        before()
        ours.append(timed(hil_flash(port, image, force=True), env)[0])
        if ctx.out_of_time():
            break
    result.ratio(f"{label}: hil flash / esptool write-flash", median(ours), median(bare), target,
                 f"{image.stat().st_size // 1024} KB image, median of {len(bare)}")


def reflash(result: Result, ctx: Context, label: str, port: str, image: Path, env: dict) -> None:
    """`hil flash` of the image the board holds (a hash check, no write) against the first flash of it."""
    first, again = [], []
    for _ in range(ctx.repeat(2)):
        first.append(timed(hil_flash(port, image, force=True), env)[0])
        again.append(timed(hil_flash(port, image, force=False), env)[0])
        if ctx.out_of_time():
            break
    result.ratio(f"{label}: re-flash unchanged / first flash", median(again), median(first), "<= 0.10",
                 f"{image.stat().st_size // 1024} KB image, median of {len(first)}")


def legacy_figures(result: Result, ctx: Context, env: dict) -> None:
    """bench_esptool's figures: flash-id and a 1 MB write, harness session vs bare CLI; paced write."""
    data_file = ctx.work_dir / "random.bin"
    data_file.write_bytes(os.urandom(WRITE_SIZE))
    harness = [sys.executable, "-c", HARNESS_SCRIPT]
    write_args = (str(data_file), str(BAUD), str(WRITE_OFFSET))
    with virtual_board(ctx.work_dir / "legacy", "bench-esptool", pty=False) as board:
        cli_id, _ = timed([sys.executable, "-m", "esptool", "--port", board.url, "flash-id"], env)
        ours_id, _ = timed(harness + [board.url, "flash-id"], env)
        cli_write, _ = timed([sys.executable, "-m", "esptool", "--port", board.url, "-b", str(BAUD),
                              "write-flash", hex(WRITE_OFFSET), str(data_file)], env)
        ours_write, marks = timed(harness + [board.url, "write", *write_args], env)
    result.ratio("RFC2217: flash-id, harness session / esptool", ours_id, cli_id, "<= 0.2")
    result.ratio("RFC2217: 1 MB write, harness session / esptool", ours_write, cli_write, "<= 0.2")
    result.add("RFC2217: harness 1 MB write_flash, unpaced", marks["WRITE"], "s", "<= 3", "trend")
    if not ctx.out_of_time():
        with virtual_board(ctx.work_dir / "paced", "bench-paced", pace=True, pty=False) as board:
            _, marks = timed(harness + [board.url, "write", *write_args], env)
        result.add("RFC2217: harness 1 MB write_flash, paced board", marks["WRITE"], "s", "",
                   "line rate: about 23 s at 460800")


def run(ctx: Context) -> Result:
    result = Result(NAME)
    env = dict(os.environ, HIL_LEASE_DIR=str(ctx.work_dir / "leases"))
    if ctx.target.kind == "hardware":
        if ctx.target.image is None:
            result.notes.append("real boards: no flash figures without the image (set firmware_image, "
                                "e.g. HIL_FIRMWARE_IMAGE)")
            return result
        board = ctx.target.boards[0]
        kind = "RFC2217" if board.port.startswith("rfc2217://") else "serial"
        flash_pair(result, ctx, f"{kind} ({board.name})", board.port, ctx.target.image, env,
                   target="<= 0.2" if kind == "RFC2217" else "<= 1.05")
        reflash(result, ctx, f"{kind} ({board.name})", board.port, ctx.target.image, env)
        return result
    from nodemcu_hil.sim.mpimage import make_image
    small = make_image(ctx.work_dir / "micropython-small.bin")
    image = realistic_image(ctx.work_dir / "micropython.bin")
    with virtual_board(ctx.work_dir / "rfc", "bench-flash", pty=False) as board:
        # the bare CLI renegotiates the port per command over RFC2217: ~20 s for even a small image
        flash_pair(result, ctx, "RFC2217", board.url, small, env, target="<= 0.2")
    with virtual_board(ctx.work_dir / "pty", "bench-flash-pty") as board:
        flash_pair(result, ctx, "PTY", os.path.realpath(board.pty), image, env,
                   before=board.control.enter_download_mode, target="<= 1.05", bare_extra=("--before", "no-reset"))
    with virtual_board(ctx.work_dir / "paced", "bench-reflash", pace=True, pty=False) as board:
        reflash(result, ctx, "RFC2217, paced board", board.url, image, env)
    if not ctx.quick:
        legacy_figures(result, ctx, env)
    else:
        result.notes.append("--quick: one repetition; flash-id, 1 MB write and paced-write figures left out")
    return result
