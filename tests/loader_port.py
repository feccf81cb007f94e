"""Test-only transports for driving a RomLoader without a serial line.

`LoaderPort` is the already-opened serial object esptool's ESPLoader accepts: host
writes go straight into `RomLoader.receive`, which answers synchronously, so reads never
have to wait (an empty buffer means the chip said nothing, and reads return at once
instead of sitting out esptool's timeout). `RawClient` sends hand-built packets and
parses the responses, for the malformed cases esptool would never send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from nodemcu_hil.sim import slip
from nodemcu_hil.sim.flash import Flash
from nodemcu_hil.sim.loader import RomLoader
from nodemcu_hil.sim.loader_packets import HEADER, checksum
from nodemcu_hil.sim.uart import Uart

TEST_MAC = bytes.fromhex("5ccf7f0a0b0c")


@dataclass
class Wire:
    """Everything the chip transmitted, with the baud each piece went out at."""

    bytes_out: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[bytes, int]] = field(default_factory=list)

    def sink(self, data: bytes, baud: int) -> None:
        self.bytes_out.extend(data)
        self.pieces.append((data, baud))


def make_chip(flash: Flash, mac: bytes = TEST_MAC, **callbacks) -> tuple[RomLoader, Wire]:
    wire = Wire()
    return RomLoader(flash, mac, Uart(wire.sink), **callbacks), wire


class LoaderPort:
    """Enough of pyserial's Serial for esptool's ESPLoader (read, write, timeouts)."""

    def __init__(self, loader: RomLoader, wire: Wire):
        self.loader = loader
        self._wire = wire
        self._taken = len(wire.bytes_out)
        self.timeout = 3.0
        self.write_timeout = None
        self.baudrate = 115200
        self.port = self.name = "virtual-loader"
        self.dtr = False
        self.rts = False

    def _pending(self) -> bytes:
        return bytes(self._wire.bytes_out[self._taken:])

    def write(self, data: bytes) -> int:
        self.loader.receive(bytes(data))
        return len(data)

    def inWaiting(self) -> int:
        return len(self._wire.bytes_out) - self._taken

    in_waiting = property(inWaiting)

    def read(self, size: int = 1) -> bytes:
        data = self._pending()[:size]
        self._taken += len(data)
        return data

    def flushInput(self) -> None:
        self._taken = len(self._wire.bytes_out)

    reset_input_buffer = flushInput

    def flush(self) -> None:
        return None

    flushOutput = reset_output_buffer = flush

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class Response:
    op: int
    value: int
    data: bytes

    @property
    def status(self) -> bytes:
        return self.data[-2:]

    @property
    def body(self) -> bytes:
        return self.data[:-2]


class RawClient:
    def __init__(self, loader: RomLoader, wire: Wire):
        self.loader = loader
        self._wire = wire
        self._decoder = slip.SlipDecoder()
        self._seen = 0

    def send_frame(self, payload: bytes) -> None:
        self.loader.receive(slip.encode(payload))

    def send(self, op: int, data: bytes = b"", chk: int = 0, *, direction: int = 0,
             length: int | None = None) -> None:
        size = len(data) if length is None else length
        self.send_frame(HEADER.pack(direction, op, size, chk) + data)

    def frames(self) -> list[bytes]:
        new = bytes(self._wire.bytes_out[self._seen:])
        self._seen = len(self._wire.bytes_out)
        return self._decoder.feed(new)

    def responses(self) -> list[Response]:
        out = []
        for frame in self.frames():
            direction, op, length, value = HEADER.unpack_from(frame)
            assert direction == 1 and length == len(frame) - HEADER.size, frame[:40].hex()
            out.append(Response(op, value, frame[HEADER.size:]))
        return out

    def command(self, op: int, data: bytes = b"", chk: int = 0) -> Response:
        self.send(op, data, chk)
        replies = self.responses()
        assert len(replies) == 1, replies
        return replies[0]


def data_block(payload: bytes, seq: int = 0) -> tuple[bytes, int]:
    """A MEM/FLASH data request body and its checksum, as esptool builds them."""
    return struct.pack("<IIII", len(payload), seq, 0, 0) + payload, checksum(payload)
