"""SLIP framing, checked against esptool's own reader and writer."""

from __future__ import annotations

import os

from esptool.loader import ESPLoader, slip_reader

from nodemcu_hil.sim import slip


class _BytesPort:
    """What esptool's slip_reader reads from: a fixed byte string."""

    def __init__(self, data: bytes):
        self._data = data

    def inWaiting(self) -> int:
        return len(self._data)

    def read(self, n: int) -> bytes:
        out, self._data = self._data[:n], self._data[n:]
        return out


def _esptool_frames(wire: bytes, count: int) -> list[bytes]:
    reader = slip_reader(_BytesPort(wire), lambda *_: None)
    return [next(reader) for _ in range(count)]


def test_encode_escapes_end_and_esc_and_esptool_decodes_it():
    payload = bytes(range(256)) + b"\xc0\xdb\xdb\xc0"
    wire = slip.encode(payload)
    assert wire[0] == wire[-1] == 0xC0
    assert 0xC0 not in wire[1:-1]
    assert b"\xdb\xdc" in wire and b"\xdb\xdd" in wire
    assert _esptool_frames(wire, 1) == [payload]


def test_decoder_reads_what_esptool_writes():
    sent = []

    class _Capture:
        def write(self, data):
            sent.append(data)

    loader = ESPLoader.__new__(ESPLoader)
    loader._port = _Capture()
    loader._trace_enabled = False
    payloads = [b"\x00\x08\x24\x00" + b"\xc0" * 5, os.urandom(300), b"\xdb\xdc\xdd"]
    for p in payloads:
        loader.write(p)
    assert slip.SlipDecoder().feed(b"".join(sent)) == payloads


def test_split_anywhere_gives_the_same_frames():
    payloads = [os.urandom(50) + b"\xc0\xdb", b"\xdb", os.urandom(7)]
    wire = b"".join(slip.encode(p) for p in payloads)
    for cut in range(1, len(wire)):
        decoder = slip.SlipDecoder()
        assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == payloads
    decoder = slip.SlipDecoder()
    assert [f for b in wire for f in decoder.feed(bytes([b]))] == payloads


def test_garbage_before_the_first_frame_is_dropped():
    decoder = slip.SlipDecoder()
    assert decoder.feed(b"\r\x03\r\x01hello" + slip.encode(b"frame")) == [b"frame"]
    assert decoder.garbage_bytes == 9


def test_garbage_between_frames_never_corrupts_the_next_frame():
    decoder = slip.SlipDecoder()
    wire = slip.encode(b"first") + b"noise" + slip.encode(b"second")
    frames = decoder.feed(wire)
    assert frames[0] == b"first" and frames[-1] == b"second"


def test_empty_frames_are_not_frames():
    assert slip.SlipDecoder().feed(b"\xc0\xc0\xc0" + slip.encode(b"x") + b"\xc0\xc0") == [b"x"]


def test_bad_escape_spoils_only_its_own_frame():
    decoder = slip.SlipDecoder()
    wire = b"\xc0ab\xdb\x41cd\xc0" + slip.encode(b"good")
    assert decoder.feed(wire) == [b"good"]


def test_reset_forgets_a_partial_frame():
    decoder = slip.SlipDecoder()
    assert decoder.feed(b"\xc0partial") == []
    decoder.reset()
    assert decoder.feed(b"tail\xc0" + slip.encode(b"next")) == [b"next"]
