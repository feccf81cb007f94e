"""Sync a firmware tree, its libraries and its config files to a board, by hash.

Only files whose sha256 differs from the board's copy move (one survey exec compares them
on the board, `survey.py`; a changed file may travel as a delta against that copy,
`delta.py`); files the harness deployed before and that are no longer part of the local
set are removed. The list of deployed paths lives on the board
(`.hil_deploy.json`) and is widened *before* anything is written, and every file is
written to `<path>.part` and renamed, so a deploy cut short at any point leaves a board
that the next run brings to the right state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nodemcu_hil import packages
from nodemcu_hil.mpy import compile_mpy
from nodemcu_hil.errors import ConfigError, HilError
from nodemcu_hil.repl import ENTER_TIMEOUT_S, Repl
from nodemcu_hil.secrets import redact
from nodemcu_hil.survey import ABSENT, SAME, survey

BOARD_MANIFEST = ".hil_deploy.json"
SOURCE_ONLY = {"boot.py", "main.py"}     # the boot sequence runs these by name, as source
HOST_ONLY = {"manifest.toml"}            # declarations for the harness, not for the board
LAST = ("main.py", "boot.py")            # written last: the boot entry points come after their modules


@dataclass
class Plan:
    put: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    previous: list[str] | None = None   # the board's manifest as make_plan read it
    bases: dict[str, str] = field(default_factory=dict)   # board's block listing of each changed file

    @property
    def changed(self) -> bool:
        return bool(self.put or self.remove)

    def lines(self) -> list[str]:
        out = [f"  write  {path} ({self.sizes[path]} B)" for path in self.put]
        out += [f"  remove {path}" for path in self.remove]
        return out

    def summary(self) -> str:
        return f"{len(self.put)} to write, {len(self.remove)} to remove, {len(self.unchanged)} unchanged"


@dataclass
class DeployResult:
    plan: Plan
    seconds: float
    bytes_written: int
    dry_run: bool


def firmware_files(firmware_dir: Path, *, mpy: bool = False, cache: Path | None = None) -> dict[str, bytes]:
    """Board path -> bytes for the application's own modules."""
    if not Path(firmware_dir).is_dir():
        raise ConfigError(f"setting firmware_dir: {firmware_dir} is not a directory",
                          hint="set hil_firmware_dir (--hil-firmware-dir, HIL_FIRMWARE_DIR) to the firmware's "
                               "source tree, relative to the project root")
    files: dict[str, bytes] = {}
    for path in sorted(firmware_dir.rglob("*.py")):
        rel = path.relative_to(firmware_dir)
        if any(part.startswith((".", "__pycache__")) for part in rel.parts) or rel.name in HOST_ONLY:
            continue
        data = path.read_bytes()
        name = rel.as_posix()
        if mpy and name not in SOURCE_ONLY:
            data = compile_mpy(data, name, cache=cache)
            name = rel.with_suffix(".mpy").as_posix()
        files[name] = data
    return files


def library_files(libraries: list[packages.Library], *, mpy: bool = False, cache: Path | None = None) -> dict[str, bytes]:
    """Board path ('lib/umqtt/simple2.py' or '.mpy') -> bytes, for every library module."""
    files: dict[str, bytes] = {}
    for lib in libraries:
        for rel in lib.modules():
            data = (lib.root / rel).read_bytes()
            if mpy and rel.suffix == ".py" and rel.name != "__init__.py":
                data = compile_mpy(data, str(rel), cache=cache)
                rel = rel.with_suffix(".mpy")
            files[f"lib/{rel}"] = data
    return files


def local_files(firmware_dir: Path, config_files: Mapping[str, bytes], *, mpy: bool = False,
                libraries: list[packages.Library] | None = None, cache: Path | None = None) -> dict[str, bytes]:
    """Everything the board should hold: the firmware tree, its libraries (from
    `<firmware_dir>/manifest.toml`) under lib/, and the config files built for it."""
    files = firmware_files(firmware_dir, mpy=mpy, cache=cache)   # first: a missing tree is named as such
    if libraries is None:
        libraries = packages.fetch_all(packages.read_manifest(packages.manifest_path(firmware_dir)), cache=cache)
    files.update(library_files(libraries, mpy=mpy, cache=cache))
    files.update(config_files)
    return files


def read_board_manifest(repl: Repl) -> list[str]:
    text = repl.exec(f"try:\n print(open({BOARD_MANIFEST!r}).read())\nexcept OSError:\n print('[]')\n")
    try:
        paths = json.loads(text.decode().strip() or "[]")
    except ValueError:
        return []
    return [p for p in paths if isinstance(p, str)]


def make_plan(repl: Repl, files: Mapping[str, bytes]) -> Plan:
    """What to write and remove, from one survey of the board's actual files (`survey.py`)."""
    found = survey(repl, files, BOARD_MANIFEST)
    plan = Plan(sizes={path: len(data) for path, data in files.items()}, previous=found.previous)
    order = sorted(files, key=lambda p: (p in LAST, LAST.index(p) if p in LAST else 0, p))
    for path in order:
        answer = found.status[path]
        if answer == SAME:
            plan.unchanged.append(path)
            continue
        plan.put.append(path)
        if answer != ABSENT:
            plan.bases[path] = answer
    plan.remove = [p for p in found.previous if p not in files and found.present(p)]
    return plan


def _write_manifest(repl: Repl, paths) -> None:
    repl.put(BOARD_MANIFEST, json.dumps(sorted(set(paths))).encode())


def apply_plan(repl: Repl, plan: Plan, files: Mapping[str, bytes], *,
               progress: Callable[[str], None] | None = None) -> int:
    """Carry out the plan; returns the bytes written."""
    previous = plan.previous if plan.previous is not None else read_board_manifest(repl)
    if not plan.changed and set(previous) == set(files):
        return 0
    widened = set(previous) | set(files)
    if widened != set(previous):   # widened first: an interruption forgets nothing
        _write_manifest(repl, widened)
    written = 0
    for path in plan.put:
        repl.put(path, files[path], base=plan.bases.get(path))
        written += len(files[path])
        if progress:
            progress(path)
    for path in plan.remove:
        repl.remove(path)
    if set(files) != set(previous):
        _write_manifest(repl, files)   # unchanged paths (a changed file, say): the manifest stays as it is
    return written


def deploy(repl: Repl, files: Mapping[str, bytes], *, dry_run: bool = False, reset: bool = True,
           out: Callable[[str], None] = print, secrets: list[str] | tuple = (),
           progress: Callable[[str], None] | None = None, enter_timeout: float = ENTER_TIMEOUT_S) -> DeployResult:
    """Plan and (unless dry_run) apply, then soft-reset so boot.py and main.py start fresh."""
    started = time.monotonic()
    try:
        repl.enter(soft_reset=not dry_run, timeout=enter_timeout)
        plan = make_plan(repl, files)
        out(f"deploy to {repl.url}: {plan.summary()}")
        for line in plan.lines():
            out(line)
        written = 0
        if dry_run:
            repl.leave()
            out("deploy: dry run, the board was not changed")
        else:
            written = apply_plan(repl, plan, files, progress=progress)
            if reset:
                repl.soft_reset()
        seconds = time.monotonic() - started
        if not dry_run:
            out(f"deploy: {len(plan.put)} written ({written} B), {len(plan.remove)} removed "
                f"in {seconds:.2f} s" + (", soft reset" if reset else ""))
        return DeployResult(plan, seconds, written, dry_run)
    except HilError as exc:
        if secrets:
            exc.args = (redact(str(exc), secrets),)
            exc.what = redact(exc.what, secrets)
            if isinstance(getattr(exc, "traceback", None), str):
                exc.traceback = redact(exc.traceback, secrets)
        raise


def deploy_to(url: str, files: Mapping[str, bytes], *, board: str | None = None, dry_run: bool = False,
              reset: bool = True, out: Callable[[str], None] = print,
              secrets: list[str] | tuple = ()) -> DeployResult:
    """Open the board at `url` and deploy `files` to it (`hil deploy` on a port of its own)."""
    with Repl.open(url, board=board) as repl:
        return deploy(repl, files, dry_run=dry_run, reset=reset, out=out, secrets=secrets)
