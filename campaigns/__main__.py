"""`python3 -m campaigns [--quick] [NAME ...]`: the fault campaigns, a table each, and JSON."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from campaigns.runner import CAMPAIGNS, run_all

DEFAULT_JSON_DIR = Path("reports") / "campaigns"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m campaigns", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="campaigns to run (default all): " + ", ".join(CAMPAIGNS))
    parser.add_argument("--quick", action="store_true", help="the small subset the test run uses")
    parser.add_argument("--json", type=Path, help=f"where to write the results (default {DEFAULT_JSON_DIR}/<time>.json)")
    args = parser.parse_args(argv)
    json_path = args.json or DEFAULT_JSON_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    results = run_all(args.names, quick=args.quick, json_path=json_path)
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
