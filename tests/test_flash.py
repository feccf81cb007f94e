"""The NOR flash file: blank creation, persistence, AND-programming, erase, no caching."""

from __future__ import annotations

import hashlib
import os

import pytest

from nodemcu_hil.sim.flash import SECTOR_SIZE, Flash, FlashFileError, FlashRangeError

SMALL = 64 * 1024


@pytest.fixture
def flash(tmp_path):
    with Flash(tmp_path / "flash.bin", size=SMALL) as f:
        yield f


def test_new_file_is_blank_and_default_is_4mb(tmp_path):
    path = tmp_path / "new.bin"
    with Flash(path) as f:
        assert f.size == 4 * 1024 * 1024
        assert f.read(0, 16) == b"\xff" * 16
    assert path.read_bytes() == b"\xff" * (4 * 1024 * 1024)


def test_contents_survive_a_restart(tmp_path):
    path = tmp_path / "keep.bin"
    with Flash(path, size=SMALL) as f:
        f.program(0x1234, b"persisted")
    with Flash(path, size=SMALL) as f:
        assert f.read(0x1234, 9) == b"persisted"


def test_wrong_sized_file_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "odd.bin"
    path.write_bytes(b"\xff" * 1000)
    with pytest.raises(FlashFileError, match="1000 bytes, expected 65536"):
        Flash(path, size=SMALL)
    assert path.read_bytes() == b"\xff" * 1000


def test_unwritable_location_is_a_flash_file_error(tmp_path):
    with pytest.raises(FlashFileError, match="cannot open flash image"):
        Flash(tmp_path / "missing-dir" / "flash.bin", size=SMALL)
    with pytest.raises(FlashFileError, match="choose a writable"):
        Flash(tmp_path, size=SMALL)


def test_programming_only_clears_bits(flash):
    flash.program(0, b"\xf0\x0f\xff")
    flash.program(0, b"\x3c\xff\x00")
    assert flash.read(0, 3) == bytes([0xF0 & 0x3C, 0x0F, 0x00])


def test_erase_sector_restores_ones_and_nothing_else(flash):
    flash.program(0, b"\x00" * (3 * SECTOR_SIZE))
    flash.erase_sector(1)
    assert flash.read(SECTOR_SIZE, SECTOR_SIZE) == b"\xff" * SECTOR_SIZE
    assert flash.read(SECTOR_SIZE - 1, 1) == b"\x00"
    assert flash.read(2 * SECTOR_SIZE, 1) == b"\x00"
    flash.program(SECTOR_SIZE, b"\x5a")
    assert flash.read(SECTOR_SIZE, 1) == b"\x5a"


def test_erase_region_must_be_sector_aligned(flash):
    flash.program(0, b"\x00" * SMALL)
    with pytest.raises(ValueError, match="not aligned"):
        flash.erase_region(0x800, SECTOR_SIZE)
    with pytest.raises(ValueError, match="not aligned"):
        flash.erase_region(0, 0x800)
    flash.erase_region(2 * SECTOR_SIZE, 2 * SECTOR_SIZE)
    assert flash.read(2 * SECTOR_SIZE, 2 * SECTOR_SIZE) == b"\xff" * 2 * SECTOR_SIZE
    assert flash.read(4 * SECTOR_SIZE, 1) == b"\x00"


def test_erase_chip(flash):
    flash.program(100, b"\x00" * 5000)
    flash.erase_chip()
    assert flash.read(0, SMALL) == b"\xff" * SMALL


def test_accesses_beyond_the_chip_are_refused(flash):
    with pytest.raises(FlashRangeError):
        flash.read(SMALL - 2, 4)
    with pytest.raises(FlashRangeError):
        flash.program(SMALL, b"\x00")
    with pytest.raises(FlashRangeError):
        flash.erase_sector(SMALL // SECTOR_SIZE)
    with pytest.raises(FlashRangeError):
        flash.md5(0, SMALL + 1)


def test_md5_matches_the_bytes(flash):
    flash.program(10, os.urandom(3000))
    assert flash.md5(7, 4000) == hashlib.md5(flash.read(7, 4000)).digest()


def test_no_caching_another_process_view_is_always_current(flash):
    with open(flash.path, "r+b", buffering=0) as other:
        flash.program(0x2000, b"from-loader")
        other.seek(0x2000)
        assert other.read(11) == b"from-loader"
        other.seek(0x3000)
        other.write(b"\x00runtime")
    assert flash.read(0x3000, 8) == b"\x00runtime"
    flash.program(0x3000, b"\xffR")
    assert flash.read(0x3000, 2) == b"\x00R"


def test_closed_flash_says_so(tmp_path):
    f = Flash(tmp_path / "c.bin", size=SMALL)
    f.close()
    with pytest.raises(FlashFileError, match="closed"):
        f.read(0, 1)
