"""Deploying: the harness's deploy against `mpremote cp -r` of the same files, board paced at 115200.

The files are what the suite deploys (`bringup.device_files`: firmware_under_test, its
libraries, its config). Figures, on virtual boards paced at the line rate as real ones:
- first deploy / `mpremote cp -r` of the same tree to a fresh board (target <= 0.5: the
  harness sends deflated files where the board's `deflate` inflates them, see transfer.py);
- a one-file change deploy / the full (first) deploy (target <= 0.2): a line appended to
  app.py, which travels as a delta against the board's copy (delta.py);
- a deploy where nothing changed / the full deploy;
- one file rewritten (every line of app.py changed, so no block of it is on the board and
  it travels whole) / the full deploy: what the one-file figure would be without deltas;
- full run only: one `mpremote cp` per file, the manual workflow bench_deploy measured,
  against the harness's first deploy.
On real boards the first board's port is used (it is written to: the suite deploys there too).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench.board_facts import record_board_facts
from bench.model import Context, Result, median
from bench.targets import ROOT, mpremote, virtual_board

NAME = "deploy"
SUMMARY = "first deploy / mpremote cp -r; one-file change / full deploy (paced at 115200)"
IN_QUICK = True
SETTINGS = {"wifi_ssid": "bench-ap", "gpio_allow": "2,4,5"}


def bench_files() -> dict[str, bytes]:
    from nodemcu_hil.bringup import device_files
    from nodemcu_hil.config import resolve_for_cli
    return device_files(resolve_for_cli(SETTINGS, ROOT / "pytest.ini"), "127.0.0.1", 1883, "bench", root=ROOT)


def stage(files: dict[str, bytes], staging: Path) -> Path:
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    return staging


def mpremote_cp_r(port: str, staging: Path) -> float:
    """`mpremote cp -r . :` from inside the staged tree: every file and directory, one process."""
    started = time.monotonic()
    subprocess.run([mpremote(), "connect", port, "cp", "-r", ".", ":"], cwd=staging, check=True,
                   capture_output=True, timeout=300)
    return time.monotonic() - started


def mpremote_per_file(port: str, files: dict[str, bytes], staging: Path) -> float:
    """One mpremote call per file, creating directories as a developer would (bench_deploy's manual)."""
    started = time.monotonic()
    for directory in sorted({str(Path(name).parent) for name in files if "/" in name}):
        parts = Path(directory).parts
        for depth in range(1, len(parts) + 1):
            subprocess.run([mpremote(), "connect", port, "mkdir", ":" + "/".join(parts[:depth])],
                           capture_output=True, timeout=60)
    for name in files:
        subprocess.run([mpremote(), "connect", port, "cp", str(staging / name), ":" + name],
                       check=True, capture_output=True, timeout=60)
    return time.monotonic() - started


def harness_deploy(url: str, files: dict[str, bytes], facts: dict | None = None) -> float:
    from nodemcu_hil.deploy import deploy
    from nodemcu_hil.repl import Repl
    started = time.monotonic()
    with Repl.open(url, board="bench-deploy") as repl:
        deploy(repl, files, reset=False, out=lambda line: None)
        elapsed = time.monotonic() - started
        if facts is not None:
            record_board_facts(repl, facts)
    return elapsed


def one_change(files: dict[str, bytes]) -> dict[str, bytes]:
    changed = dict(files)
    changed["app.py"] = changed["app.py"] + b"\n# bench: one line changed\n"
    return changed


def one_rewrite(files: dict[str, bytes]) -> dict[str, bytes]:
    changed = dict(files)
    changed["app.py"] = b"".join(b"# " + line for line in files["app.py"].splitlines(keepends=True))
    return changed


def harness_rounds(url: str, files: dict[str, bytes], facts: dict) -> tuple[float, float, float, float]:
    first = harness_deploy(url, files, facts)
    unchanged = harness_deploy(url, files)
    one = harness_deploy(url, one_change(files))
    rewrite = harness_deploy(url, one_rewrite(files))
    return first, unchanged, one, rewrite


def run(ctx: Context) -> Result:
    result = Result(NAME)
    files = bench_files()
    size = sum(map(len, files.values()))
    what = f"{len(files)} files, {size // 1024} KB"
    if ctx.target.kind == "hardware":
        board = ctx.target.boards[0]
        staging = stage(files, ctx.work_dir / "staging")
        bare = mpremote_cp_r(board.port, staging)
        first, unchanged, one, rewrite = harness_rounds(board.port, files, ctx.facts)
        # the board now holds the files: the harness's "first" deploy above wrote over mpremote's
        # copies only where they differ, so on hardware it is measured after wiping them
        result.notes.append("real board: the first deploy follows mpremote's copy (the same files), so it "
                            "measures a re-deploy, not a first one")
        result.ratio(f"first deploy / mpremote cp -r ({board.name})", first, bare, "<= 0.5", what)
        result.ratio("one-file change / full deploy", one, first, "<= 0.2")
        result.ratio("one file rewritten / full deploy", rewrite, first, "")
        return result
    bare, first, unchanged, one, rewrite, manual = [], [], [], [], [], []
    for round_ in range(ctx.repeat(3)):
        root = ctx.work_dir / f"round{round_}"
        staging = stage(files, root / "staging")
        with virtual_board(root / "mpremote", "bench-mpremote", pace=True) as board:
            bare.append(mpremote_cp_r(board.pty, staging))
        with virtual_board(root / "harness", "bench-deploy", pace=True) as board:
            times = harness_rounds(board.url, files, ctx.facts)
        for series, value in zip((first, unchanged, one, rewrite), times):
            series.append(value)
        if not ctx.quick and round_ == 0:
            with virtual_board(root / "manual", "bench-manual", pace=True) as board:
                manual.append(mpremote_per_file(board.pty, files, staging))
        if ctx.out_of_time():
            break
    how = f"{what}, median of {len(bare)}"
    result.ratio("first deploy / mpremote cp -r (paced)", median(first), median(bare), "<= 0.5", how)
    result.ratio("one-file change / full deploy (paced)", median(one), median(first), "<= 0.2", how)
    result.ratio("nothing changed / full deploy (paced)", median(unchanged), median(first), "", how)
    result.ratio("one file rewritten / full deploy (paced)", median(rewrite), median(first), "", how)
    if manual:
        result.ratio("first deploy / one mpremote cp per file (paced)", median(first), median(manual), "",
                     "bench_deploy's manual workflow")
    return result
