"""Image validation refuses everything that would leave a board unbootable."""

from __future__ import annotations

import struct

import pytest

from fixtures.errors import ImageRejected
from fixtures.images import validate_image
from virtual_board.mpimage import make_image

FOUR_MB = 4 << 20
FIRST_SEGMENT_ADDR = 8  # after the 8-byte V1 header
FIRST_SEGMENT_DATA = 16


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "ESP8266_GENERIC-v1.28.0.bin"
    make_image(path, version="v1.28.0")
    return path


def variant(tmp_path, image, change) -> str:
    data = bytearray(image.read_bytes())
    change(data)
    path = tmp_path / "variant.bin"
    path.write_bytes(bytes(data))
    return path


def test_valid_micropython_image(image):
    validated = validate_image(image, FOUR_MB)
    assert validated.micropython_version == "v1.28.0"
    assert len(validated.padded) % 4 == 0 and validated.md5 == validated.md5.lower()


def test_truncated_image_is_rejected(tmp_path, image):
    path = variant(tmp_path, image, lambda data: data.__delitem__(slice(len(data) - 100, None)))
    with pytest.raises(ImageRejected, match="truncated.*the board was not touched"):
        validate_image(path, FOUR_MB, board="nodemcu-a")


def test_not_an_image(tmp_path):
    path = tmp_path / "firmware.elf"
    path.write_bytes(b"\x7fELF" + bytes(100))
    with pytest.raises(ImageRejected, match=r"starts with 0x7f, expected 0xe9"):
        validate_image(path, FOUR_MB)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ImageRejected, match="empty file"):
        validate_image(empty, FOUR_MB)


def test_missing_file(tmp_path):
    with pytest.raises(ImageRejected, match="cannot read the image"):
        validate_image(tmp_path / "nope.bin", FOUR_MB)


def test_image_for_another_chip(tmp_path, image):
    path = variant(tmp_path, image,
                   lambda data: struct.pack_into("<I", data, FIRST_SEGMENT_ADDR, 0x3F400020))
    with pytest.raises(ImageRejected, match="outside the ESP8266's memory.*ESP32"):
        validate_image(path, FOUR_MB)


def test_corrupted_segment_fails_the_checksum(tmp_path, image):
    path = variant(tmp_path, image, lambda data: data.__setitem__(FIRST_SEGMENT_DATA, data[FIRST_SEGMENT_DATA] ^ 0x55))
    with pytest.raises(ImageRejected, match="header checksum"):
        validate_image(path, FOUR_MB)


def test_corrupted_irom_fails_micropythons_md5(tmp_path, image):
    path = variant(tmp_path, image, lambda data: data.__setitem__(0x9010, data[0x9010] ^ 0x01))
    with pytest.raises(ImageRejected, match="MicroPython's own MD5"):
        validate_image(path, FOUR_MB)


def test_image_larger_than_the_flash(image):
    with pytest.raises(ImageRejected, match="do not fit in 4 KiB of flash"):
        validate_image(image, 0x1000)
