"""`hil sim` as a user runs it: the READY line, clean stops, one-line errors."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys

import pytest
from esptool.cmds import detect_chip, read_flash, reset_chip, run_stub, write_flash

from nodemcu_hil.ports import open_port
from nodemcu_hil.sim import ControlClient, start_board

READY = re.compile(r"^READY rfc2217://127\.0\.0\.1:(\d+) pty=(\S+) control=127\.0\.0\.1:(\d+)$")
FLASH_SIZE = 4 * 1024 * 1024
START_TIMEOUT = 20


def hil_sim(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nodemcu_hil.cli", "sim", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_then_clean_stop(tmp_path, signum):
    flash, link = tmp_path / "flash.bin", tmp_path / "ttyV0"
    process = hil_sim("--rfc2217", "127.0.0.1:0", "--pty", str(link), "--flash", str(flash))
    try:
        line = process.stdout.readline().strip()
        match = READY.match(line)
        assert match, line
        assert int(match.group(1)) > 0 and match.group(2) == str(link)
        assert os.readlink(link).startswith("/dev/pts/")
        ControlClient(f"127.0.0.1:{match.group(3)}").close()
    finally:
        process.send_signal(signum)
        code = process.wait(START_TIMEOUT)
    assert code == 0, process.stderr.read()
    assert flash.stat().st_size == FLASH_SIZE
    assert not os.path.lexists(link)


def test_flash_survives_a_restart(tmp_path):
    flash = tmp_path / "flash.bin"
    data = random.Random(9).randbytes(12000)
    for round_ in ("write", "read"):
        with start_board(name="persist", flash=flash, state_dir=tmp_path) as board:
            port = open_port(board.url)
            try:
                esp = run_stub(detect_chip(port=port))
                if round_ == "write":
                    write_flash(esp, [(0x30000, data)])
                else:
                    assert read_flash(esp, 0x30000, len(data)) == data
                reset_chip(esp, "hard-reset")
            finally:
                port.close()


@pytest.fixture
def busy_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_port_in_use_is_one_line_and_nothing_starts(tmp_path, busy_port):
    flash = tmp_path / "flash.bin"
    process = hil_sim("--rfc2217", f"127.0.0.1:{busy_port}", "--flash", str(flash))
    out, err = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode != 0
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("hil sim: cannot open the RFC2217 port")
    assert "in use" in err
    assert not flash.exists()


@pytest.mark.parametrize("args, message", [
    (["--mac", "5c:cf:7f:zz:00:01"], "--mac '5c:cf:7f:zz:00:01'"),
    (["--mac", "5c:cf:7f"], "--mac '5c:cf:7f'"),
    (["--flash-size", "3MB"], "--flash-size '3MB' is not a flash chip"),
    (["--rfc2217", "localhost"], "--rfc2217 'localhost' is not HOST:PORT"),
    (["--flash", "{tmp}/file/flash.bin"], "cannot open flash image"),
])
def test_bad_settings_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "file").write_text("a regular file, not a directory")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    process = hil_sim("--state-dir", str(tmp_path / "state"), *args)
    out, err = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("hil sim: ") and message in err, err


@pytest.mark.parametrize("world, named", [
    ('[[access_point]]\nssid = "lab"\npassword = "pw"\n', "'access_point'"),
    ('[wifi]\njoin_delay = 1.0\n', "'wifi.join_delay'"),
    ('[[wifi.ap]]\nssid = "lab"\npasword = "pw"\n', "'wifi.ap.pasword'"),
    ('[net]\nlatency = 20\n', "'net.latency'"),
    ('[gpio]\ninput = {4 = 1}\n', "'gpio.input'"),
], ids=["table", "wifi-key", "ap-key", "net-key", "gpio-key"])
def test_a_world_file_with_an_unknown_table_or_key_is_refused(tmp_path, world, named):
    path = tmp_path / "bad world.toml"
    path.write_text(world)
    process = hil_sim("--state-dir", str(tmp_path / "state"), "--world", str(path))
    out, err = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("hil sim: ") and str(path) in err and named in err, err
