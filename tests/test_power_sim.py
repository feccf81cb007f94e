"""The virtual board's power switch and the fault only power clears (issue 16, item 3).

Power off: the link carries nothing and DTR/RTS do nothing; power on: the ROM message at
74880 baud, then MicroPython boots with the flash as it was and RAM, REPL state lost. A
stuck USB-serial bridge: silent both ways, an RTS reset does nothing, a power cycle heals it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nodemcu_hil.errors import WaitTimeout
from nodemcu_hil.sim import wait_for_state
from tests.power_rig import (BANNER, BOOT_TIMEOUT_S, PROMPT, ROM_LINE, SILENT_WINDOW_S, at_prompt, booted,
                             close_console, flashed_flash, open_console, run_line)

pytest.importorskip("micropython_run")


@pytest.fixture
def sim(start_virtual_board, tmp_path):
    process = start_virtual_board(name="powered", flash=flashed_flash(tmp_path))
    console = open_console(process.url, "powered", tmp_path / "serial")
    booted(console)
    yield process, console
    close_console(console)


def firmware_pids(process) -> set[int]:
    """The board process's children: the MicroPython interpreter running as its firmware."""
    tasks = Path(f"/proc/{process.pid}/task")
    return {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}


def assert_silent(console, poke: bytes = b"\r\x03print(6 * 7)\r") -> None:
    mark = console.mark()
    console.write(poke)
    with pytest.raises(WaitTimeout):
        console.expect(r"[\s\S]", since=mark, timeout=SILENT_WINDOW_S, what="any byte")


def boots_after(console, switch) -> str:
    """Run `switch` (power applied) with the console listening; the ROM line and banner."""
    with console.watching_boot() as mark:
        switch()
    rom = console.expect(ROM_LINE, since=mark, timeout=BOOT_TIMEOUT_S, what="ROM boot message").group(0)
    console.expect(BANNER, since=mark, timeout=BOOT_TIMEOUT_S, what="MicroPython banner")
    return rom


def test_power_off_silences_the_link_and_power_on_boots_with_flash_kept_and_ram_lost(sim):
    process, console = sim
    run_line(console, "f = open('kept.txt', 'w'); f.write('on flash'); f.close()", PROMPT)
    run_line(console, "in_ram = 41", PROMPT)
    running = firmware_pids(process)
    assert running
    process.control.power("off")
    assert process.control.state()["powered"] is False and not firmware_pids(process)
    assert_silent(console)
    resets = process.control.state()["reset_count"]
    console.hard_reset(capture_rom_message=False)  # DTR/RTS reach nothing while off
    assert_silent(console, b"")
    assert process.control.state()["reset_count"] == resets
    assert boots_after(console, lambda: process.control.power("on")).startswith("rst cause:1")
    at_prompt(console)
    assert firmware_pids(process) and not firmware_pids(process) & running
    run_line(console, "print(open('kept.txt').read())", "on flash")
    run_line(console, "print(in_ram)", "NameError: name 'in_ram' isn't defined")


def test_power_cycle_restarts_the_firmware_from_the_rom(sim):
    process, console = sim
    before = process.control.state()["reset_count"]
    assert boots_after(console, lambda: process.control.power("cycle")).startswith("rst cause:1")
    state = wait_for_state(process.control, lambda s: s["mode"] == "application")
    assert state["powered"] and state["reset_count"] == before + 1


def test_a_stuck_bridge_is_deaf_to_rts_and_only_a_power_cycle_clears_it(sim):
    process, console = sim
    process.control.stick_bridge()
    assert_silent(console)
    resets = process.control.state()["reset_count"]
    console.hard_reset()  # the ROM message would come at 74880 baud: nothing comes
    assert_silent(console, b"")
    state = process.control.state()
    assert state["reset_count"] == resets and state["bridge_stuck"] and state["mode"] == "application"
    boots_after(console, lambda: process.control.power("cycle"))
    assert process.control.state()["bridge_stuck"] is False
    at_prompt(console)
    run_line(console, "print(6 * 7)", "42")
