"""The console owns the port: ROM message at 74880 then firmware at 115200, expect, borrow."""

from __future__ import annotations

import pytest

from nodemcu_hil.console import Console
from nodemcu_hil.errors import WaitTimeout
from nodemcu_hil.flashing import flash_image
from nodemcu_hil.images import validate_image
from nodemcu_hil.ports import open_port
from nodemcu_hil.timeline import Timeline
from nodemcu_hil.sim import start_board
from nodemcu_hil.sim.mpimage import make_image

BOOT_TIMEOUT = 20


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    make_image(root / "fw.bin", version="v1.28.0")
    image = validate_image(root / "fw.bin", 4 << 20)
    with start_board(name="console-test", flash=root / "flash.bin", state_dir=root) as board:
        port = open_port(board.url)
        owner = Console(port, board="console-test", timeline=Timeline(), log_path=root / "serial.log")
        with owner.borrow() as lent:
            flash_image(lent, image, baud=460800)
        yield owner
        owner.close()
        port.close()


def test_hard_reset_shows_rom_message_then_banner(console):
    mark = console.hard_reset()
    console.expect(r"rst cause:2, boot mode:\(3,\d\)", timeout=BOOT_TIMEOUT, since=mark)
    console.expect(r"MicroPython v1\.28\.0 on 2026-04-06; ESP module with ESP8266", timeout=BOOT_TIMEOUT, since=mark)
    console.expect(r">>> ", timeout=BOOT_TIMEOUT, since=mark)
    lines = [event.text for event in console.timeline.events()]
    assert any("csum 0x" in line for line in lines)
    assert "rst cause:2" in console.log_path.read_text()


def test_typed_input_reaches_the_repl(console):
    mark = console.mark()
    console.write(b"print(6 * 7)\r")
    console.expect(r"\r\n42\r\n>>> ", timeout=BOOT_TIMEOUT, since=mark)


def test_expect_timeout_names_what_and_shows_the_tail(console):
    with pytest.raises(WaitTimeout, match=r"console: 'never printed' not seen within 0.2 s.*last output"):
        console.expect("never printed", timeout=0.2)


def test_borrowed_port_output_is_not_captured_twice(console):
    prompt = console.mark()
    console.write(b"\r")
    console.expect(r">>> ", timeout=BOOT_TIMEOUT, since=prompt)
    mark = console.mark()
    with console.borrow() as port:
        port.write(b"print('lent')\r")
        port.timeout = 5
        assert port.read_until(b"lent\r\n>>> ").endswith(b"lent\r\n>>> ")
    assert "lent" not in console.text(mark)
