"""The plugin comes in by its pytest11 entry point and starts nothing unasked.

A project that merely has nodemcu-hil installed (its tests request no HIL fixture) gets
the options and fixtures, and nothing else: no board, no broker, no thread, no process,
no listening socket, no report file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PLAIN_CONFTEST = """
    import socket
    import subprocess
    import threading
    import traceback

    started = []  # what the harness started (pytest-metadata runs `uname -p`: not ours)
    _popen_init, _thread_start, _listen = subprocess.Popen.__init__, threading.Thread.start, socket.socket.listen

    def note(what):
        if any("nodemcu_hil" in frame.filename for frame in traceback.extract_stack()):
            started.append(what)

    def popen_init(self, args, *rest, **kwargs):
        note(f"process {args!r}")
        return _popen_init(self, args, *rest, **kwargs)

    def thread_start(self):
        note(f"thread {self.name}")
        return _thread_start(self)

    def listen(self, *args):
        note(f"listening socket {self.getsockname()!r}")
        return _listen(self, *args)

    subprocess.Popen.__init__, threading.Thread.start, socket.socket.listen = popen_init, thread_start, listen

    def pytest_terminal_summary(terminalreporter):
        terminalreporter.write_line(f"STARTED={started!r}")
"""

PLAIN_TESTS = """
    def test_plain(request):
        assert request.config.pluginmanager.get_plugin("nodemcu_hil") is not None, "no entry point plugin"
        assert request.config.getoption("hil_report_dir") is None

    def test_failing_plain():
        assert 1 == 2
"""


def _plain_project(root):
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(textwrap.dedent(PLAIN_CONFTEST))
    (root / "test_plain.py").write_text(textwrap.dedent(PLAIN_TESTS))
    return root


def _files(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if "__pycache__" not in path.parts}


def _pytest(root, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HIL_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_plain_project_with_the_plugin_installed_starts_and_writes_nothing(tmp_path):
    project = _plain_project(tmp_path / "plain")
    before = _files(project)
    result = _pytest(project, f"--basetemp={tmp_path / 'basetemp'}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "STARTED=[]" in result.stdout, result.stdout[-3000:]
    assert _files(project) == before, "the run wrote files nobody asked for"


def test_the_entry_point_brings_the_options_and_fixtures(tmp_path):
    project = _plain_project(tmp_path / "plain")
    shown = _pytest(project, "--help")
    assert "--hil-report-dir" in shown.stdout and "hil_firmware_image" in shown.stdout
    fixtures = _pytest(project, "--fixtures", f"--basetemp={tmp_path / 'basetemp'}")
    import re

    listed = set(re.findall(r"^(\w+)(?: \[session scope\])? -- .*nodemcu_hil/plugin\.py", fixtures.stdout, re.M))
    assert {"board", "flashed", "deployed", "broker", "mqtt", "hil_settings"} <= listed, fixtures.stdout[-3000:]
