"""`hil boards --probe` against virtual boards: ok, wrong MAC, unreachable, busy."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nodemcu_hil.cli import main
from nodemcu_hil.inventory import load_inventory
from nodemcu_hil.lease import lease_for
from nodemcu_hil.sim import start_board

MAC_A = "5c:cf:7f:00:aa:01"
MAC_B = "5c:cf:7f:00:bb:02"


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    first = start_board(name="probe-a", flash=root / "a.bin", mac=MAC_A, state_dir=root / "a")
    second = start_board(name="probe-b", flash=root / "b.bin", mac=MAC_B, state_dir=root / "b")
    yield first, second
    first.stop()
    second.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def inventory(tmp_path, entries) -> str:
    path = tmp_path / "boards.toml"
    path.write_text("".join(f'[[board]]\nname = "{name}"\nport = "{port}"\nmac = "{mac}"\n\n'
                            for name, port, mac in entries))
    return str(path)


def probe(tmp_path, monkeypatch, entries, capsys) -> tuple[int, dict[str, list[str]]]:
    monkeypatch.setenv("HIL_LEASE_DIR", str(tmp_path / "leases"))
    code = main(["boards", "--probe", "--boards-file", inventory(tmp_path, entries)])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    return code, {row[0]: row for row in rows}


def test_all_ok_exits_zero(tmp_path, monkeypatch, capsys, boards):
    first, second = boards
    code, rows = probe(tmp_path, monkeypatch, [("a", first.url, MAC_A), ("b", second.url, MAC_B)], capsys)
    assert code == 0
    assert rows["a"][2:5] == ["ok", "ESP8266", MAC_A] and rows["b"][2] == "ok"


def test_wrong_mac_and_unreachable_exit_one(tmp_path, monkeypatch, capsys, boards):
    first, _ = boards
    nowhere = f"rfc2217://127.0.0.1:{closed_port()}"
    code, rows = probe(tmp_path, monkeypatch, [("a", first.url, MAC_B), ("gone", nowhere, MAC_A)], capsys)
    assert code == 1
    assert rows["a"][2:4] == ["wrong", "MAC"] and MAC_A in rows["a"]
    assert rows["gone"][2] == "unreachable"


def test_leased_board_is_busy(tmp_path, monkeypatch, capsys, boards):
    first, _ = boards
    path = inventory(tmp_path, [("a", first.url, MAC_A)])
    record = load_inventory(Path(path))[0]
    with lease_for(record, tmp_path / "leases").acquire(timeout=1):
        code, rows = probe(tmp_path, monkeypatch, [("a", first.url, MAC_A)], capsys)
    assert code == 1 and rows["a"][2] == "busy"
    assert "leased" in " ".join(rows["a"])
