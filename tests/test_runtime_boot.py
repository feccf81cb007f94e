"""Boot sequence of the virtual ESP8266 runtime: filesystem in flash, boot.py/main.py,
soft and hard resets, banner with the image's version (protocol doc B §1, §2)."""

from __future__ import annotations

import re

import threading

import pytest

from nodemcu_hil.sim.runtime.console import blank_flash, boot_runtime
from nodemcu_hil.sim.runtime.fslayout import fs_layout

pytest.importorskip("micropython_run")

BANNER = b"MicroPython v1.28.0 on 2026-04-06; ESP module with ESP8266\r\n"
HELP = b'Type "help()" for more information.\r\n>>> '
PROMPT_ONLY = b">>> "
FS_OFFSET_4M = 256 * 4096  # protocol doc B §2: sector 256 on a 4 MiB flash
LFS_MAGIC = b"littlefs"


@pytest.fixture
def board(tmp_path):
    started = []

    def start(**kw):
        runtime, console = boot_runtime(tmp_path, **kw)
        started.append(runtime)
        return runtime, console

    yield start
    for runtime in started:
        runtime.stop()


def run(runtime, console, line: bytes, timeout: float = 10) -> bytes:
    runtime.receive(line + b"\r")
    return console.expect(b">>> ", timeout)


def test_first_boot_creates_lfs2_and_boot_py_at_the_esp8266_offset(board, tmp_path):
    runtime, console = board()
    out = console.expect(HELP)
    assert b"Performing initial setup\r\n" in out
    assert out.endswith(b"\r\n" + BANNER + HELP)
    flash = (tmp_path / "flash.bin").read_bytes()
    assert flash[FS_OFFSET_4M + 8:FS_OFFSET_4M + 16] == LFS_MAGIC
    assert flash[:FS_OFFSET_4M] == b"\xff" * FS_OFFSET_4M
    out = run(runtime, console, b"print(open('boot.py').read())")
    assert b"# This file is executed on every boot (including wake-boot from deepsleep)\r\n" in out
    assert b"import os, machine\r\n" in out
    assert b"[763, " in run(runtime, console, b"import os; print([os.statvfs('/')[2], 0])")


def test_files_survive_soft_reset_and_restart(board, tmp_path):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"open('data.txt','w').write('kept')")
    runtime.receive(b"\x04")
    out = console.expect(HELP)
    assert out.startswith(b"\r\nMPY: soft reboot\r\n")
    assert b"Performing initial setup" not in out
    assert b"'kept'" in run(runtime, console, b"open('data.txt').read()")
    runtime.stop()
    runtime, console = board()
    out = console.expect(HELP)
    assert b"Performing initial setup" not in out
    assert b"'kept'" in run(runtime, console, b"open('data.txt').read()")


def test_non_blank_invalid_filesystem_loops_looks_corrupt_until_ctrl_c(board, tmp_path):
    flash = bytearray(b"\xff" * (4 * 1024 * 1024))
    flash[FS_OFFSET_4M:FS_OFFSET_4M + 4] = b"junk"
    (tmp_path / "flash.bin").write_bytes(bytes(flash))
    runtime, console = board()
    line = b"The filesystem starting at sector 256 with size 763 sectors looks corrupt.\r\n"
    console.expect(line)
    runtime.receive(b"\x03")
    out = console.expect(HELP)
    assert b"KeyboardInterrupt" in out
    assert b"Performing initial setup" not in out


def test_boot_py_then_main_py_and_exception_in_boot_skips_main(board):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"open('boot.py','w').write('print(\"in boot\")')")
    run(runtime, console, b"open('main.py','w').write('print(\"in main\")')")
    runtime.receive(b"\x04")
    out = console.expect(HELP)
    assert b"MPY: soft reboot\r\nin boot\r\nin main\r\n\r\n" + BANNER in out
    run(runtime, console, b"open('boot.py','w').write('1/0')")
    runtime.receive(b"\x04")
    out = console.expect(HELP)
    assert b'  File "boot.py", line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n' in out
    assert b"in main" not in out


def test_raw_repl_soft_reset_runs_boot_py_but_not_main_py(board):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"open('boot.py','w').write('print(\"in boot\")')")
    run(runtime, console, b"open('main.py','w').write('print(\"in main\")')")
    runtime.receive(b"\x01")
    console.expect(b"raw REPL; CTRL-B to exit\r\n>")
    runtime.receive(b"\x04")
    out = console.expect(b"raw REPL; CTRL-B to exit\r\n>")
    assert out == b"OK\r\nMPY: soft reboot\r\nin boot\r\nraw REPL; CTRL-B to exit\r\n>"
    runtime.receive(b"\x02")
    assert console.expect(HELP) == b"\r\n" + BANNER + HELP


def test_ctrl_c_interrupts_a_looping_main_py(board):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"open('main.py','w').write('print(\"looping\")\\nwhile True:\\n    pass\\n')")
    runtime.receive(b"\x04")
    console.expect(b"looping\r\n")
    runtime.receive(b"\x03")
    out = console.expect(HELP)
    # The line depends on when CTRL-C lands (print may still be returning); main.py never
    # ends by itself, so any KeyboardInterrupt traceback from it shows the interrupt worked.
    assert re.match(rb'Traceback \(most recent call last\):\r\n  File "main.py", line [13], in <module>\r\n'
                    rb"KeyboardInterrupt: \r\n", out)


def test_kbd_intr_disabled_loop_ignores_ctrl_c_until_hard_reset(board):
    runtime, console = board()
    console.expect(HELP)
    runtime.receive(b"\x05import micropython\rmicropython.kbd_intr(-1)\rprint('locked')\rwhile True: pass\r\x04")
    console.expect(b"locked\r\n")
    pid = runtime.pid
    runtime.receive(b"\x03\x03\x03")
    assert b"KeyboardInterrupt" not in console.quiet_for(0.5)
    with open(f"/proc/{pid}/status") as f:
        assert "State:" in f.read()  # still alive: not killed by SIGINT's default action
    runtime.stop()
    runtime, console = board()
    out = console.expect(HELP)
    assert BANNER in out


def test_request_reset_hard_reports_to_the_board(board):
    kinds = []
    done = threading.Event()

    def on_reset(kind):
        kinds.append(kind)
        done.set()

    runtime, console = board(on_reset=on_reset)
    console.expect(HELP)
    runtime.receive(b"import _vboard; _vboard.request_reset('hard')\r")
    assert done.wait(10)
    assert kinds == ["hard"]
    assert b"MPY: soft reboot" not in console.unread()


def test_banner_carries_the_image_version(board):
    runtime, console = board(version="v1.29.0-preview.731.g1c3c201149", build_date="2026-07-05")
    out = console.expect(HELP)
    assert (b"\r\nMicroPython v1.29.0-preview.731.g1c3c201149 on 2026-07-05; "
            b"ESP module with ESP8266\r\n") in out
    runtime.receive(b"\x02")
    assert b"linux" not in console.expect(HELP)


def test_erased_flash_area_gets_a_fresh_filesystem_each_time(board, tmp_path):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"open('main.py','w').write('print(1)')")
    runtime.stop()
    blank_flash(tmp_path / "flash.bin")
    runtime, console = board()
    assert b"Performing initial setup" in console.expect(HELP)
    assert b"['boot.py']" in run(runtime, console, b"import os; os.listdir()")


def test_machine_reset_from_main_py_reboots_instead_of_reaching_the_repl(board):
    kinds = []
    done = threading.Event()

    def on_reset(kind):
        kinds.append(kind)
        done.set()

    runtime, console = board(on_reset=on_reset)
    console.expect(HELP)
    runtime.receive(b"open('main.py','w').write('print(\"resetting\")\\nimport _vboard\\n"
                    b"_vboard.request_reset(\"wdt\")\\nprint(\"not reached\")\\n')\r")
    console.expect(PROMPT_ONLY)
    runtime.receive(b"\x04")
    assert done.wait(10)
    assert kinds == ["wdt"]
    text = console.unread()
    assert b"resetting\r\n" in text
    assert b"not reached" not in text and b"\x10" not in text


@pytest.mark.parametrize("size, start, blocks", [
    (4 * 1024 * 1024, 256, 763), (2 * 1024 * 1024, 256, 251), (1024 * 1024, 153, 98),
    (512 * 1024, 0, 0),
])
def test_filesystem_placement_follows_the_port(size, start, blocks):
    assert fs_layout(size) == (start, blocks)


def test_2mb_flash_gets_its_smaller_filesystem(board, tmp_path):
    blank_flash(tmp_path / "flash.bin", 2 * 1024 * 1024)
    runtime, console = board()
    assert b"Performing initial setup" in console.expect(HELP)
    assert b"[251, 4096]" in run(runtime, console, b"import os; print([os.statvfs('/')[2], os.statvfs('/')[0]])")
    flash = (tmp_path / "flash.bin").read_bytes()
    assert flash[FS_OFFSET_4M + 8:FS_OFFSET_4M + 16] == LFS_MAGIC


def test_ctrl_c_stops_a_silent_main_py_right_after_power_on(board):
    runtime, console = board()
    console.expect(HELP)
    run(runtime, console, b"f = open('main.py','w'); f.write('while True:\\n    pass\\n'); f.close()")
    runtime.stop()
    runtime, console = board()  # nothing is printed before main.py starts looping
    out = b""
    for _ in range(50):  # CTRL-C sent during boot is queued as input, as on the chip
        runtime.receive(b"\x03")
        try:
            out = console.expect(HELP, timeout=0.2)
            break
        except AssertionError:
            continue
    assert b'  File "main.py", line 2, in <module>\r\nKeyboardInterrupt: \r\n' in out
