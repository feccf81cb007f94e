"""The seam: start_application() on a chip booting from flash (BootContext), with the
real Flash and Uart objects the board uses."""

from __future__ import annotations

import threading

import pytest

from nodemcu_hil.sim.application import MicroPythonApplication, SilentApplication, start_application
from nodemcu_hil.sim.boot import BootContext
from nodemcu_hil.sim.flash import Flash
from nodemcu_hil.sim.image import parse_image
from nodemcu_hil.sim.mpimage import build_image
from nodemcu_hil.sim.runtime.console import ByteConsole
from nodemcu_hil.sim.uart import BOOT_MESSAGE_BAUD, FIRMWARE_BAUD, Uart

pytest.importorskip("micropython_run")

SIZE = 4 * 1024 * 1024
PROMPT = b'Type "help()" for more information.\r\n>>> '
ROM_CAUSE_RST_PIN = 2


class Chip:
    """Flash + UART + reboot callback, as board.py wires them."""

    def __init__(self, tmp_path, image: bytes):
        self.flash = Flash(tmp_path / "flash.bin", SIZE)
        self.flash.program(0, image)
        self.tmp = tmp_path
        self.console = ByteConsole()
        self.bauds: list[tuple[bytes, int]] = []
        self.reboots: list[int] = []
        self.rebooted = threading.Event()
        self.app = None

    def _sink(self, data: bytes, baud: int) -> None:
        self.bauds.append((data, baud))
        self.console.feed(data)

    def boot(self, cause: int):
        context = BootContext(
            flash=self.flash, flash_path=self.flash.path, flash_size=SIZE,
            mac=bytes.fromhex("5ccf7f123456"), uart=Uart(self._sink), reset_cause=cause,
            state_dir=self.tmp / "state", image=parse_image(self.flash.read, SIZE),
            reboot=self._reboot)
        self.app = start_application(context)
        return self.app

    def _reboot(self, cause: int) -> None:
        self.reboots.append(cause)
        self.rebooted.set()

    def close(self):
        if self.app:
            self.app.stop()
        self.flash.close()


@pytest.fixture
def chip(tmp_path):
    made = []

    def make(image: bytes) -> Chip:
        made.append(Chip(tmp_path, image))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_micropython_image_boots_with_init_data_once(chip):
    c = chip(build_image("v1.27.0", "2025-12-09"))
    assert isinstance(c.boot(ROM_CAUSE_RST_PIN), MicroPythonApplication)
    out = c.console.expect(PROMPT)
    assert b"MicroPython v1.27.0 on 2025-12-09; ESP module with ESP8266\r\n" in out
    assert c.bauds[0] == (b"Writing init data\n", BOOT_MESSAGE_BAUD)
    assert all(baud == FIRMWARE_BAUD for _, baud in c.bauds[1:])
    c.app.stop()
    c.bauds.clear()
    c.boot(ROM_CAUSE_RST_PIN)
    c.console.expect(PROMPT)
    assert all(b"init data" not in data for data, _ in c.bauds)


def test_a_valid_image_that_is_not_micropython_stays_silent(chip):
    image = bytearray(build_image())
    image = bytes(image).replace(b"MicroPython v", b"MacroPython v")
    c = chip(image)
    app = c.boot(ROM_CAUSE_RST_PIN)
    assert isinstance(app, SilentApplication)
    app.receive(b"\r\x03\x02")
    assert c.console.quiet_for(0.3) == b""


def test_machine_reset_reboots_the_chip_and_reports_soft_reset(chip):
    c = chip(build_image())
    c.boot(ROM_CAUSE_RST_PIN)
    c.console.expect(PROMPT)
    c.app.receive(b"import _vboard; _vboard.request_reset('hard')\r")
    assert c.rebooted.wait(10)
    assert c.reboots == [ROM_CAUSE_RST_PIN]  # a software reset keeps the ROM's cause
    c.app.stop()
    c.boot(ROM_CAUSE_RST_PIN)
    c.console.expect(PROMPT)
    c.app.receive(b"import _vboard; _vboard.RESET_CAUSE\r")
    assert c.console.expect(b">>> ").endswith(b"\r\n4\r\n>>> ")  # machine.SOFT_RESET


def test_heap_size_from_the_environment(chip, monkeypatch):
    monkeypatch.setenv("HIL_SIM_HEAP_FREE", "12000")
    c = chip(build_image())
    c.boot(ROM_CAUSE_RST_PIN)
    c.console.expect(PROMPT)
    c.app.receive(b"import gc; gc.mem_free() <= 12000, gc.mem_free() > 9000\r")
    assert c.console.expect(b">>> ").endswith(b"(True, True)\r\n>>> ")
