"""The ROM loader: sync, registers, SPI flash id, RAM upload, ROM writes, malformed input.

Where esptool has the logic (MAC decoding, chip id, crystal guess, SPI command sequence,
erase-size compensation, stub upload) the real esptool code drives the loader through
an in-memory port; hand-built packets cover what esptool never sends.
"""

from __future__ import annotations

import os
import struct

import pytest
from esptool.cmds import DETECTED_FLASH_SIZES, detect_flash_size
from esptool.loader import StubFlasher
from esptool.targets.esp8266 import ESP8266ROM

from tests.loader_port import TEST_MAC, LoaderPort, RawClient, data_block, make_chip
from nodemcu_hil.sim import efuse
from nodemcu_hil.sim.flash import SECTOR_SIZE, Flash
from nodemcu_hil.sim.flash_writer import rom_erase_span
from nodemcu_hil.sim.loader_packets import SYNC_PAYLOAD, Op

ROM_OK = b"\x00\x00"
ROM_INVALID = b"\x01\x05"
ROM_BAD_CHECKSUM = b"\x01\x07"
ROM_FLASH_WRITE = b"\x01\x08"


@pytest.fixture
def flash(tmp_path):
    with Flash(tmp_path / "flash.bin") as f:
        yield f


@pytest.fixture
def chip(flash):
    return make_chip(flash)


@pytest.fixture
def raw(chip):
    return RawClient(*chip)


@pytest.fixture
def esp(chip):
    """esptool's own ESP8266 ROM class, connected without a reset."""
    loader = ESP8266ROM(LoaderPort(*chip))
    loader.connect(mode="no-reset")
    return loader


def test_sync_gets_eight_rom_replies(raw):
    raw.send(Op.SYNC, SYNC_PAYLOAD)
    replies = raw.responses()
    assert len(replies) == 8
    assert {(r.op, r.value, r.data) for r in replies} == {(Op.SYNC, 0x20120707, ROM_OK)}


def test_esptool_sees_a_rom_not_a_stub(esp):
    esp.sync()
    assert esp.sync_stub_detected is False


@pytest.mark.parametrize("op", [Op.GET_SECURITY_INFO, Op.SPI_SET_PARAMS, Op.SPI_ATTACH,
                                Op.CHANGE_BAUDRATE, Op.FLASH_DEFL_BEGIN, Op.SPI_FLASH_MD5,
                                Op.ERASE_FLASH, Op.ERASE_REGION, Op.READ_FLASH,
                                Op.RUN_USER_CODE, 0x0E, 0x55, 0xFF])
def test_rom_answers_every_unsupported_op_with_invalid_message(raw, op):
    reply = raw.command(op)
    assert (reply.op, reply.data) == (op, ROM_INVALID)


def test_chip_magic_mac_chip_id_and_crystal_as_esptool_reads_them(esp):
    assert esp.read_reg(0x40001000) == ESP8266ROM.MAGIC_VALUE
    assert bytes(esp.read_mac()) == TEST_MAC
    assert esp.chip_id() == int.from_bytes(TEST_MAC[3:], "big")
    assert esp.get_chip_description() == "ESP8266EX"
    assert esp.read_reg(0x60000014) == 0x1C4
    assert esp.get_crystal_freq() == 26


@pytest.mark.parametrize("mac", ["18:fe:34:01:02:03", "ac-d0-74-ff-00-80", "02aabbccddee"])
def test_any_unicast_mac_round_trips_through_the_efuses(tmp_path, mac):
    with Flash(tmp_path / "f.bin", size=1 << 20) as f:
        chip = make_chip(f, efuse.parse_mac(mac))
        esp = ESP8266ROM(LoaderPort(*chip))
        assert bytes(esp.read_mac()) == efuse.parse_mac(mac)
        assert esp.get_chip_description() == "ESP8266EX"


def test_mac_helpers():
    assert efuse.parse_mac("AA:bb:cc:dd:ee:f0") == bytes.fromhex("aabbccddeef0")
    for bad in ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aa:bb-cc:dd:ee:ff", "", "01:00:5e:00:00:01",
                "00:00:00:11:22:33"]:
        with pytest.raises(ValueError, match="MAC address"):
            efuse.parse_mac(bad)
    first = efuse.default_mac("board-a")
    assert first == efuse.default_mac("board-a") != efuse.default_mac("board-b")
    assert first[0] & 0x03 == 0x02  # locally administered, unicast
    efuse.check_mac(first)


def test_flash_reads_nothing_until_the_rom_attaches_it(chip):
    """Item 8: a freshly reset chip's SPI pins are not configured: RDID reads ones and
    SFDP has no signature, so esptool's size detection says Unknown; esptool's attach
    (FLASH_BEGIN(0, 0) on the ROM) makes the flash answer. A reset detaches it again."""
    loader, _ = chip
    esp = ESP8266ROM(LoaderPort(*chip))
    assert esp.flash_id() == 0xFFFFFF
    assert detect_flash_size(esp) is None
    assert esp.read_spiflash_sfdp(0, 32) == 0xFFFFFFFF
    esp.flash_spi_attach(0)
    assert DETECTED_FLASH_SIZES[esp.flash_id(cache=False) >> 16] == "4MB"
    assert esp.read_spiflash_sfdp(0, 32) == 0x50444653
    loader.reset()
    assert esp.flash_id(cache=False) == 0xFFFFFF


def test_the_stub_attaches_the_flash_itself(chip):
    esp = ESP8266ROM(LoaderPort(*chip)).run_stub()
    assert detect_flash_size(esp) == "4MB"


@pytest.mark.parametrize("size", [1 << 20, 2 << 20, 4 << 20, 16 << 20])
def test_flash_id_and_sfdp_through_spi_registers(tmp_path, size):
    with Flash(tmp_path / "f.bin", size=size) as f:
        esp = ESP8266ROM(LoaderPort(*make_chip(f)))
        esp.flash_spi_attach(0)
        flash_id = esp.flash_id()
        assert flash_id & 0xFF == 0xEF and flash_id >> 24 == 0
        assert DETECTED_FLASH_SIZES[flash_id >> 16] == f"{size >> 20}MB"
        assert esp.read_spiflash_sfdp(0, 32) == 0x50444653
        assert esp.read_spiflash_sfdp(0x10, 8) == 0xEF
        assert esp.read_reg(0x60000200) & (1 << 18) == 0


def test_status_register_write_and_read_back(esp):
    esp.flash_spi_attach(0)
    esp.write_status(0x0204, 2)
    assert esp.read_status(2) == 0x0204


def test_write_reg_mask_keeps_other_bits(esp):
    esp.write_reg(0x3FFE8000, 0xAAAA5555)
    esp.write_reg(0x3FFE8000, 0x0000FFFF, mask=0x0000FF00)
    assert esp.read_reg(0x3FFE8000) == 0xAAAAFF55
    esp.write_reg(0x40001000, 0)
    assert esp.read_reg(0x40001000) == 0xFFF0C101


@pytest.mark.parametrize("version", ["1", "2"])
def test_stub_upload_replies_to_mem_end_before_greeting(chip, version, monkeypatch):
    """Both stub generations esptool ships (v2, 11456 bytes at 0x4010C500; legacy at
    0x4010D000) are recognised."""
    loader, wire = chip
    monkeypatch.setattr(StubFlasher, "STUB_SUBDIRS", [version])
    esp = ESP8266ROM(LoaderPort(loader, wire))
    stub = esp.run_stub()
    assert loader.stub_running and stub.IS_STUB
    frames = RawClient(loader, wire).frames()
    assert frames[-1] == b"OHAI"
    assert frames[-2][:2] == bytes([1, Op.MEM_END]) and frames[-2][-2:] == ROM_OK


def test_stub_recognised_wherever_it_is_loaded(chip):
    """Relocated and resized: still the OHAI-carrying upload ending in an execute."""
    loader, wire = chip
    raw = RawClient(loader, wire)
    code = os.urandom(700) + b"OHAI" + os.urandom(300)
    raw.command(Op.MEM_BEGIN, struct.pack("<IIII", len(code), 1, 0x1800, 0x40107000))
    assert raw.command(Op.MEM_DATA, *data_block(code)).data == ROM_OK
    raw.send(Op.MEM_END, struct.pack("<II", 0, 0x40107010))
    assert raw.frames()[-1] == b"OHAI" and loader.stub_running


def test_ram_program_that_is_not_a_stub_is_reported_on_the_console(flash):
    said = []
    loader, wire = make_chip(flash, console=said.append)
    raw = RawClient(loader, wire)
    code = b"\x00" * 64
    raw.command(Op.MEM_BEGIN, struct.pack("<IIII", len(code), 1, 0x1800, 0x40100000))
    raw.command(Op.MEM_DATA, *data_block(code))
    assert raw.command(Op.MEM_END, struct.pack("<II", 0, 0x40100004)).data == ROM_OK
    assert not loader.stub_running and raw.frames() == []
    assert "no Xtensa CPU" in said[0] and "0x40100004" in said[0]


def test_mem_end_without_execute_just_closes(raw, chip):
    raw.command(Op.MEM_BEGIN, struct.pack("<IIII", 4, 1, 0x1800, 0x3FFE8000))
    raw.command(Op.MEM_DATA, *data_block(b"OHAI"))
    assert raw.command(Op.MEM_END, struct.pack("<II", 1, 0)).data == ROM_OK
    assert raw.frames() == [] and not chip[0].stub_running


def test_rom_erase_span_matches_the_documented_example():
    assert rom_erase_span(0x1000, 0x7000) == (1, 14)  # 50 KB at 0x1000 (issue #33)


def test_esptool_compensation_against_the_simulated_bug_erases_what_it_needs():
    esp = ESP8266ROM.__new__(ESP8266ROM)
    for start_sector in range(0, 40):
        for wanted in range(1, 70):
            offset = start_sector * SECTOR_SIZE
            first, count = rom_erase_span(offset, esp.get_erase_size(offset, wanted * SECTOR_SIZE))
            assert first == start_sector
            assert wanted <= count <= wanted + 1, (start_sector, wanted, count)


@pytest.mark.parametrize("offset,length", [(0x1000, 50 * 1024), (0x3000, 300 * 1024), (0x10000, 5)])
def test_no_stub_write_lands_exactly_over_stale_data(esp, flash, offset, length):
    """Zeros everywhere first: any sector the ROM failed to erase would keep them."""
    flash.program(0, b"\x00" * (0x80000))
    image = os.urandom(length)
    blocks = esp.flash_begin(length, offset)
    for seq in range(blocks):
        chunk = image[seq * 0x400:(seq + 1) * 0x400]
        esp.flash_block(chunk + b"\xff" * (0x400 - len(chunk)), seq)
    assert flash.read(offset, length) == image
    assert flash.read(offset - 1, 1) == b"\x00"
    after = -(-(offset + length) // SECTOR_SIZE) * SECTOR_SIZE
    assert flash.read(after + SECTOR_SIZE, 16) == b"\x00" * 16


def test_rom_flash_end_run_and_reboot(flash):
    events = []
    loader, wire = make_chip(flash, on_run_firmware=lambda: events.append("run"),
                             on_reboot_to_loader=lambda: events.append("loader"))
    esp = ESP8266ROM(LoaderPort(loader, wire))
    esp.run(reboot=False)
    esp.flash_begin(0, 0)
    esp.flash_finish(reboot=True)
    assert events == ["run", "loader"]


def test_malformed_requests_get_the_rom_error(raw, flash):
    assert raw.command(Op.FLASH_DATA, *data_block(b"\x00" * 16)).data == ROM_INVALID
    raw.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0x1000, 1, 0x400, 0))
    body, chk = data_block(b"\x12" * 0x400)
    assert raw.command(Op.FLASH_DATA, body, chk ^ 1).data == ROM_BAD_CHECKSUM
    assert raw.command(Op.FLASH_DATA, body[:4]).data == ROM_INVALID
    assert raw.command(Op.FLASH_DATA, body[:16] + body[20:], chk).data == ROM_INVALID
    assert raw.command(Op.FLASH_DATA, body, chk).data == ROM_OK
    assert raw.command(Op.FLASH_DATA, body, chk).data == ROM_INVALID  # one block announced
    assert raw.command(Op.FLASH_BEGIN, b"\x00" * 12).data == ROM_INVALID
    assert raw.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0x1000, 1, 0x400, 4 << 20)
                       ).data == ROM_FLASH_WRITE
    assert raw.command(Op.READ_REG, b"\x00" * 8).data == ROM_INVALID
    assert raw.command(Op.SYNC, b"\x07" * 36).data == ROM_INVALID
    assert raw.command(Op.MEM_DATA, *data_block(b"x")).data == ROM_INVALID
    assert flash.read(0, 0x400) == b"\x12" * 0x400


def test_header_errors_and_line_noise(raw):
    raw.send(Op.READ_REG, struct.pack("<I", 0x40001000), length=8)
    assert [(r.op, r.data) for r in raw.responses()] == [(Op.READ_REG, ROM_INVALID)]
    raw.send(Op.READ_REG, struct.pack("<I", 0x40001000), direction=1)
    assert [(r.op, r.data) for r in raw.responses()] == [(Op.READ_REG, ROM_INVALID)]
    raw.send_frame(b"\x00\x08\x24")  # too short to be a request: line noise, no answer
    raw.loader.receive(b"\r\x03garbage\xdb\x99\xc0")
    assert raw.responses() == []
    assert raw.command(Op.READ_REG, struct.pack("<I", 0x40001000)).value == 0xFFF0C101


def test_random_bytes_never_raise_and_the_chip_still_syncs(raw):
    rng = __import__("random").Random(5)
    for _ in range(300):
        raw.loader.receive(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))))
    raw.loader.receive(b"\xc0")
    raw.frames()
    raw.send(Op.SYNC, SYNC_PAYLOAD)
    assert len([r for r in raw.responses() if r.op == Op.SYNC]) >= 8


def test_a_broken_flash_file_still_gets_an_answer(raw, flash):
    raw.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0, 1, 0x400, 0))
    flash.close()
    reply = raw.command(Op.FLASH_DATA, *data_block(b"\x00" * 0x400))
    assert reply.data[0] == 1
