"""MicroPython image recognition: makeimg.py layout, tag and date, check_fw MD5
(protocol doc B §3), and the image `hil sim --make-image` writes."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys

import pytest

from nodemcu_hil.sim.mpimage import (
    LENGTH_FIELD,
    SEGS_MAX_SIZE,
    NotMicroPython,
    build_image,
    firmware_md5,
    make_image,
    recognise,
    recognise_file,
)


def _reader(data: bytes):
    def read(offset: int, length: int) -> bytes:
        chunk = data[offset:offset + length]
        return chunk + b"\xff" * (length - len(chunk))
    return read


def _in_flash(image: bytes, size: int = 4 * 1024 * 1024) -> bytes:
    return image + b"\xff" * (size - len(image))


def test_made_image_is_recognised_with_its_version(tmp_path):
    path = make_image(tmp_path / "firmware.bin", "v1.28.0")
    found = recognise_file(path)
    assert (found.version, found.build_date) == ("v1.28.0", "2026-04-06")
    assert found.machine == "ESP module with ESP8266"
    assert found.md5_ok
    assert path.stat().st_size < 64 * 1024  # small: flashing it takes a moment


def test_made_image_follows_the_makeimg_layout():
    image = build_image("v1.29.0-preview.731.g1c3c201149", "2026-07-05")
    total = struct.unpack_from("<I", image, LENGTH_FIELD)[0]
    assert image[0] == 0xE9
    assert total == len(image) - 16 and total > SEGS_MAX_SIZE
    assert image[total:] == hashlib.md5(image[4:total]).digest()
    found = recognise(_reader(_in_flash(image)), 4 * 1024 * 1024)
    assert found.version == "v1.29.0-preview.731.g1c3c201149"


def test_esptool_accepts_the_made_image(tmp_path):
    path = make_image(tmp_path / "firmware.bin")
    result = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp8266", "image-info",
                             str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(valid)" in result.stdout


def test_esptool_header_patch_keeps_the_image_recognised_and_md5_valid():
    image = bytearray(build_image())
    image[2:4] = b"\x02\x40"  # what write-flash --flash-size detect -fm dio writes
    found = recognise(_reader(_in_flash(bytes(image))), 4 * 1024 * 1024)
    assert found.md5_ok


def test_corrupt_irom0_is_still_micropython_but_check_fw_fails():
    image = bytearray(build_image())
    image[len(image) - 17] ^= 0xFF  # last irom0 byte, just before the MD5
    total, computed, stored = firmware_md5(_reader(bytes(image)))
    assert computed != stored
    assert not recognise(_reader(_in_flash(bytes(image))), 4 * 1024 * 1024).md5_ok


@pytest.mark.parametrize("damage, reason", [
    (lambda img: b"\xff" * len(img), "no bootable image"),
    (lambda img: img[:LENGTH_FIELD] + b"\xff\xff\xff\xff" + img[LENGTH_FIELD + 4:], "length"),
    (lambda img: img.replace(b"MicroPython v", b"MacroPython v"), "no 'MicroPython"),
])
def test_not_micropython(damage, reason):
    image = damage(build_image())
    with pytest.raises(NotMicroPython, match=reason):
        recognise(_reader(_in_flash(image)), 4 * 1024 * 1024)


def test_1m_build_machine_name_is_read_from_the_image():
    image = build_image(machine="ESP module (1M)")
    assert recognise(_reader(_in_flash(image)), 4 * 1024 * 1024).machine == "ESP module (1M)"
