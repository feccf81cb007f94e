"""The NodeMCU reset circuit replayed on exact timelines, the wire model and the ROM text."""

from __future__ import annotations

import time

import pytest

from nodemcu_hil.sim import boot
from nodemcu_hil.sim.image import Esp8266Image, Segment
from nodemcu_hil.sim.reset import (BUTTON_FLASH, BUTTON_RST, LATCH_WINDOW, RST_CAUSE_EXTERNAL,
                                 RST_CAUSE_POWER_ON, BootMode, ResetCircuit)
from nodemcu_hil.sim.wire import Pacer, rates_match, resample

RFC2217_ACK = 0.05  # pyserial's client waits at least one 50 ms poll for each line change


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def rig():
    clock = Clock()
    events: list = []
    circuit = ResetCircuit(lambda: events.append("reset"),
                           lambda mode, cause: events.append((mode, cause)), clock)
    circuit.set_lines(True, True)  # port open asserts both: no reset
    events.clear()
    return circuit, clock, events


def classic_reset(circuit, clock, ack=0.0, reset_delay=0.05):
    """esptool's ClassicReset; set_rts re-writes DTR; each change may wait for an ack."""
    def step(line, value):
        (circuit.set_dtr if line == "dtr" else circuit.set_rts)(value)
        clock.advance(ack)
        circuit.poll()
    step("dtr", False)
    step("rts", True)
    step("dtr", False)
    clock.advance(0.1)
    step("dtr", True)
    step("rts", False)
    step("dtr", True)
    clock.advance(reset_delay)
    step("dtr", False)


def hard_reset(circuit, clock):
    circuit.set_rts(True)
    circuit.set_dtr(circuit.dtr)
    clock.advance(0.1)
    circuit.set_rts(False)
    circuit.set_dtr(circuit.dtr)


def test_port_open_does_not_reset():
    events = []
    circuit = ResetCircuit(lambda: events.append("reset"), lambda *a: events.append(a), Clock())
    circuit.set_dtr(True)
    circuit.set_rts(True)
    assert events == []


@pytest.mark.parametrize("ack", [0.0, RFC2217_ACK], ids=["local", "rfc2217"])
@pytest.mark.parametrize("reset_delay", [0.05, 0.55])
def test_classic_reset_enters_download_mode(rig, ack, reset_delay):
    circuit, clock, events = rig
    classic_reset(circuit, clock, ack, reset_delay)
    assert events == ["reset", (BootMode.DOWNLOAD, RST_CAUSE_EXTERNAL)]


def test_rfc2217_reset_releases_en_before_gpio0_goes_low(rig):
    """Over RFC2217 the chip is out of reset with GPIO0 high for a whole ack."""
    circuit, clock, events = rig
    circuit.set_dtr(False)
    circuit.set_rts(True)
    clock.advance(0.1)
    circuit.set_dtr(True)
    assert circuit.enabled and not circuit.gpio0_low and circuit.boot_pending
    clock.advance(RFC2217_ACK)
    circuit.set_rts(False)
    assert events[-1] == (BootMode.DOWNLOAD, RST_CAUSE_EXTERNAL)


def test_hard_reset_after_classic_reset_boots_flash(rig):
    circuit, clock, events = rig
    classic_reset(circuit, clock)
    events.clear()
    hard_reset(circuit, clock)
    assert events == ["reset"]
    assert circuit.deadline() == pytest.approx(clock.now + LATCH_WINDOW)
    clock.advance(LATCH_WINDOW)
    circuit.poll()
    assert events == ["reset", (BootMode.FLASH, RST_CAUSE_EXTERNAL)]


def test_hard_reset_with_dtr_still_asserted_does_nothing(rig):
    """After --before no-reset DTR stays asserted, so esptool's RTS pulse cannot reset."""
    circuit, clock, events = rig
    hard_reset(circuit, clock)
    clock.advance(1)
    circuit.poll()
    assert events == []


def test_gpio0_low_after_the_window_is_too_late(rig):
    circuit, clock, events = rig
    circuit.set_lines(False, True)
    circuit.set_lines(False, False)
    clock.advance(LATCH_WINDOW + 0.01)
    circuit.set_lines(True, False)
    assert events == ["reset", (BootMode.FLASH, RST_CAUSE_EXTERNAL)]


def test_host_talking_settles_a_pending_flash_boot(rig):
    circuit, clock, events = rig
    circuit.set_lines(False, True)
    circuit.set_lines(False, False)
    circuit.settle()
    assert events[-1] == (BootMode.FLASH, RST_CAUSE_EXTERNAL)
    assert not circuit.boot_pending


def test_flash_held_while_rst_tapped_enters_download(rig):
    circuit, clock, events = rig
    circuit.press(BUTTON_FLASH)
    circuit.press(BUTTON_RST)
    circuit.release(BUTTON_RST)
    circuit.release(BUTTON_FLASH)
    assert events == ["reset", (BootMode.DOWNLOAD, RST_CAUSE_EXTERNAL)]


def test_rst_alone_boots_flash(rig):
    circuit, clock, events = rig
    circuit.press(BUTTON_RST)
    circuit.release(BUTTON_RST)
    clock.advance(LATCH_WINDOW)
    circuit.poll()
    assert events == ["reset", (BootMode.FLASH, RST_CAUSE_EXTERNAL)]


def test_power_on_reads_the_straps():
    events = []
    circuit = ResetCircuit(lambda: None, lambda *a: events.append(a), Clock())
    circuit.power_on()
    circuit.press(BUTTON_FLASH)
    circuit.power_on()
    assert events == [(BootMode.FLASH, RST_CAUSE_POWER_ON), (BootMode.DOWNLOAD, RST_CAUSE_POWER_ON)]


def test_unknown_button_is_refused(rig):
    with pytest.raises(ValueError, match="flash, rst"):
        rig[0].press("boot")


def test_wire_passes_bytes_at_matching_rates():
    data = bytes(range(256))
    assert resample(data, 115200, 115200) == data
    assert resample(data, 115200, 116000) == data  # within a UART's tolerance
    assert rates_match(74880, 74880) and not rates_match(74880, 115200)


@pytest.mark.parametrize("sender, receiver", [(74880, 115200), (115200, 74880), (460800, 115200)])
def test_wire_garbles_at_mismatched_rates(sender, receiver):
    text = b"\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n"
    received = resample(text, sender, receiver)
    assert received != text
    assert b"ets Jan" not in received


def test_pacer_holds_a_stream_to_the_line_rate():
    """1152 bytes at 115200 baud take 0.1 s on the wire (a lower bound, never flaky)."""
    pacer = Pacer()
    started = time.monotonic()
    for _ in range(8):
        pacer.wait(144, 115200)
    assert time.monotonic() - started >= 0.1 - 0.005


def test_banner_for_each_boot():
    assert boot.banner(BootMode.DOWNLOAD, 2) == "\r\n ets Jan  8 2013,rst cause:2, boot mode:(1,6)\r\n\r\n"
    assert boot.banner(BootMode.FLASH, 1).startswith("\r\n ets Jan  8 2013,rst cause:1, boot mode:(3,6)")
    assert boot.banner(BootMode.FLASH, 4).endswith("wdt reset\r\n")


def test_load_lines_follow_a_real_boot_log():
    """ESP8266_RTOS_SDK #242: lengths 2592, 764, 676 load with rooms 16, 8, 4, tails 0, 4, 0."""
    lengths = (2592, 764, 676)
    segments, offset = [], 8
    for address, length in zip((0x40100000, 0x3FFE8000, 0x3FFE82FC), lengths):
        segments.append(Segment(address, length, offset + 8))
        offset += 8 + length
    image = Esp8266Image(0x40100004, 0, 0, tuple(segments), 0x22, 0x22, offset + 16)
    text = boot.load_lines(image, lambda off, n: bytes(n))
    assert [line.split(",")[2].strip() for line in text.splitlines() if line.startswith("load")] == \
        ["room 16", "room 8", "room 4"]
    assert [line for line in text.splitlines() if line.startswith("tail")] == ["tail 0", "tail 4", "tail 0"]
    assert "load 0x3ffe82fc, len 676, room 4 \r\n" in text
    assert text.endswith("csum 0x22\r\n")
