"""Image validation refuses everything that would leave a board unbootable."""

from __future__ import annotations

import struct

import pytest

from nodemcu_hil.errors import ImageRejected
from nodemcu_hil.images import validate_image
from nodemcu_hil.sim.mpimage import make_image

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


# --- the whole image is checked, not whichever strings survive (issue 11, defects 2 and 9) -------

SIM_CUTS = (4, 12, 100, 1024, 0x8000, 0x8FFE, 0x9000, 0x9001, -17, -1)  # header ... MD5 trailer
PUBLISHED_CUTS = (35_500, 100_000, 500_000, 593_909, -1)  # the user's range; before/after the version


def cut(tmp_path, data: bytes, at: int):
    path = tmp_path / f"cut-{at}.bin"
    path.write_bytes(data[:at])
    return path


@pytest.mark.parametrize("at", SIM_CUTS)
def test_sim_image_cut_anywhere_is_truncated(tmp_path, image, at):
    with pytest.raises(ImageRejected, match="truncated.*the board was not touched.*download it again"):
        validate_image(cut(tmp_path, image.read_bytes(), at), FOUR_MB, board="nodemcu-a")


def test_cut_inside_a_ram_segment_names_the_segment(tmp_path, image):
    with pytest.raises(ImageRejected, match=r"truncated: segment 0 \(64 bytes for 0x40100000\) needs 80 bytes, "
                                            r"the file has 40"):
        validate_image(cut(tmp_path, image.read_bytes(), 40), FOUR_MB)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from campaigns.images import published_image

    path, why = published_image(tmp_path_factory.mktemp("published"))
    if path is None:
        pytest.skip(why)
    return path.read_bytes()


@pytest.mark.parametrize("at", PUBLISHED_CUTS)
def test_published_image_cut_anywhere_is_truncated(tmp_path, published, at):
    with pytest.raises(ImageRejected, match="truncated"):
        validate_image(cut(tmp_path, published, at), FOUR_MB)


def v1_image(segments: list[tuple[int, bytes]]) -> bytes:
    """A plain V1 image (RAM-loaded part only), the way esptool's elf2image writes one."""
    out = bytearray(struct.pack("<BBBBI", 0xE9, len(segments), 0, 0, 0x40100004))
    checksum = 0xEF
    for address, data in segments:
        out += struct.pack("<II", address, len(data)) + data
        for byte in data:
            checksum ^= byte
    out += b"\x00" * (15 - len(out) % 16)
    return bytes(out + bytes([checksum]))


RAM_PART = v1_image([(0x40100000, bytes(range(64))), (0x3FFE8000, b"data" * 4)])


def test_non_micropython_image_with_its_irom0_on_a_sector_is_accepted(tmp_path):
    combined = RAM_PART + b"\xff" * (0x10000 - len(RAM_PART)) + b"irom0 code" * 100
    path = tmp_path / "nodemcu-combined.bin"
    path.write_bytes(combined)
    assert validate_image(path, FOUR_MB).micropython_version is None


@pytest.mark.parametrize("tail, message", [
    (b"", "only the RAM-loaded part"),
    (b"\xff" * 0x20000, "only the RAM-loaded part"),
    (b"\xff" * 100 + b"code", "not on a 4 KiB sector"),
])
def test_non_micropython_image_without_an_irom0_part_is_rejected(tmp_path, tail, message):
    path = tmp_path / "0x00000.bin"
    path.write_bytes(RAM_PART + tail)
    with pytest.raises(ImageRejected, match=message):
        validate_image(path, FOUR_MB)


def test_implausible_micropython_length_field(tmp_path, image):
    path = variant(tmp_path, image, lambda data: struct.pack_into("<I", data, 0x8FFC, 0x200000))
    with pytest.raises(ImageRejected, match="length field at 0x8ffc says 0x200000"):
        validate_image(path, FOUR_MB)


@pytest.mark.parametrize("first", [b"", b"\xe9"])
def test_random_bytes_are_rejected(tmp_path, first):
    import random

    path = tmp_path / "random.bin"
    path.write_bytes(first + random.Random(len(first)).randbytes(65536))
    with pytest.raises(ImageRejected, match="the board was not touched"):
        validate_image(path, FOUR_MB)


def test_elf_is_named_as_such(tmp_path):
    path = tmp_path / "firmware.elf"
    path.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(200))
    with pytest.raises(ImageRejected, match=r"not an ESP8266 application image: an ELF file.*not an \.elf"):
        validate_image(path, FOUR_MB)


@pytest.mark.parametrize("chip_id, chip", [(0, "ESP32"), (5, "ESP32-C3"), (9, "ESP32-S3")])
def test_esp32_family_image_is_named(tmp_path, chip_id, chip):
    from campaigns.images import esp32_app_image

    path = tmp_path / "esp32.bin"
    path.write_bytes(esp32_app_image(chip_id))
    with pytest.raises(ImageRejected, match=rf"this is an {chip} image \(chip id {chip_id} .*use an ESP8266 build"):
        validate_image(path, FOUR_MB)


def test_merged_esp32_binary_is_named(tmp_path):
    from campaigns.images import esp32_app_image

    path = tmp_path / "merged.bin"
    path.write_bytes(b"\xff" * 0x1000 + esp32_app_image(5))
    with pytest.raises(ImageRejected, match="this is an ESP32-C3 image"):
        validate_image(path, FOUR_MB)


def test_v2_image_cannot_boot_from_offset_0(tmp_path):
    path = tmp_path / "user1.bin"
    path.write_bytes(b"\xea\x04\x00\x00" + bytes(200))
    with pytest.raises(ImageRejected, match="V2 application image"):
        validate_image(path, FOUR_MB)
