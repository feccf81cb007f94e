"""`python -m bench [--quick] [NAME ...]`: every benchmark, one table, bench/results/<time>.json.

Runs on virtual boards, or on the real boards boards.toml lists (the flash figures then
need the image to write: the setting firmware_image, e.g. HIL_FIRMWARE_IMAGE). Exit 1 when
a benchmark broke; a figure above its target is reported, not an error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.runner import BENCHMARKS, RESULTS_DIR, load, run_all
from bench.targets import choose_target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default all): " + ", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="the ~1-minute subset (one repetition, no suite runs)")
    parser.add_argument("--json", type=Path, help=f"where to write the results (default {RESULTS_DIR}/<time>.json)")
    parser.add_argument("--virtual", action="store_true", help="virtual boards even when boards.toml lists real ones")
    args = parser.parse_args(argv)
    json_path = args.json or RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    target = choose_target(force_virtual=args.virtual)
    print(f"bench: on {target.kind} boards" + (f" ({', '.join(b.name for b in target.boards)})" if target.boards else ""))
    doc = run_all(load(args.names), quick=args.quick, target=target, json_path=json_path)
    return 1 if any(b["failures"] for b in doc["benchmarks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
