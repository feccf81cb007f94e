"""identify(): the SPI flash id it promises the reports is read from the board (esptool's
RDID through the ROM loader), for each flash size the virtual board can carry."""

from __future__ import annotations

import pytest

from nodemcu_hil.board import Board
from nodemcu_hil.identify import BoardIdentity, identify
from nodemcu_hil.ports import open_port
from nodemcu_hil.sim import start_board

MAC = "5c:cf:7f:0a:0b:0d"
WINBOND = 0xEF


@pytest.mark.parametrize("flash_size, capacity", [("4MB", 0x16), ("2MB", 0x15)])
def test_identify_reads_the_flash_id(tmp_path, flash_size, capacity):
    with start_board(name="identify-test", flash=tmp_path / "flash.bin", mac=MAC, flash_size=flash_size,
                     state_dir=tmp_path) as board, open_port(board.url) as port:
        identity = identify(port)
    assert (identity.chip, identity.mac) == ("ESP8266", MAC)
    assert identity.flash_id == capacity << 16 | 0x40 << 8 | WINBOND
    assert identity.facts() == {"chip": "ESP8266", "mac": MAC, "flash_id": f"0x{capacity:02x}40ef"}


def test_facts_leave_out_an_unread_flash_id():
    assert BoardIdentity("ESP8266", MAC).facts() == {"chip": "ESP8266", "mac": MAC}


def test_board_has_no_unused_fingerprint_method():
    assert not hasattr(Board, "fingerprint"), "the fingerprint is Board.facts, filled by connect_board"
