"""Power switching from boards.toml command templates, and `hil power` (issue 16, item 3).

The templates run without a shell and with a deadline; every failure names the board,
the command and its stderr. `hil power` by hand on a `hil sim` board: off silences the
port, on brings back the ROM message and the banner.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from nodemcu_hil.errors import PowerFailed, WaitTimeout
from nodemcu_hil.inventory import BoardRecord, load_inventory
from nodemcu_hil.power import WIRING_HINT, CommandPower, PowerSwitch, power_switch_for
from tests.power_rig import (BANNER, BOOT_TIMEOUT_S, ROM_LINE, SILENT_WINDOW_S, booted, close_console,
                             flashed_flash, hil_command, open_console)

PYTHON = shlex.quote(sys.executable)
COMMAND_DEADLINE_S = 60


def boards_file(tmp_path, power: str, *, name: str = "hub-board", port: str = "/dev/ttyUSB0",
                mac: str = "5c:cf:7f:00:00:0b"):
    path = tmp_path / "boards.toml"
    path.write_text(f'[[board]]\nname = "{name}"\nport = "{port}"\nmac = "{mac}"\n{power}')
    return path


def recorder(log) -> str:
    """A command that appends its arguments to `log` as one JSON line."""
    code = f"import json, sys; open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + chr(10))"
    return f"{PYTHON} -c {shlex.quote(code)}"


def failing(status: int, stderr: str) -> str:
    code = f"import sys; sys.stderr.write({stderr!r}); sys.exit({status})"
    return f"{PYTHON} -c {shlex.quote(code)}"


def switch_from(tmp_path, power: str) -> CommandPower:
    (record,) = load_inventory(boards_file(tmp_path, power))
    switch = power_switch_for(record)
    assert isinstance(switch, PowerSwitch)
    return switch


def test_templates_fill_placeholders_per_word_and_cycle_is_off_then_on(tmp_path):
    log = tmp_path / "calls.jsonl"
    run = recorder(log)
    switch = switch_from(tmp_path, f"power = {{ on = '''{run} on {{name}} \"{{port}}\"''', "
                                   f"off = '''{run} off {{mac}}''' }}\n")
    switch.cycle()
    switch.on()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["off", "5c:cf:7f:00:00:0b"], ["on", "hub-board", "/dev/ttyUSB0"],
                     ["on", "hub-board", "/dev/ttyUSB0"]]
    assert "python" in switch.description


def test_a_cycle_template_is_used_when_given(tmp_path):
    log = tmp_path / "calls.jsonl"
    run = recorder(log)
    switch = switch_from(tmp_path, f"power = {{ on = '''{run} on''', off = '''{run} off''', "
                                   f"cycle = '''{run} cycle {{name}}''' }}\n")
    switch.cycle()
    assert [json.loads(line) for line in log.read_text().splitlines()] == [["cycle", "hub-board"]]


def test_a_failing_command_names_board_command_and_stderr(tmp_path):
    switch = switch_from(tmp_path, f"power = {{ on = '''{failing(3, 'hub 1-1 port 2: no such port')}''', "
                                   f"off = 'x' }}\n")
    with pytest.raises(PowerFailed) as error:
        switch.on()
    text = str(error.value)
    assert "board 'hub-board'" in text and "power on" in text and "exited with status 3" in text
    assert "hub 1-1 port 2: no such port" in text and "sys.exit(3)" in text


def test_a_hanging_command_is_stopped_at_its_deadline(tmp_path):
    code = "import sys, time; sys.stderr.write('waiting for the hub'); sys.stderr.flush(); time.sleep(60)"
    (record,) = load_inventory(boards_file(tmp_path, f"power = {{ on = '''{PYTHON} -c {shlex.quote(code)}''', "
                                                     f"off = 'x' }}\n"))
    with pytest.raises(PowerFailed, match=r"power on: .* did not finish within 0.5 s; stderr: waiting for the hub"):
        CommandPower(record, timeout=0.5).on()


def test_a_missing_program_says_so(tmp_path):
    switch = switch_from(tmp_path, "power = { on = 'no-such-uhubctl -a on', off = 'x' }\n")
    with pytest.raises(PowerFailed, match="'no-such-uhubctl' is not installed or not on PATH"):
        switch.on()


def test_no_power_entry_means_no_switch():
    assert power_switch_for(BoardRecord(name="plain", port="/dev/ttyUSB0")) is None


def hil(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(hil_command(*args), env=env, capture_output=True, text=True, timeout=COMMAND_DEADLINE_S)


@pytest.fixture
def cli_env(tmp_path):
    return {**os.environ, "HIL_LEASE_DIR": str(tmp_path / "leases")}


def test_hil_power_refuses_an_unknown_board_a_board_without_power_and_a_failing_command(tmp_path, cli_env):
    path = boards_file(tmp_path, "")
    result = hil("power", "--boards-file", str(path), "nodemcu-9", "cycle", env=cli_env)
    assert result.returncode == 1 and "nodemcu-9" in result.stderr and "hub-board" in result.stderr, result.stderr
    result = hil("power", "--boards-file", str(path), "hub-board", "cycle", env=cli_env)
    assert result.returncode == 1 and "no power control" in result.stderr and WIRING_HINT in result.stderr
    hub_failure = failing(2, "uhubctl: no compatible hubs")
    path = boards_file(tmp_path, f"power = {{ on = '''{hub_failure}''', off = '''{hub_failure}''' }}\n")
    result = hil("power", "--boards-file", str(path), "hub-board", "on", env=cli_env)
    assert result.returncode == 1 and "uhubctl: no compatible hubs" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_hil_power_refuses_a_bad_template_with_file_and_line(tmp_path, cli_env):
    path = boards_file(tmp_path, "power = { on = 'uhubctl -p {hub_port} -a on', off = 'x' }\n")
    result = hil("power", "--boards-file", str(path), "hub-board", "on", env=cli_env)
    assert result.returncode == 1 and f"{path}:5:" in result.stderr and "{hub_port}" in result.stderr


def test_hil_sim_power_needs_the_running_boards_control_address(cli_env):
    result = hil("sim", "--power", "cycle", env=cli_env)
    assert result.returncode == 1 and "needs --control HOST:PORT" in result.stderr, result.stderr
    result = hil("sim", "--power", "off", "--control", "127.0.0.1:1", env=cli_env)
    assert result.returncode == 1 and "cannot reach the board's control endpoint 127.0.0.1:1" in result.stderr


@pytest.mark.slow
def test_hil_power_by_hand_on_a_virtual_board(tmp_path, start_virtual_board, cli_env):
    pytest.importorskip("micropython_run")
    process = start_virtual_board(name="hub-board", flash=flashed_flash(tmp_path), mac="5c:cf:7f:00:00:0b")
    switch = f"{PYTHON} -m nodemcu_hil.cli sim --control {process.control_address} --power"
    path = boards_file(tmp_path, f"power = {{ on = '''{switch} on''', off = '''{switch} off''', "
                                 f"cycle = '''{switch} cycle''' }}\n", port=process.url)
    console = open_console(process.url, "hub-board", tmp_path / "serial")
    try:
        booted(console)
        off = hil("power", "--boards-file", str(path), "hub-board", "off", env=cli_env)
        assert off.returncode == 0, off.stderr
        assert "hub-board off" in off.stdout
        mark = console.mark()
        console.write(b"\r\x03")
        with pytest.raises(WaitTimeout):
            console.expect(r"[\s\S]", since=mark, timeout=SILENT_WINDOW_S, what="any byte while off")
        with console.watching_boot() as mark:
            on = hil("power", "--boards-file", str(path), "hub-board", "on", env=cli_env)
        assert on.returncode == 0, on.stderr
        rom = console.expect(ROM_LINE, since=mark, timeout=BOOT_TIMEOUT_S, what="ROM boot message")
        assert rom.group(0).startswith("rst cause:1")  # a power-on, not a reset
        console.expect(BANNER, since=mark, timeout=BOOT_TIMEOUT_S, what="MicroPython banner")
    finally:
        close_console(console)
