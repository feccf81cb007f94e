"""Output translation from the unix port's raw PTY to ESP8266 UART bytes."""

from __future__ import annotations

from nodemcu_hil.sim.runtime.translate import OutputTranslator

UNIX = b"MicroPython 9458e3a23f on 2026-07-05; linux [GCC 14.2.1] version"
ESP = b"MicroPython v1.28.0 on 2026-04-06; ESP module with ESP8266"


def _translator():
    return OutputTranslator(UNIX, ESP, hide_dirs=("/sim/esp8266", "/sim/mp"))


def _bytewise(data: bytes) -> bytes:
    t = _translator()
    out = b"".join(t.feed(data[i:i + 1]) for i in range(len(data)))
    return out + t.flush()


def test_bare_lf_becomes_crlf_and_crlf_stays():
    assert _translator().feed(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"


def test_escaped_stdout_buffer_bytes_pass_untouched():
    assert _translator().feed(b"x\x10\ny\x10\x10z\x10q") == b"x\ny\x10z\x10q"


def test_banner_replaced_even_when_split_byte_by_byte():
    data = b"\r\n" + UNIX + b"\r\nType \"help()\" for more information.\r\n>>> "
    assert _bytewise(data) == b"\r\n" + ESP + b"\r\nType \"help()\" for more information.\r\n>>> "


def test_simulator_frames_are_dropped_and_user_frames_kept():
    data = (b"Traceback (most recent call last):\n"
            b"  File \"/sim/mp/_vboot.py\", line 59, in _exec_file\n"
            b"  File \"main.py\", line 4, in <module>\n"
            b"  File \"/sim/esp8266/time.py\", line 42, in sleep\n"
            b"KeyboardInterrupt: \n")
    expected = (b"Traceback (most recent call last):\r\n"
                b"  File \"main.py\", line 4, in <module>\r\n"
                b"KeyboardInterrupt: \r\n")
    assert _bytewise(data) == expected
    assert _translator().feed(data) == expected


def test_prompts_and_partial_lines_are_not_held_back():
    t = _translator()
    assert t.feed(b"\r\n>>> ") == b"\r\n>>> "
    assert t.feed(b"raw REPL; CTRL-B to exit\r\n>") == b"raw REPL; CTRL-B to exit\r\n>"
    assert t.feed(b"OK\x04\x04>") == b"OK\x04\x04>"
    assert not t.pending()
    assert t.feed(b"\n  Fi") == b"\r\n"
    assert t.pending()
    assert t.flush() == b"  Fi"


def test_reset_mark_is_taken_out_and_reported():
    t = _translator()
    assert t.feed(b"bye\n\x10") == b"bye\r\n"
    assert t.feed(b"RH") == b""
    assert t.reset_requests == ["hard"]
    assert t.feed(b"\x10\x10R") == b"\x10R"  # an escaped DLE followed by R is just data
    assert t.reset_requests == ["hard"]


def test_crlf_split_across_chunks_is_not_doubled():
    t = _translator()
    assert t.feed(b"a\r") + t.feed(b"\nb\n") + t.feed(b"\n") == b"a\r\nb\r\n\r\n"


def test_start_mark_is_taken_out():
    t = _translator()
    assert not t.started
    assert t.feed(b"\x10Sboot\n") == b"boot\r\n"
    assert t.started
