"""`hil sim`: owned by issue 5 (virtual board part 1); not implemented yet."""

from __future__ import annotations

import sys


def configure(parser) -> None:
    parser.add_argument("rest", nargs="*", help="arguments, once implemented")


def run(args) -> int:
    print("hil sim: not implemented yet (issue 5)", file=sys.stderr)
    return 2
