"""`hil init DIR`: the scaffold, its refusal of a non-empty directory, and a scaffolded
project that passes pytest on a virtual board at once."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from nodemcu_hil.cli import main
from nodemcu_hil.commands.init import scaffold, template_files

SCAFFOLD = {
    "pytest.ini", "conftest.py", "README.md", ".gitignore", "boards.toml.example",
    "fixtures/__init__.py", "fixtures/device_config.py", "fixtures/suite.py",
    "firmware/boot.py", "firmware/main.py", "firmware/manifest.toml",
    "tests/test_boot.py", ".github/workflows/hil-sim.yml",
}


def _tree(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_init_writes_the_scaffold(tmp_path, capsys):
    target = tmp_path / "new-firmware"
    assert main(["init", str(target)]) == 0
    assert _tree(target) == SCAFFOLD
    assert "13 files written" in capsys.readouterr().out
    ini = (target / "pytest.ini").read_text()
    assert "hil_firmware_dir = firmware" in ini and "hil_device_config = fixtures.device_config:build" in ini
    manifest = (target / "firmware" / "manifest.toml").read_text()
    assert '[libraries]\n"micropython-umqtt.simple2" = "2.2.0"' in manifest
    assert "from umqtt.simple2 import MQTTClient" in (target / "firmware" / "main.py").read_text()
    workflow = (target / ".github" / "workflows" / "hil-sim.yml").read_text()
    assert "'nodemcu-hil[sim]==" in workflow and "@HIL_VERSION@" not in workflow
    for name in SCAFFOLD - {"README.md", ".gitignore", "boards.toml.example", "pytest.ini", "firmware/manifest.toml",
                            ".github/workflows/hil-sim.yml"}:
        compile((target / name).read_text(), name, "exec")  # MicroPython files are Python syntax too


def test_init_refuses_a_non_empty_directory_unless_forced(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path)]) == 1
    assert f"hil init: {tmp_path} is not empty: nothing written" in capsys.readouterr().err
    assert _tree(tmp_path) == {"notes.txt"}

    (tmp_path / "pytest.ini").write_text("[pytest]\n# old\n")
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert _tree(tmp_path) == SCAFFOLD | {"notes.txt"}
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert "# old" not in (tmp_path / "pytest.ini").read_text()


def test_init_refuses_a_file_in_the_way(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["init", str(tmp_path / "taken")]) == 1
    assert "exists and is not a directory" in capsys.readouterr().err


def test_every_template_is_package_data():
    """What pyproject's package-data globs take is what `hil init` writes (the wheel check
    in test_packaging.py makes sure the wheel carries them)."""
    assert set(template_files()) == SCAFFOLD


@dataclass(frozen=True)
class FakeContext:  # the fields of nodemcu_hil.device_config.DeviceContext
    settings: object
    broker_host: str
    broker_port: int
    topic_prefix: str


def test_the_scaffold_config_builder_writes_revealed_secrets(tmp_path):
    from nodemcu_hil.config import resolve

    scaffold(tmp_path / "p")
    spec = importlib.util.spec_from_file_location("scaffold_device_config", tmp_path / "p/fixtures/device_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings = resolve(env={"HIL_WIFI_SSID": "lab", "HIL_WIFI_PASSWORD": "pw-1", "HIL_BROKER_PASSWORD": "pw-2",
                            "HIL_BROKER_USER": "dev"})
    files = module.build(FakeContext(settings, "10.0.0.5", 1884, "hil/gw0"))
    assert list(files) == ["config.json"]
    assert json.loads(files["config.json"]) == {
        "wifi_ssid": "lab", "wifi_password": "pw-1", "broker_host": "10.0.0.5", "broker_port": 1884,
        "broker_user": "dev", "broker_password": "pw-2", "topic_prefix": "hil/gw0"}
    assert module.build(FakeContext(settings, "10.0.0.5", 1884, "hil/gw0")) == files, "not deterministic"


ONLINE_TEST = """
import pytest

pytestmark = pytest.mark.hil


def test_the_firmware_comes_online(online):
    assert online.payload == b"online" and online.retain
"""


@pytest.mark.slow
def test_a_scaffolded_project_passes_pytest_on_a_virtual_board(tmp_path):
    """The scaffold's boot test as written, plus a test over its fixtures/ layer: the
    scaffold's main.py, deployed with its config builder, publishes `online`."""
    project = tmp_path / "firmware-project"
    assert main(["init", str(project)]) == 0
    (project / "tests" / "test_online.py").write_text(ONLINE_TEST)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HIL_", "PYTEST_"))}
    env["HIL_LEASE_DIR"] = str(tmp_path / "leases")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 't'}"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout and "warning" not in result.stdout.splitlines()[-1]
    assert "hil: mode=sim" in result.stdout
    reports = project / "reports"
    assert (reports / "junit.xml").exists() and (reports / "report.html").exists()
    assert "MicroPython v" in next((reports / "serial").glob("*.log")).read_text()
