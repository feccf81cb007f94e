"""The probe backend reads and drives pins through a second board's raw REPL."""

from __future__ import annotations

import pytest

from nodemcu_hil.errors import WaitTimeout
from nodemcu_hil.gpio import probe_pins
from nodemcu_hil.inventory import BoardRecord, GpioProbe
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import make_image

DUT_PIN, PROBE_PIN = 4, 12


@pytest.fixture
def probe_board(tmp_path):
    """A virtual board flashed with MicroPython, standing in for the rig's probe."""
    from nodemcu_hil.flashing import flash_image
    from nodemcu_hil.images import validate_image
    from nodemcu_hil.ports import open_port

    make_image(tmp_path / "fw.bin", version="v1.28.0")
    with start_board(name="probe", flash=tmp_path / "flash.bin", state_dir=tmp_path) as process:
        with open_port(process.url) as port:
            flash_image(port, validate_image(tmp_path / "fw.bin", 4 << 20), baud=460800)
        yield process


def test_probe_reads_and_drives_its_wired_pin(tmp_path, probe_board):
    dut = BoardRecord(name="dut", port="/dev/ttyUSB9", gpio_probe=GpioProbe(probe_board.url, {DUT_PIN: PROBE_PIN}))
    with probe_pins(dut, lease_dir=tmp_path / "leases", lease_timeout=5) as pins:
        probe_board.control.call("gpio.drive", pin=PROBE_PIN, value=1)
        assert pins.level(DUT_PIN) == 1
        probe_board.control.call("gpio.drive", pin=PROBE_PIN, value=0)
        pins.wait_for_level(DUT_PIN, 0, timeout=5)
        probe_board.control.call("gpio.drive", pin=PROBE_PIN, value=1)
        with pytest.raises(WaitTimeout, match="GPIO4 stayed at 1, expected 0 .*probe"):
            pins.wait_for_level(DUT_PIN, 0, timeout=0.3)
        probe_board.control.call("gpio.drive", pin=PROBE_PIN, value=None)
        pins.drive(DUT_PIN, 1)
        assert probe_board.control.call("gpio.read", pin=PROBE_PIN)["level"] == 1
        with pytest.raises(pytest.skip.Exception, match="GPIO5 of dut is not wired"):
            pins.level(5)
