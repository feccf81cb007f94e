"""The run's facts: what a firmware developer or release manager asks about a run first.

Which mode (virtual boards or a rig), which boards (name, MAC, port kind, flash size,
MicroPython version, free heap), which MicroPython image (name, sha256), which firmware
(a hash of the tree `deployed` syncs: its sources and library manifest, not the config
generated per session), which harness version, and every setting with its source.

Board facts are gathered where the boards are, in the process that ran the test (an xdist
worker), and travel to the controller on the test's teardown report (attribute
`RUN_FACTS_ATTR`, plain JSON); the controller merges them (`RunFacts`) and writes them at
the top of the HTML report and as JUnit testsuite properties (`nodemcu_hil.report_facts`).
Secrets never get here: settings are shown through `Settings.describe`, which masks them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nodemcu_hil.config import SETTINGS, Settings
from nodemcu_hil.inventory import MODE_HARDWARE, effective_mode

RUN_FACTS_ATTR = "hil_run_facts"
DISTRIBUTION = "nodemcu-hil"
MANIFEST = "manifest.toml"
BOARD_FIELDS = ("mac", "port_kind", "flash_size", "micropython_version", "free_heap", "chip", "flash_id",
                "image", "image_sha256", "flash", "firmware_tree_sha256", "recovered_by")
MODE_NAMES = {MODE_HARDWARE: "rig"}
EMPTY_SHOWN = {"": "(none)", "None": "(none)", "()": "(none)"}


def harness_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed)"


def run_mode(settings: Settings) -> str:
    """virtual or rig, as the setting mode resolves (auto: a rig when boards_file exists)."""
    try:
        mode = effective_mode(settings.mode, settings.boards_file)
    except Exception as exc:  # the run stopped at start-up already; say what the setting said
        return f"{settings.mode} ({exc})"
    return MODE_NAMES.get(mode, "virtual")


def port_kind(port: str, virtual: bool = False) -> str:
    kind = "RFC2217 (network)" if port.startswith("rfc2217://") else "serial device"
    return f"{kind}, virtual board" if virtual else kind


def size_text(size: int) -> str:
    return f"{size >> 20} MB" if size >= 1 << 20 and size % (1 << 20) == 0 else f"{size} B"


@lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_facts(path: Path | None) -> dict[str, object]:
    """The MicroPython image's name, size and sha256 (what `flashed` wrote or found)."""
    if path is None or not Path(path).is_file():
        return {}
    stat = Path(path).stat()
    return {"image": Path(path).name, "image_bytes": stat.st_size,
            "image_sha256": _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)}


def tree_hash(files: Mapping[str, bytes]) -> str:
    """One sha256 over (path, sha256 of content) pairs in path order: equal trees, equal hashes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    return digest.hexdigest()


@lru_cache(maxsize=4)
def firmware_tree_facts(firmware_dir: Path) -> dict[str, object]:
    """The hash of the firmware tree as `deployed` reads it (modules and manifest.toml, which
    pins the device libraries); the config files made per session are left out on purpose.
    Read once per process: a session deploys its tree once."""
    from nodemcu_hil.deploy import firmware_files
    from nodemcu_hil.errors import HilError

    try:
        files = firmware_files(Path(firmware_dir))
    except HilError:
        return {}
    manifest = Path(firmware_dir) / MANIFEST
    if manifest.is_file():
        files[MANIFEST] = manifest.read_bytes()
    return {"firmware_tree_sha256": tree_hash(files), "firmware_files": len(files)}


def board_facts(board, firmware_dir: Path | None = None) -> dict[str, object]:
    """One board's facts from a `nodemcu_hil.board.Board` (the fixtures' value): its record,
    its fingerprint (`board.facts`), its image; the firmware tree when it was deployed."""
    record = board.record
    facts: dict[str, object] = {"port_kind": port_kind(record.port, getattr(record, "virtual", False)),
                                "flash_size": size_text(record.flash_size)}
    facts.update({key: value for key, value in board.facts.items() if isinstance(value, (str, int, float))})
    facts.update(image_facts(getattr(board, "image_path", None)))
    if firmware_dir is not None and getattr(board, "deployed_files", None):
        facts.update(firmware_tree_facts(firmware_dir))
    return facts


FREE_HEAP_CODE = "import gc\ngc.collect()\nprint(gc.mem_free())\n"


def free_heap(board) -> int | None:
    """The board's free heap at its REPL, after a collection (any firmware: the harness asks,
    not the firmware's own telemetry); None when the answer is not a number."""
    with board.repl() as repl:
        answer = repl.exec(FREE_HEAP_CODE)
    text = answer.decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def ordered(facts: Mapping[str, object]) -> list[tuple[str, object]]:
    """A board's facts, the issue's order first, then the rest as recorded."""
    keys = [key for key in BOARD_FIELDS if key in facts] + [key for key in facts if key not in BOARD_FIELDS]
    return [(key, facts[key]) for key in keys]


@dataclass
class RunFacts:
    """The facts of one run, merged from every test report that carried some."""

    boards: dict[str, dict[str, object]] = field(default_factory=dict)

    def add(self, carried: Mapping[str, Mapping[str, object]] | None) -> None:
        for name, facts in (carried or {}).items():
            self.boards.setdefault(name, {}).update(facts)

    def run_level(self, settings: Settings | None) -> list[tuple[str, object]]:
        """mode, harness version, and the image and firmware tree when every board agrees."""
        rows: list[tuple[str, object]] = []
        if settings is not None:
            rows.append(("mode", run_mode(settings)))
        rows.append(("harness_version", harness_version()))
        for key in ("image", "image_sha256", "firmware_tree_sha256"):
            values = list(dict.fromkeys(str(facts[key]) for facts in self.boards.values() if key in facts))
            if values:
                rows.append((key, ", ".join(values)))
        return rows


def setting_rows(settings: Settings | None) -> list[tuple[str, str, str]]:
    """(setting, value, source) for every setting; secrets masked by `Settings.describe`."""
    if settings is None:
        return []
    rows = []
    for setting in SETTINGS:
        described = settings.describe(setting.name)
        value, _, source = described[len(setting.name) + 1:].rpartition(" (")
        rows.append((setting.name, EMPTY_SHOWN.get(value, value), source[:-1]))
    return rows
