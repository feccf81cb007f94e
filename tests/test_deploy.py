"""The deploy engine against a bare MicroPython unix port on a PTY.

The "board" is the real `micropython` interpreter in a soft-reset loop (each CTRL-D ends
`run_main`, the loop prints the ESP8266's soft-reboot line and starts it again), on a raw
PTY whose master is relayed to a second PTY that the harness opens like a USB serial port.
Its filesystem is a temp directory, so the tests can look at what really landed.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import threading
import time
import tty
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from nodemcu_hil import deploy, packages
from nodemcu_hil.cli import main as hil_main
from fixtures.device_config import config_bytes
from nodemcu_hil.errors import HilError, ReplUnavailable
from nodemcu_hil.repl import Repl, open_serial
from nodemcu_hil.secrets import Secret

MICROPYTHON = Path(sys.executable).with_name("micropython")
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_under_test"
pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(), reason="MicroPython unix port not installed ([sim] extra)")

BOARD_LOOP = """
import os
from micropython_run import run_main
while True:
    run_main(['micropython', '-i', 'boot.py' if os.path.exists('boot.py') else '/dev/null'])
    os.write(1, b'MPY: soft reboot\\r\\n')
"""
WIFI_PASSWORD = "pw-never-printed-42"
SETTINGS = {"wifi_ssid": "lab", "wifi_password": Secret(WIFI_PASSWORD), "broker_host": "127.0.0.1",
            "broker_port": 1883, "topic_prefix": "hil", "gpio_allow": [2, 4]}


class BareBoard:
    """MicroPython on a PTY pair, relayed to the PTY the harness opens."""

    def __init__(self, root: Path, answer: bool = True):
        self.root = root
        self.board_master, board_slave = os.openpty()
        tty.setraw(board_slave)
        self.host_master, host_slave = os.openpty()
        tty.setraw(host_slave)
        self.path = os.ttyname(host_slave)
        self._host_slave = host_slave
        self.process = None
        if answer:
            self.process = subprocess.Popen([sys.executable, "-c", BOARD_LOOP], stdin=board_slave,
                                            stdout=board_slave, stderr=board_slave, cwd=root,
                                            start_new_session=True)
        os.close(board_slave)
        self._stop = False
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        pairs = {self.board_master: self.host_master, self.host_master: self.board_master}
        while not self._stop:
            ready, _, _ = select.select(list(pairs), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if self.process is not None or fd == self.board_master:
                    os.write(pairs[fd], data)

    def repl(self) -> Repl:
        return Repl(open_serial(self.path), self.path)

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.root).as_posix(): p.read_bytes()
                for p in self.root.rglob("*") if p.is_file()}

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self._stop = True
        self.thread.join()
        for fd in (self.board_master, self.host_master, self._host_slave):
            os.close(fd)


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "board"
    root.mkdir()
    bare = BareBoard(root)
    yield bare
    bare.close()


@pytest.fixture
def tiny_lib(tmp_path):
    root = tmp_path / "lib-cache" / "tiny"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "__init__.py").write_bytes(b"")
    (root / "tiny" / "core.py").write_bytes(b"def triple(x):\n    return 3 * x\n")
    return packages.Library(packages.Requirement("micropython-tiny", "1.0"), root)


def local(tiny_lib, *, mpy=False, cache=None):
    return deploy.local_files(FIRMWARE, {"config.json": config_bytes(SETTINGS)}, mpy=mpy, libraries=[tiny_lib],
                              cache=cache)


def run_deploy(board, files, **options):
    lines: list[str] = []
    with board.repl() as repl:
        result = deploy.deploy(repl, files, out=lines.append, secrets=[WIFI_PASSWORD], **options)
    return result, "\n".join(lines)


def test_first_deploy_writes_every_file_then_soft_resets(board, tiny_lib):
    files = local(tiny_lib)
    result, output = run_deploy(board, files)
    on_board = board.files()
    for path, data in files.items():
        assert on_board[path] == data, path
    assert {"boot.py", "main.py", "app.py", "lib/tiny/core.py", "config.json"} <= set(result.plan.put)
    assert result.plan.put[-2:] == ["main.py", "boot.py"]
    assert not [p for p in on_board if p.endswith(".part")]
    assert WIFI_PASSWORD.encode() in on_board["config.json"]
    assert WIFI_PASSWORD not in output
    assert f"{len(files)} written" in output and " s, soft reset" in output


def test_second_deploy_moves_nothing(board, tiny_lib):
    files = local(tiny_lib)
    run_deploy(board, files)
    result, output = run_deploy(board, files)
    assert result.plan.put == [] and result.plan.remove == []
    assert len(result.plan.unchanged) == len(files)
    assert "0 to write, 0 to remove" in output


def test_changed_files_move_and_vanished_ones_are_removed(board, tiny_lib):
    files = local(tiny_lib)
    run_deploy(board, files)
    (board.root / "user-data.txt").write_text("not ours")
    files["app.py"] = files["app.py"] + b"\n# changed\n"
    del files["backoff.py"]
    result, _ = run_deploy(board, files)
    assert result.plan.put == ["app.py"] and result.plan.remove == ["backoff.py"]
    on_board = board.files()
    assert "backoff.py" not in on_board and on_board["app.py"].endswith(b"# changed\n")
    assert on_board["user-data.txt"] == b"not ours"


def test_a_file_changed_on_the_board_by_another_tool_is_written_again(board, tiny_lib):
    """Change detection reads the board's files, never a record of the last deploy."""
    files = local(tiny_lib)
    run_deploy(board, files)
    (board.root / "app.py").write_bytes(files["app.py"].replace(b"def ", b"def  ", 1))
    (board.root / "messages.py").unlink()
    result, _ = run_deploy(board, files)
    assert result.plan.put == ["app.py", "messages.py"] and result.plan.remove == []
    assert {path: board.files()[path] for path in files} == files


@pytest.mark.parametrize("junk", ["not json", '{"backoff.py": 1}', '[1, null, "gone.py"]'])
def test_a_garbled_board_manifest_lists_only_its_paths(board, tiny_lib, junk):
    """Whatever another tool left in the manifest, the survey reads the paths in it, if any."""
    files = local(tiny_lib)
    (board.root / deploy.BOARD_MANIFEST).write_text(junk)
    result, _ = run_deploy(board, files)
    assert result.plan.previous == (["gone.py"] if "gone.py" in junk else [])
    assert sorted(result.plan.put) == sorted(files) and result.plan.remove == []
    assert json.loads(board.files()[deploy.BOARD_MANIFEST]) == sorted(files)


def test_changed_settings_move_only_the_config(board, tiny_lib):
    run_deploy(board, local(tiny_lib))
    files = local(tiny_lib)
    files["config.json"] = config_bytes(dict(SETTINGS, gpio_allow=[5]))
    result, _ = run_deploy(board, files)
    assert result.plan.put == ["config.json"]


def test_dry_run_prints_the_plan_and_touches_nothing(board, tiny_lib):
    files = local(tiny_lib)
    run_deploy(board, files)
    before = board.files()
    files["app.py"] = b"print('new')\n"
    del files["outbox.py"]
    result, output = run_deploy(board, files, dry_run=True)
    assert result.plan.put == ["app.py"] and result.plan.remove == ["outbox.py"]
    assert "write  app.py" in output and "remove outbox.py" in output and "not changed" in output
    assert board.files() == before


def test_interrupted_deploy_is_completed_by_the_next_run(board, tiny_lib):
    files = local(tiny_lib)
    run_deploy(board, files)
    files = dict(files)
    files["app.py"] += b"\n# v2\n"
    files["messages.py"] += b"\n# v2\n"
    files["lib/tiny/extra.py"] = b"X = 1\n"
    del files["backoff.py"]

    class Cut(Exception):
        pass

    written: list[str] = []

    def cut_after_one(path):
        written.append(path)
        raise Cut(path)

    with pytest.raises(Cut):
        run_deploy(board, files, progress=cut_after_one)
    (board.root / "messages.py.part").write_bytes(b"half a file")
    assert written == ["app.py"]
    result, _ = run_deploy(board, files)
    assert "app.py" not in result.plan.put and "messages.py" in result.plan.put
    assert result.plan.remove == ["backoff.py"]
    on_board = board.files()
    assert {p: on_board[p] for p in files} == files
    assert not [p for p in on_board if p.endswith(".part")] and "backoff.py" not in on_board


def test_mpy_deploy_compiles_modules_and_they_import_on_micropython(board, tiny_lib, tmp_path):
    run_deploy(board, local(tiny_lib))
    files = local(tiny_lib, mpy=True, cache=tmp_path / "cache")
    result, _ = run_deploy(board, files)
    on_board = board.files()
    assert "gpiocmd.mpy" in on_board and "gpiocmd.py" not in on_board
    assert "boot.py" in on_board and "main.py" in on_board and "lib/tiny/core.mpy" in on_board
    assert "gpiocmd.py" in result.plan.remove
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        out = repl.exec("import sys\nsys.path.insert(0, 'lib')\nimport gpiocmd, tiny.core\n"
                        "print(gpiocmd.parse_payload(b'on'), tiny.core.triple(3), gpiocmd.__file__)")
    assert out.split()[:2] == [b"1", b"9"] and out.split()[2].endswith(b"gpiocmd.mpy")


def test_firmware_boot_py_returns_at_once_when_wifi_cannot_join(board, tiny_lib):
    """Every tool's soft reset runs boot.py: it must start the join and return, not wait."""
    files = local(tiny_lib)
    files["network.py"] = (b"STA_IF, AP_IF = 0, 1\nclass WLAN:\n def __init__(self, i): pass\n"
                           b" def active(self, *a): return True\n def isconnected(self): return False\n"
                           b" def connect(self, s, p): print('join requested', s)\n")
    run_deploy(board, files, reset=False)
    with board.repl() as repl:
        started = time.monotonic()
        repl.enter(soft_reset=True)
        elapsed = time.monotonic() - started
        assert repl.eval("1+1") == 2
    assert elapsed < 3.0


def test_a_silent_port_raises_repl_unavailable_naming_the_port(tmp_path):
    silent = BareBoard(tmp_path, answer=False)
    try:
        with silent.repl() as repl:
            started = time.monotonic()
            with pytest.raises(ReplUnavailable) as info:
                repl.enter(timeout=0.3)
            elapsed = time.monotonic() - started
        assert silent.path in str(info.value) and "raw REPL" in str(info.value)
        assert elapsed < 3.0, f"3 tries of 0.3 s took {elapsed:.1f} s: a read outlived its deadline"
    finally:
        silent.close()


def test_errors_from_the_board_are_typed_and_name_the_port(board):
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        with pytest.raises(HilError) as info:
            repl.exec("raise ValueError('from the board')")
    assert "ValueError: from the board" in str(info.value) and board.path in str(info.value)
    assert "Traceback" in info.value.traceback


def in_this_project(monkeypatch, directory):
    """Run `hil` from `directory` with this repository's firmware and config builder."""
    monkeypatch.chdir(directory)
    monkeypatch.setenv("HIL_FIRMWARE_DIR", str(FIRMWARE))
    monkeypatch.setenv("HIL_DEVICE_CONFIG", "fixtures.device_config:build")


def test_hil_deploy_command_dry_run_and_real_run(board, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    for req in packages.read_manifest(FIRMWARE / "manifest.toml"):   # a pre-filled cache: the command works offline
        root = cache / "libs" / f"{req.key}-{req.version}"
        (root / "umqtt").mkdir(parents=True)
        (root / "umqtt" / "__init__.py").write_bytes(b"")
        (root / "umqtt" / "simple2.py").write_bytes(b"class MQTTClient: pass\n")
        (root / packages.COMPLETE_MARK).write_text("test\n")
    monkeypatch.setenv(packages.CACHE_ENV, str(cache))
    monkeypatch.setenv("HIL_WIFI_PASSWORD", WIFI_PASSWORD)
    in_this_project(monkeypatch, tmp_path)
    out = io.StringIO()
    with redirect_stdout(out):
        assert hil_main(["deploy", "--port", board.path, "--broker-host", "127.0.0.1", "--dry-run"]) == 0
    assert "write  boot.py" in out.getvalue() and board.files() == {}
    with redirect_stdout(out):
        assert hil_main(["deploy", "--port", board.path, "--broker-host", "127.0.0.1"]) == 0
    assert "lib/umqtt/simple2.py" in board.files()
    assert WIFI_PASSWORD not in out.getvalue()
    assert WIFI_PASSWORD.encode() in board.files()["config.json"]


def test_hil_deploy_board_needs_a_boards_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert hil_main(["deploy", "--board", "bench1", "--broker-host", "127.0.0.1"]) == 1
    assert "no boards file" in capsys.readouterr().err


def test_hil_deploy_board_by_name_from_the_inventory_under_its_lease(board, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    for req in packages.read_manifest(FIRMWARE / "manifest.toml"):
        root = cache / "libs" / f"{req.key}-{req.version}"
        (root / "umqtt").mkdir(parents=True)
        (root / "umqtt" / "simple2.py").write_bytes(b"class MQTTClient: pass\n")
        (root / packages.COMPLETE_MARK).write_text("test\n")
    monkeypatch.setenv(packages.CACHE_ENV, str(cache))
    monkeypatch.setenv("HIL_LEASE_DIR", str(tmp_path / "leases"))
    in_this_project(monkeypatch, tmp_path)
    (tmp_path / "boards.toml").write_text(f'[[board]]\nname = "bench1"\nport = "{board.path}"\n')
    assert hil_main(["deploy", "--board", "bench2", "--broker-host", "127.0.0.1"]) == 1
    assert "known boards: bench1" in capsys.readouterr().err
    from nodemcu_hil.inventory import BoardRecord
    from nodemcu_hil.lease import lease_for
    monkeypatch.setenv("HIL_LEASE_TIMEOUT", "0.2")
    held = lease_for(BoardRecord(name="another-run", port=board.path), tmp_path / "leases")
    assert held.try_acquire(0)
    try:
        assert hil_main(["deploy", "--board", "bench1", "--broker-host", "127.0.0.1"]) == 1
        assert "leased by" in capsys.readouterr().err and board.files() == {}
    finally:
        held.release()
    assert hil_main(["deploy", "--board", "bench1", "--broker-host", "127.0.0.1"]) == 0
    assert "lib/umqtt/simple2.py" in board.files()


def test_deploy_errors_never_show_a_secret_the_board_printed(board, tiny_lib):
    """A boot.py that prints the password and hangs: the DeviceHung quotes its output, masked."""
    (board.root / "boot.py").write_text(f"print('joining with', {WIFI_PASSWORD!r})\nwhile True:\n    pass\n")
    with board.repl() as repl:
        with pytest.raises(HilError) as info:
            deploy.deploy(repl, local(tiny_lib), out=lambda line: None, secrets=[WIFI_PASSWORD],
                          enter_timeout=1.0)
    assert "joining with" in str(info.value) and "***" in str(info.value)
    assert WIFI_PASSWORD not in str(info.value)


def test_output_left_on_the_port_is_not_taken_for_the_raw_repl_answer(board):
    """Enter skips what the board sent before it asked (here a stale raw-REPL banner and
    prompt, as an earlier client can leave them) instead of waiting for silence first."""
    stale = b"raw REPL; CTRL-B to exit\r\n>"
    with board.repl() as repl:
        os.write(board.host_master, stale)
        assert select.select([repl.serial], [], [], 5)[0], "the stale bytes never reached the port"
        assert repl.serial.in_waiting == len(stale)
        repl.enter(soft_reset=False)
        assert repl.eval("6*7") == 42
        assert repl.eval("'after'") == "after"
