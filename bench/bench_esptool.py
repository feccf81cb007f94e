"""esptool over RFC2217: the harness's client against the bare esptool command line.

Prints, from one run on one machine:
- flash-id: harness client / bare `esptool flash-id` on the same rfc2217:// URL;
- a 1 MB random write-flash at 460800: harness / bare command line;
- the harness's 1 MB write to an unpaced virtual board, and to one started with --pace
  (bounded by the line rate: about 23 s at 460800).
The harness figures are taken in a fresh Python process too, so that both sides pay for
interpreter start-up and imports.

Usage: python bench/bench_esptool.py [--skip-paced]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nodemcu_hil.sim import start_board  # noqa: E402

WRITE_SIZE = 1024 * 1024
WRITE_OFFSET = 0x100000
WRITE_BAUD = 460800

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


def timed(command: list[str]) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} failed:\n{result.stdout}\n{result.stderr}")
    marks = {}
    for line in result.stderr.splitlines():
        name, _, value = line.partition(" ")
        if name in ("WRITE", "TOTAL"):
            marks[name] = float(value)
    return elapsed, marks


def bare_cli(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "esptool", "--port", url, *args]


def harness(url: str, action: str, *args: str) -> list[str]:
    return [sys.executable, "-c", HARNESS_SCRIPT, url, action, *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-paced", action="store_true", help="leave out the paced write (about 25 s)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-esptool-") as work:
        data_file = os.path.join(work, "random.bin")
        with open(data_file, "wb") as handle:
            handle.write(os.urandom(WRITE_SIZE))
        write_args = (data_file, str(WRITE_BAUD), str(WRITE_OFFSET))
        with start_board(name="bench", state_dir=work) as board:
            cli_id, _ = timed(bare_cli(board.url, "flash-id"))
            ours_id, id_marks = timed(harness(board.url, "flash-id"))
            cli_write, _ = timed(bare_cli(board.url, "-b", str(WRITE_BAUD), "write-flash",
                                          hex(WRITE_OFFSET), data_file))
            ours_write, write_marks = timed(harness(board.url, "write", *write_args))
        paced = None
        if not options.skip_paced:
            with start_board(name="bench-paced", state_dir=work, pace=True) as board:
                paced = timed(harness(board.url, "write", *write_args))

    print(f"flash-id           bare CLI {cli_id:6.2f} s | harness {ours_id:5.2f} s "
          f"(in-process {id_marks['TOTAL']:.2f} s) | ratio {ours_id / cli_id:.3f} (target <= 0.2)")
    print(f"1 MB write @{WRITE_BAUD} bare CLI {cli_write:6.2f} s | harness {ours_write:5.2f} s "
          f"(in-process {write_marks['TOTAL']:.2f} s) | ratio {ours_write / cli_write:.3f} (target <= 0.2)")
    print(f"harness 1 MB write, unpaced board: write_flash {write_marks['WRITE']:.2f} s, "
          f"session {write_marks['TOTAL']:.2f} s (target <= 3 s)")
    if paced:
        print(f"harness 1 MB write, --pace board:  write_flash {paced[1]['WRITE']:.2f} s, "
              f"session {paced[1]['TOTAL']:.2f} s (line rate: about 23 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
