"""The `hil` command: every subcommand has help; `hil boards` prints the inventory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nodemcu_hil.cli import SUBCOMMANDS, main

HIL = [sys.executable, "-m", "nodemcu_hil.cli"]


@pytest.mark.parametrize("name", [sub.name for sub in SUBCOMMANDS])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    assert f"usage: hil {name}" in capsys.readouterr().out


def test_boards_without_file_says_sim(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HIL_BOARDS_FILE", raising=False)
    assert main(["boards"]) == 0
    assert "no boards file boards.toml (default): the suite runs on virtual boards" in capsys.readouterr().out


def test_boards_prints_a_table(tmp_path, capsys):
    path = tmp_path / "rig.toml"
    path.write_text('[[board]]\nname = "nodemcu-a"\nport = "rfc2217://rig:4000"\nmac = "5c:cf:7f:00:00:01"\n'
                    'tags = ["rig-a"]\n')
    assert main(["boards", "--boards-file", str(path)]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "PORT", "MAC", "FLASH", "TAGS", "GPIO", "PROBE"]
    assert row.split() == ["nodemcu-a", "rfc2217://rig:4000", "5c:cf:7f:00:00:01", "4MB", "rig-a", "-"]


def test_bad_inventory_is_a_one_line_error_with_exit_1(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text('[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\nmac = "nope"\n')
    result = subprocess.run([*HIL, "boards", "--boards-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"hil boards: {path}:4: malformed MAC 'nope': expected six hex pairs like 5c:cf:7f:12:34:56"
    assert "Traceback" not in result.stderr


def test_flash_and_console_commands_on_a_virtual_board(tmp_path):
    from nodemcu_hil.sim import start_board
    from nodemcu_hil.sim.mpimage import make_image

    image = tmp_path / "fw.bin"
    make_image(image, version="v1.28.0")
    env = {**os.environ, "HIL_LEASE_DIR": str(tmp_path / "leases")}
    with start_board(name="cli", flash=tmp_path / "flash.bin", state_dir=tmp_path) as board:
        first = subprocess.run([*HIL, "flash", "--port", board.url, str(image)], capture_output=True,
                               text=True, env=env, timeout=60)
        assert first.returncode == 0, first.stderr
        assert "written in" in first.stdout and "MicroPython v1.28.0" in first.stdout
        again = subprocess.run([*HIL, "flash", "--port", board.url, str(image)], capture_output=True,
                               text=True, env=env, timeout=60)
        assert "already held the image (checked by the running firmware): nothing written" in again.stdout
        console = subprocess.run([*HIL, "console", "--port", board.url, "--reset", "--seconds", "2",
                                  "--log", str(tmp_path / "console.log")],
                                 capture_output=True, text=True, env=env, timeout=60)
        assert "rst cause:2, boot mode:(3," in console.stdout
        assert "MicroPython v1.28.0 on 2026-04-06" in console.stdout
        assert "MicroPython v1.28.0" in (tmp_path / "console.log").read_text()


def test_flash_refuses_a_bad_image_before_touching_the_port(tmp_path):
    bad = tmp_path / "firmware.elf"
    bad.write_bytes(b"\x7fELF" + bytes(64))
    result = subprocess.run([*HIL, "flash", "--port", "rfc2217://127.0.0.1:9", str(bad)], capture_output=True,
                            text=True, timeout=60, env={**os.environ,
                                                        "HIL_LEASE_DIR": str(tmp_path / "leases")})
    assert result.returncode == 1
    assert "not an ESP8266 application image" in result.stderr and "the board was not touched" in result.stderr


def test_console_takes_a_board_name_from_the_inventory(tmp_path):
    from nodemcu_hil.sim import start_board

    with start_board(name="named", flash=tmp_path / "flash.bin", state_dir=tmp_path) as board:
        inventory = tmp_path / "boards.toml"
        inventory.write_text(f'[[board]]\nname = "bench-1"\nport = "{board.url}"\n')
        env = {**os.environ, "HIL_LEASE_DIR": str(tmp_path / "leases"), "HIL_BOARDS_FILE": str(inventory)}
        result = subprocess.run([*HIL, "console", "bench-1", "--reset", "--seconds", "1",
                                 "--log", str(tmp_path / "c.log")], capture_output=True, text=True, env=env,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert "hil console: bench-1 on rfc2217://" in result.stderr and "rst cause:2" in result.stdout
        missing = subprocess.run([*HIL, "console", "bench-9"], capture_output=True, text=True, env=env, timeout=60)
        assert missing.returncode == 1 and "--board bench-9: not in" in missing.stderr and "bench-1" in missing.stderr
