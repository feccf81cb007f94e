"""The `hil` command: every subcommand has help; `hil boards` prints the inventory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.cli import SUBCOMMANDS, main

HIL = [sys.executable, "-m", "fixtures.cli"]


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
