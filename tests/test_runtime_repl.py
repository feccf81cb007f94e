"""The REPLs of the virtual ESP8266 as bytes on its UART: friendly REPL (CRLF, TAB,
history, paste mode), raw REPL, raw-paste flow control (protocol doc B §4)."""

from __future__ import annotations

import pytest

from nodemcu_hil.sim.runtime.console import boot_runtime

pytest.importorskip("micropython_run")

PROMPT = b">>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
UP = b"\x1b[A"


@pytest.fixture
def repl(tmp_path):
    runtime, console = boot_runtime(tmp_path)
    console.expect(b'Type "help()" for more information.\r\n>>> ')
    yield runtime, console
    runtime.stop()


def test_print_ends_lines_with_crlf_like_the_esp8266(repl):
    runtime, console = repl
    runtime.receive(b"print('hello esp8266!'); print('a\\nb')\r")
    assert console.expect(PROMPT) == (b"print('hello esp8266!'); print('a\\nb')\r\n"
                                      b"hello esp8266!\r\na\r\nb\r\n>>> ")


def test_tab_completes_one_match_and_lists_several(repl):
    runtime, console = repl
    runtime.receive(b"hello_world_value = 7\r")
    console.expect(PROMPT)
    runtime.receive(b"hello_w\t")
    assert console.expect(b"hello_world_value") == b"hello_world_value"
    runtime.receive(b"\r")
    assert console.expect(PROMPT) == b"\r\n7\r\n>>> "
    runtime.receive(b"hello_one = 1; hello_two = 2\r")
    console.expect(PROMPT)
    runtime.receive(b"hello_\t")
    listed = console.expect(b">>> hello_")
    assert b"hello_one" in listed and b"hello_two" in listed and b"hello_world_value" in listed
    assert listed.startswith(b"hello_\r\n")
    runtime.receive(b"\x03")
    console.expect(PROMPT)


def test_up_arrow_recalls_the_previous_line(repl):
    runtime, console = repl
    runtime.receive(b"print(6 * 7)\r")
    console.expect(b"42\r\n>>> ")
    runtime.receive(UP)
    assert console.expect(b"print(6 * 7)") == b"print(6 * 7)"
    runtime.receive(b"\r")
    assert console.expect(PROMPT) == b"\r\n42\r\n>>> "


def test_paste_mode_runs_the_block_on_ctrl_d(repl):
    runtime, console = repl
    runtime.receive(b"\x05")
    assert console.expect(b"=== ") == b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== "
    runtime.receive(b"for i in range(2):\r    print('p', i)\r\x04")
    out = console.expect(PROMPT)
    assert out.endswith(b"p 0\r\np 1\r\n>>> ")


def test_raw_repl_exec_protocol_and_ctrl_b(repl):
    runtime, console = repl
    runtime.receive(b"\r\x01")
    console.expect(RAW_BANNER)
    runtime.receive(b"print('x'); 1/0\x04")
    out = console.expect(b"\x04>")
    assert out.startswith(b"OKx\r\n\x04Traceback (most recent call last):\r\n")
    assert out.endswith(b"ZeroDivisionError: divide by zero\r\n\x04>")
    runtime.receive(b"\x02")
    assert b"ESP module with ESP8266" in console.expect(PROMPT)


def test_stdout_buffer_stays_raw_bytes(repl):
    runtime, console = repl
    runtime.receive(b"\x01")
    console.expect(RAW_BANNER)
    runtime.receive(b"import sys; sys.stdout.buffer.write(b'a\\nb\\x10\\x10c\\r\\n')\x04")
    out = console.expect(b"\x04\x04>")
    assert out == b"OKa\nb\x10\x10c\r\n\x04\x04>"


def test_raw_paste_window_and_flow_control(repl):
    runtime, console = repl
    runtime.receive(b"\x01")
    console.expect(RAW_BANNER)
    runtime.receive(b"\x05A\x01")
    assert console.expect(b"R\x01") == b"R\x01"
    window = console.expect(b"\x01")  # u16 LE window size, then the first window grant
    assert window == b"\x80\x00\x01"
    code = b"x = " + b"1 + " * 100 + b"1\nprint(x)\n"
    runtime.receive(code[:128])
    assert console.expect(b"\x01") == b"\x01"  # the device asks for the next 128 bytes
    runtime.receive(code[128:] + b"\x04")
    assert console.expect(b"\x04>").endswith(b"\x04101\r\n\x04\x04>")


def test_history_starts_empty_after_a_soft_reset(repl):
    runtime, console = repl
    runtime.receive(b"print('before reset')\r")
    console.expect(b"before reset\r\n>>> ")
    runtime.receive(b"\x04")
    console.expect(b'Type "help()" for more information.\r\n>>> ')
    runtime.receive(UP + b"\r")
    assert console.expect(PROMPT) == b"\r\n>>> "
