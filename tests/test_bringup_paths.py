"""One bring-up path: `hil deploy` and the plugin's deploy fixtures build the same files
with the same settings; the harness takes the firmware through its seam (settings
firmware_dir and device_config), so another firmware plugs in without touching it; and an
error that names a setting names one that exists."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest

from nodemcu_hil import config, flashing, packages
from nodemcu_hil import errors as hil_errors
from nodemcu_hil.cli import main as hil_main
from nodemcu_hil.secrets import redact

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "nodemcu_hil"
WIFI_PASSWORD = "pw-bringup-never-shown-7"
# Where the harness's bring-up raises its errors (and this firmware's builder, which the
# harness reports): every setting these messages name must exist.
BRINGUP_MODULES = ("bringup.py", "deploy.py", "device_config.py", "packages.py", "config.py",
                   "setting_types.py", "commands/deploy.py", "commands/flash.py", "commands/target.py")
SETTING_REFERENCES = (
    (re.compile(r"--hil-([a-z0-9-]+)"), lambda name: name.replace("-", "_")),
    (re.compile(r"\bHIL_([A-Z0-9_]+)"), str.lower),
    (re.compile(r"\bhil_([a-z0-9_]+)"), str),
    (re.compile(r"\bsetting ([a-z][a-z0-9_]*)"), str),
)


def named_settings(text: str) -> set[str]:
    """Every setting `text` names: --hil-x, HIL_X, hil_x (ini key), 'setting x'."""
    return {convert(match) for pattern, convert in SETTING_REFERENCES for match in pattern.findall(text)}


@pytest.fixture
def offline_libraries(tmp_path, monkeypatch):
    """A pre-filled library cache: the deploy's files without the package index."""
    cache = tmp_path / "cache"
    for req in packages.read_manifest(ROOT / "firmware_under_test" / "manifest.toml"):
        lib = cache / "libs" / f"{req.key}-{req.version}"
        (lib / "umqtt").mkdir(parents=True)
        (lib / "umqtt" / "simple2.py").write_bytes(b"class MQTTClient: pass\n")
        (lib / packages.COMPLETE_MARK).write_text("test\n")
    monkeypatch.setenv(packages.CACHE_ENV, str(cache))


def listed_files(output: str) -> dict[str, str]:
    """`hil deploy --dry-run`'s file lines: path -> sha256 prefix."""
    return dict(re.findall(r"^  (\S+) \(\d+ B, sha256 ([0-9a-f]+)\)$", output, re.MULTILINE))


FIXTURE_SIDE = """
import json, os
from nodemcu_hil import bringup

def test_files(pytestconfig, hil_session_settings):
    # what the deploy fixtures build: bringup.deploy_board(board, settings, broker.host,
    # broker.port, hil_topic_prefix, root=pytestconfig.rootpath) -> device_files(...)
    files = bringup.device_files(hil_session_settings, "10.9.8.7", 1884, "hil/gw0", root=pytestconfig.rootpath)
    with open(os.environ["FIXTURE_SIDE_OUT"], "w") as out:
        json.dump({path: data.hex() for path, data in files.items()}, out)
"""


def fixture_side_files(tmp_path: Path, env: dict[str, str]) -> dict[str, bytes]:
    """The files as a pytest session of this repository builds them (its plugin, its ini)."""
    test = tmp_path / "fixture_side" / "test_fixture_side.py"
    test.parent.mkdir()
    test.write_text(FIXTURE_SIDE)
    out = tmp_path / "fixture-side.json"
    result = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "--rootdir", str(ROOT),
                             "-p", "no:cacheprovider", "-q", "-n", "0", str(test)],
                            cwd=ROOT, env={**env, "FIXTURE_SIDE_OUT": str(out)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return {path: bytes.fromhex(data) for path, data in json.loads(out.read_text()).items()}


def test_hil_deploy_builds_byte_for_byte_what_the_fixtures_deploy(tmp_path, monkeypatch, offline_libraries):
    for name, value in {"HIL_WIFI_PASSWORD": WIFI_PASSWORD, "HIL_TELEMETRY_PERIOD": "4", "HIL_MQTT_KEEPALIVE": "11",
                        "HIL_GPIO_ALLOW": "2,5"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with redirect_stdout(out):
        assert hil_main(["deploy", "--dry-run", "--broker-host", "10.9.8.7", "--broker-port", "1884",
                         "--topic-prefix", "hil/gw0"]) == 0
    files = fixture_side_files(tmp_path, dict(os.environ))
    assert listed_files(out.getvalue()) == {path: hashlib.sha256(data).hexdigest()[:16] for path, data in files.items()}
    assert {"boot.py", "main.py", "config.json", "lib/umqtt/simple2.py"} <= set(files)
    assert WIFI_PASSWORD.encode() in files["config.json"] and b'"telemetry_s":4' in files["config.json"]
    shown = f"  config.json: {redact(files['config.json'].decode(), [WIFI_PASSWORD])}\n"
    assert shown in out.getvalue() and WIFI_PASSWORD not in out.getvalue()


def test_hil_flash_takes_its_options_as_the_fixtures_settings(tmp_path, monkeypatch, capsys):
    """`hil flash` writes through flashing.flash_record with flash_baud and force_flash resolved as the
    `flashed` fixture resolves them: --baud/--force are those settings on the command line."""
    calls = []

    def flash_record(record, image, **options):
        calls.append(options)
        return None, SimpleNamespace(skipped=True, checked_by="the running firmware", mac="5c:cf:7f:00:00:01", fell_back=False, seconds=0.0, baud=0)

    monkeypatch.setattr(flashing, "flash_record", flash_record)
    monkeypatch.setenv("HIL_LEASE_DIR", str(tmp_path / "leases"))
    monkeypatch.setenv("HIL_FLASH_BAUD", "115200")
    monkeypatch.setenv("HIL_FORCE_FLASH", "true")
    target = ["flash", "--port", str(tmp_path / "ttyUSB9"), str(tmp_path / "mp.bin")]
    assert hil_main(target) == 0 and hil_main([*target, "--baud", "921600"]) == 0
    monkeypatch.delenv("HIL_FORCE_FLASH")
    assert hil_main(target) == 0 and hil_main([*target, "--force"]) == 0
    assert [(call["baud"], call["force"]) for call in calls] == [
        (115200, True), (921600, True), (115200, False), (115200, True)]


def test_an_error_names_only_settings_that_exist(monkeypatch, capsys, offline_libraries):
    for name in ("HIL_BROKER_HOST", "HIL_BROKER_BIND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    assert hil_main(["deploy", "--dry-run"]) == 1
    error = capsys.readouterr().err
    assert "no broker address" in error and "broker_host" in named_settings(error)
    assert named_settings(error) <= set(config.SETTINGS_BY_NAME), error


ERROR_CLASSES = {name for name, value in vars(hil_errors).items()
                 if isinstance(value, type) and issubclass(value, Exception)}


def error_texts(path: Path) -> list[str]:
    """The literal text of every `...Error(...)` raised or built in a module's source."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name.endswith("Error") or name in ERROR_CLASSES:
                for arg in [*node.args, *(keyword.value for keyword in node.keywords)]:
                    texts += [part.value for part in ast.walk(arg)
                              if isinstance(part, ast.Constant) and isinstance(part.value, str)]
    return texts


@pytest.mark.parametrize("path", [HARNESS / name for name in BRINGUP_MODULES] + [ROOT / "fixtures/device_config.py"],
                         ids=lambda path: path.relative_to(ROOT).as_posix())
def test_bring_up_errors_name_existing_settings(path):
    texts = error_texts(path)
    unknown = {name: text for text in texts for name in named_settings(text) if name not in config.SETTINGS_BY_NAME}
    assert not unknown, f"{path.name} names settings that do not exist: {unknown}"


# --- the seam: another firmware plugs in without editing nodemcu_hil --------------------------

OTHER_LAYER = '''
import json


def build(device):
    """A firmware that reads settings.json with its own keys."""
    return {"settings.json": json.dumps({"mqtt": "%s:%d" % (device.broker_host, device.broker_port),
                                         "base": device.topic_prefix, "ssid": device.settings.wifi_ssid},
                                        sort_keys=True).encode()}
'''


@pytest.fixture
def other_project(tmp_path):
    """A project of its own: firmware in fw/, its config builder in other_layer_b7/."""
    project = tmp_path / "other-project"
    (project / "fw" / "lib").mkdir(parents=True)
    (project / "fw" / "main.py").write_text("print('other firmware')\n")
    (project / "fw" / "lib" / "helper.py").write_text("X = 1\n")
    (project / "fw" / "manifest.toml").write_text("[libraries]\n")
    (project / "other_layer_b7").mkdir()
    (project / "other_layer_b7" / "__init__.py").write_text("")
    (project / "other_layer_b7" / "config.py").write_text(OTHER_LAYER)
    (project / "pytest.ini").write_text("[pytest]\nhil_firmware_dir = fw\n"
                                        "hil_device_config = other_layer_b7.config:build\n")
    return project


def test_another_firmware_deploys_by_hand_through_the_seam(other_project):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HIL_")}
    result = subprocess.run([sys.executable, "-m", "nodemcu_hil.cli", "deploy", "--dry-run",
                             "--broker-host", "192.0.2.1", "--topic-prefix", "plant/line-1"],
                            cwd=other_project, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(listed_files(result.stdout)) == {"main.py", "lib/helper.py", "settings.json"}
    assert '  settings.json: {"base": "plant/line-1", "mqtt": "192.0.2.1:1883", "ssid": "hil-test-ap"}' \
        in result.stdout


def test_another_firmware_through_the_plugin_settings(pytester, other_project):
    """In a pytest run of that project the plugin resolves the same seam from its ini."""
    for path in other_project.rglob("*"):
        if path.is_file():
            target = pytester.path / path.relative_to(other_project)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    pytester.makepyfile(test_seam=textwrap.dedent("""
        import json
        from nodemcu_hil import bringup

        def test_files(pytestconfig, hil_session_settings):
            files = bringup.device_files(hil_session_settings, "192.0.2.1", 1884, "plant/gw0",
                                         root=pytestconfig.rootpath)
            assert sorted(files) == ["lib/helper.py", "main.py", "settings.json"]
            assert json.loads(files["settings.json"])["mqtt"] == "192.0.2.1:1884"
        """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- the harness knows nothing of this repository's firmware ----------------------------------

FIRMWARE_LAYER = ("fixtures", "tests_hil", "firmware_under_test")
# cli.py's one-line summary of `hil deploy` still names the old directory; its owner changes it.


def test_the_harness_imports_and_names_no_firmware_of_this_repository():
    for path in sorted(HARNESS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [name for name in imported if name.split(".")[0] in FIRMWARE_LAYER], path
        assert "firmware_under_test" not in path.read_text(), path


def test_the_scan_reads_the_settings_errors_name():
    assert "gpio_backend" in {name for text in error_texts(HARNESS / "sources" / "base.py") for name in named_settings(text)}


def test_a_missing_firmware_tree_is_named_by_its_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HIL_FIRMWARE_DIR", raising=False)
    assert hil_main(["deploy", "--dry-run", "--broker-host", "192.0.2.1"]) == 1
    error = capsys.readouterr().err
    assert f"setting firmware_dir: {tmp_path / 'firmware'} is not a directory" in error
    assert named_settings(error) <= set(config.SETTINGS_BY_NAME) and "firmware_dir" in named_settings(error)
