"""Issue 13, item 8: the ROM loader's WRITE_REG takes several entries, as esptool's
write_reg sends with delay_after_us (a masked-out write to UART_DATE_REG for the delay)."""

from __future__ import annotations

import pytest
from esptool.targets.esp8266 import ESP8266ROM

from tests.loader_port import LoaderPort, make_chip
from nodemcu_hil.sim.flash import Flash


@pytest.fixture
def esp(tmp_path):
    with Flash(tmp_path / "f.bin", size=4 << 20) as flash:
        yield ESP8266ROM(LoaderPort(*make_chip(flash)))


def test_rom_write_reg_with_a_delay_entry(esp):
    date_before = esp.read_reg(esp.UART_DATE_REG_ADDR)
    esp.write_reg(0x3FFE8000, 0x12345678, delay_after_us=100)  # was: "result was 0105"
    assert esp.read_reg(0x3FFE8000) == 0x12345678
    assert esp.read_reg(esp.UART_DATE_REG_ADDR) == date_before  # mask 0: nothing written


def test_rom_write_reg_rejects_a_partial_entry(esp):
    from esptool.util import FatalError

    with pytest.raises(FatalError):
        esp.check_command("write target memory", esp.ESP_CMDS["WRITE_REG"], b"\x00" * 20)
