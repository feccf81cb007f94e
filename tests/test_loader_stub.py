"""Behaviour once esptool's flasher stub runs: its status codes, lazy erase, deflate,
MD5, read flow, baud change, erase commands and the ways out of the stub."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

import pytest
from esptool import cmds
from esptool.targets.esp8266 import ESP8266ROM

from tests.loader_port import LoaderPort, RawClient, data_block, make_chip
from nodemcu_hil.sim.flash import SECTOR_SIZE, Flash
from nodemcu_hil.sim.loader_packets import Op

OK = b"\x00\x00"


@pytest.fixture
def flash(tmp_path):
    with Flash(tmp_path / "flash.bin") as f:
        yield f


@pytest.fixture
def events():
    return []


@pytest.fixture
def chip(flash, events):
    return make_chip(flash, on_run_firmware=lambda: events.append("run"),
                     on_reboot_to_loader=lambda: events.append("loader"))


@pytest.fixture
def stub(chip):
    return ESP8266ROM(LoaderPort(*chip)).run_stub()


@pytest.fixture
def raw(chip, stub):
    client = RawClient(*chip)
    client.frames()
    return client


def _status(code: int) -> bytes:
    return struct.pack(">H", code)


def test_stub_sync_value_is_zero_and_esptool_reuses_the_stub(chip, stub):
    again = ESP8266ROM(LoaderPort(*chip))
    again.sync()
    assert again.sync_stub_detected
    assert again.run_stub().IS_STUB
    assert chip[0].stub_running


def test_security_info_is_not_implemented_and_unknown_ops_are_invalid(raw):
    assert raw.command(Op.GET_SECURITY_INFO).data == _status(0xFF00)
    assert raw.command(0x55).data == _status(0xC300)
    assert raw.command(Op.READ_REG, b"\x00" * 3).data == _status(0xC000)


def test_compressed_write_is_verified_by_esptool(stub, flash):
    image = (b"MicroPython" * 40000)[:300_001]
    cmds.write_flash(stub, [(0x9000, image)], compress=True)
    padded = image + b"\xff" * 3
    assert flash.read(0x9000, len(padded)) == padded
    assert stub.flash_md5sum(0x9000, len(image)) == hashlib.md5(image).hexdigest()


def test_uncompressed_write_and_read_back(stub, flash):
    image = os.urandom(70_000)
    cmds.write_flash(stub, [(0x20000, image)], no_compress=True)
    assert stub.read_flash(0x20000, len(image)) == image
    assert stub.read_flash(0x20003, 5) == image[3:8]
    assert stub.read_flash(0, 0) == b""


def test_lazy_erase_touches_exactly_the_sectors_written(raw, flash):
    flash.program(0, b"\x00" * (4 * SECTOR_SIZE))
    raw.command(Op.FLASH_BEGIN, struct.pack("<IIIII", 100, 1, 0x4000, 0x1010, 0))
    block = b"\xa5" * 100 + b"\xff" * (0x4000 - 100)
    assert raw.command(Op.FLASH_DATA, *data_block(block)).data == OK
    assert flash.read(0x1010, 100) == b"\xa5" * 100
    assert flash.read(0x1000, 0x10) == b"\xff" * 0x10
    assert flash.read(0x1074, SECTOR_SIZE - 0x74) == b"\xff" * (SECTOR_SIZE - 0x74)
    assert flash.read(0xFFF, 1) == b"\x00" and flash.read(0x2000, 1) == b"\x00"
    assert raw.command(Op.FLASH_END, struct.pack("<I", 1)).data == OK


def test_an_abandoned_write_erased_only_what_it_reached(raw, flash):
    flash.program(0x10000, b"\x00" * (3 * SECTOR_SIZE))
    raw.command(Op.FLASH_BEGIN, struct.pack("<IIIII", 3 * SECTOR_SIZE, 1, 0x4000, 0x10000, 0))
    assert raw.command(Op.FLASH_DATA, *data_block(b"\x11" * SECTOR_SIZE)).data == OK
    raw.command(Op.FLASH_BEGIN, struct.pack("<IIIII", 0, 0, 0x4000, 0, 0))
    assert flash.read(0x10000, SECTOR_SIZE) == b"\x11" * SECTOR_SIZE
    assert flash.read(0x11000, 2 * SECTOR_SIZE) == b"\x00" * (2 * SECTOR_SIZE)


def test_deflate_stream_split_anywhere(raw, flash):
    content = bytes(range(256)) * 64
    packed = zlib.compress(content, 9)
    raw.command(Op.FLASH_DEFL_BEGIN, struct.pack("<IIIII", len(content), 3, 0x4000, 0x3000, 0))
    for seq, piece in enumerate([packed[:7], packed[7:300], packed[300:]]):
        assert raw.command(Op.FLASH_DEFL_DATA, *data_block(piece, seq)).data == OK
    assert raw.command(Op.FLASH_DEFL_END, struct.pack("<I", 1)).data == OK
    assert flash.read(0x3000, len(content)) == content


def test_stub_error_codes(raw, flash):
    begin = struct.pack("<IIIII", 0x100, 1, 0x4000, 0, 0)
    assert raw.command(Op.FLASH_DEFL_DATA, *data_block(b"x")).data == _status(0xC600)
    raw.command(Op.FLASH_DEFL_BEGIN, begin)
    body, chk = data_block(b"not zlib at all")
    assert raw.command(Op.FLASH_DEFL_DATA, body, chk ^ 0x10).data == _status(0xC100)
    assert raw.command(Op.FLASH_DEFL_DATA, body, chk).data == _status(0xC700)
    raw.command(Op.FLASH_DEFL_BEGIN, begin)
    too_big = zlib.compress(b"\x00" * 0x101)
    assert raw.command(Op.FLASH_DEFL_DATA, *data_block(too_big)).data == _status(0xC900)
    raw.command(Op.FLASH_BEGIN, begin)
    assert raw.command(Op.FLASH_END, struct.pack("<I", 1)).data == _status(0xC000)
    assert raw.command(Op.FLASH_DATA, *data_block(b"\xff" * 0x100)).data == OK
    assert raw.command(Op.FLASH_DATA, *data_block(b"\xff")).data == _status(0xC900)
    assert raw.command(Op.FLASH_DATA, b"\x00" * 8).data == _status(0xC800)
    assert raw.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0x100, 1, 0x8000, 0)
                       ).data == _status(0xC200)
    assert raw.command(Op.FLASH_BEGIN, struct.pack("<IIII", 0x2000, 1, 0x4000, (4 << 20) - 0x1000)
                       ).data == _status(0xC400)
    assert raw.command(Op.ERASE_REGION, struct.pack("<II", 0x800, 0x1000)).data == _status(0xC000)
    assert raw.command(Op.ERASE_REGION, struct.pack("<II", 4 << 20, 0x1000)).data == _status(0xC400)
    assert raw.command(Op.SPI_FLASH_MD5, struct.pack("<IIII", 0, (4 << 20) + 1, 0, 0)
                       ).data == _status(0xC400)
    assert raw.command(Op.READ_FLASH, struct.pack("<IIII", 0, 16, 0x2000, 64)
                       ).data == _status(0xC000)
    assert flash.read(0, 0x100) == b"\xff" * 0x100


def _read_flash(raw, offset, length):
    """READ_FLASH's own reply, and whatever data frames followed it."""
    raw.send(Op.READ_FLASH, struct.pack("<IIII", offset, length, 0x1000, 64))
    reply, *data = raw.frames()
    assert reply[:2] == bytes([1, Op.READ_FLASH]) and reply[-2:] == OK
    return data


def test_read_flash_sends_one_frame_per_ack_then_the_digest(raw, flash):
    flash.program(0, os.urandom(3 * SECTOR_SIZE))
    got = _read_flash(raw, 0, 0x2800)
    assert [len(f) for f in got] == [0x1000]
    raw.send_frame(struct.pack("<I", 0x1000))
    got += raw.frames()
    raw.send_frame(struct.pack("<I", 0x2000))
    got += raw.frames()
    assert [len(f) for f in got] == [0x1000, 0x1000, 0x800]
    assert b"".join(got) == flash.read(0, 0x2800)
    raw.send_frame(struct.pack("<I", 0x2000))  # a late ack: the digest waits for the last
    assert raw.frames() == []
    raw.send_frame(struct.pack("<I", 0x2800))
    assert raw.frames() == [hashlib.md5(flash.read(0, 0x2800)).digest()]


def test_read_flash_stops_early_on_a_stray_frame(raw, flash):
    (first,) = _read_flash(raw, 0, 0x3000)
    raw.send_frame(b"not an ack")
    assert raw.frames() == [hashlib.md5(first).digest()]
    assert raw.command(Op.READ_REG, struct.pack("<I", 0x40001000)).value == 0xFFF0C101


def test_change_baud_replies_at_the_old_rate_then_switches(chip, stub):
    loader, wire = chip
    before = len(wire.pieces)
    stub.change_baud(460800)
    assert loader.uart.baud == 460800
    assert [baud for _, baud in wire.pieces[before:]] == [115200]
    assert stub.read_reg(0x40001000) == 0xFFF0C101
    assert wire.pieces[-1][1] == 460800


def test_erase_flash_and_region(stub, flash):
    flash.program(0, b"\x00" * 0x10000)
    cmds.erase_region(stub, 0x4000, 0x2000)
    assert flash.read(0x3FFF, 1) == b"\x00" and flash.read(0x6000, 1) == b"\x00"
    assert flash.read(0x4000, 0x2000) == b"\xff" * 0x2000
    cmds.erase_flash(stub)
    assert flash.read(0, 0x10000) == b"\xff" * 0x10000


def test_spi_params_and_attach_are_accepted(raw, chip):
    assert raw.command(Op.SPI_SET_PARAMS, struct.pack("<6I", 0, 4 << 20, 0x10000, 0x1000,
                                                          0x100, 0xFFFF)).data == OK
    assert chip[0].stub.flash_params[1] == 4 << 20
    assert raw.command(Op.SPI_ATTACH, b"\x00" * 4).data == OK
    assert raw.command(Op.SPI_ATTACH, b"\x00" * 5).data == _status(0xC000)


def test_after_no_reset_returns_to_the_rom(chip, stub, events):
    cmds.reset_chip(stub, "no-reset")
    assert events == ["loader"] and not chip[0].stub_running
    esp = ESP8266ROM(LoaderPort(*chip))
    esp.sync()
    assert not esp.sync_stub_detected


def test_soft_reset_runs_the_firmware_without_a_reply(chip, stub, events):
    raw = RawClient(*chip)
    raw.frames()
    raw.send(Op.RUN_USER_CODE)
    assert raw.frames() == []
    assert events == ["run"] and not chip[0].stub_running


def test_write_end_keeps_the_stub_for_the_md5(stub, chip, events):
    cmds.write_flash(stub, [(0, b"\x01" * 100)], compress=True)
    assert chip[0].stub_running and events == []


def test_chip_reset_forgets_the_stub(chip, stub):
    chip[0].uart.baud = 921600
    chip[0].reset()
    assert not chip[0].stub_running and chip[0].uart.baud == 115200


def test_a_read_that_fails_midway_ends_the_stream_and_the_stub_carries_on(raw, flash):
    raw.send(Op.READ_FLASH, struct.pack("<IIII", 0, 0x3000, 0x1000, 64))
    assert len(raw.frames()) == 2
    os.truncate(flash.path, 0x1800)  # someone else broke the flash file under us
    raw.send_frame(struct.pack("<I", 0x1000))
    assert raw.frames() == []
    assert raw.command(Op.READ_REG, struct.pack("<I", 0x40001000)).value == 0xFFF0C101
