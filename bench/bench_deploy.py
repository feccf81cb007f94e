"""Deploy speed: the harness's deploy against the manual workflow it replaces.

The manual workflow is one `mpremote cp` per file (what a developer types, or scripts)
of the same files to the same virtual board, over its PTY. The harness deploys over
RFC2217 by content hash: a first deploy, then one where nothing changed.

    .venv/bin/python bench/bench_deploy.py [--repeat N] [--pace]

Prints one line per figure, with the ratio harness / manual; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodemcu_hil.bringup import device_files  # noqa: E402
from nodemcu_hil.config import resolve_for_cli  # noqa: E402
from nodemcu_hil.deploy import deploy  # noqa: E402
from nodemcu_hil.flashing import flash_image  # noqa: E402
from nodemcu_hil.images import validate_image  # noqa: E402
from nodemcu_hil.ports import open_port  # noqa: E402
from nodemcu_hil.repl import Repl  # noqa: E402
from nodemcu_hil.sim import start_board  # noqa: E402
from nodemcu_hil.sim.mpimage import make_image  # noqa: E402

MPREMOTE = Path(sys.executable).with_name("mpremote")
SETTINGS = {"wifi_ssid": "bench-ap", "gpio_allow": "2,4,5"}
ROOT = Path(__file__).resolve().parents[1]


def fresh_board(root: Path, pace: bool):
    """A virtual board with MicroPython and an empty filesystem."""
    root.mkdir(parents=True)
    image = root / "fw.bin"
    make_image(image)
    board = start_board(name="bench-deploy", flash=root / "flash.bin", state_dir=root, pty=root / "vb0",
                        pace=pace)
    with open_port(board.url) as port:
        flash_image(port, validate_image(image, 4 << 20), baud=460800)
    return board


def manual_copy(board, files: dict[str, bytes], staging: Path) -> float:
    """One mpremote call per file, creating directories as a developer would."""
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    pty = str(Path(board.pty).resolve())
    started = time.monotonic()
    for directory in sorted({str(Path(name).parent) for name in files if "/" in name}):
        parts = Path(directory).parts
        for depth in range(1, len(parts) + 1):
            subprocess.run([str(MPREMOTE), "connect", pty, "mkdir", ":" + "/".join(parts[:depth])],
                           capture_output=True, timeout=60)
    for name in files:
        subprocess.run([str(MPREMOTE), "connect", pty, "cp", str(staging / name), ":" + name],
                       check=True, capture_output=True, timeout=60)
    return time.monotonic() - started


def harness_deploy(board, files: dict[str, bytes]) -> float:
    started = time.monotonic()
    with Repl.open(board.url, board="bench-deploy") as repl:
        deploy(repl, files, reset=False, out=lambda line: None)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pace", action="store_true", help="boards move bytes at the line rate, as real ones")
    args = parser.parse_args()
    repeat = args.repeat
    files = device_files(resolve_for_cli(SETTINGS, ROOT / "pytest.ini"), "127.0.0.1", 1883, "bench", root=ROOT)
    size = sum(map(len, files.values()))
    manual, first, unchanged = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            board = fresh_board(root / "manual", args.pace)
            try:
                manual.append(manual_copy(board, files, root / "staging"))
            finally:
                board.stop()
            board = fresh_board(root / "harness", args.pace)
            try:
                first.append(harness_deploy(board, files))
                unchanged.append(harness_deploy(board, files))
            finally:
                board.stop()
    bare = statistics.median(manual)
    print(f"{len(files)} files, {size} B; median of {repeat}; {'paced' if args.pace else 'unpaced'} boards")
    print(f"manual: one mpremote cp per file      {bare:7.2f} s")
    for label, runs in (("harness deploy, first", first), ("harness deploy, nothing changed", unchanged)):
        median = statistics.median(runs)
        print(f"{label:<37} {median:7.2f} s   ratio {median / bare:5.2f} (harness / manual)")


if __name__ == "__main__":
    main()
