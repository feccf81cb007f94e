"""`hil bench`: the repository's benchmarks (`python -m bench`), from a checkout.

The benchmarks live in the repository's `bench/` package, not in the installed harness (they
measure the harness against the bare tools; a firmware project has no use for them). So
`hil bench` looks for a checkout of nodemcu-hil in the current directory or above it (a
directory with `bench/runner.py` and `nodemcu_hil/`) and runs `python -m bench` there with
this interpreter; outside a checkout it says so and exits 2.
"""

from __future__ import annotations

from pathlib import Path

NOT_A_CHECKOUT = ("hil bench: no nodemcu-hil checkout here or above {cwd} (the benchmarks are the repository's "
                  "bench/ package, not part of the installed harness): clone the repository and run "
                  "`hil bench` or `python3 tasks.py bench` inside it")


def configure(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="the ~1-minute subset")
    parser.add_argument("--json", help="where to write the results (default bench/results/<time>.json)")
    parser.add_argument("--virtual", action="store_true", help="virtual boards even when boards.toml lists real ones")
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default all)")


def find_checkout(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / "bench" / "runner.py").is_file() and (directory / "nodemcu_hil").is_dir():
            return directory
    return None


def bench_arguments(args) -> list[str]:
    extra = ["--quick"] if args.quick else []
    extra += ["--json", args.json] if args.json else []
    extra += ["--virtual"] if args.virtual else []
    return extra + list(args.names)


def run(args) -> int:
    import subprocess
    import sys

    root = find_checkout(Path.cwd().resolve())
    if root is None:
        print(NOT_A_CHECKOUT.format(cwd=Path.cwd()), file=sys.stderr)
        return 2
    return subprocess.run([sys.executable, "-m", "bench", *bench_arguments(args)], cwd=root).returncode
