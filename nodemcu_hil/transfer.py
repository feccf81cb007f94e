"""A file's bytes onto the board: compressed where the board can inflate, checked by hash.

At 115200 baud the wire carries about 11.5 KB/s, and the firmware and its libraries are
text that deflates to a third of its size. When the board's MicroPython has the `deflate`
module (probed once per connection with a raw-REPL import, `INFLATE_MODULE`), a file
travels as a zlib stream with a small window (`WBITS`: the ESP8266 inflates with a 1 KiB
window on its 38 KiB heap) into `<path>.zpart`, is inflated on the board into
`<path>.part`, and otherwise travels plain into `<path>.part`. Either way the board then
reads the `.part` file back from its filesystem, hashes it with sha256 and renames it over
`<path>` only when that hash is the one the host computed: a transfer garbled on the wire
or in the inflater never replaces a file; it raises `TransferCorrupted`. A file the
board holds an older copy of may travel as a delta against that copy (`delta.py`), checked
the same way. The board-side helpers are `board_kit`'s, installed once per session.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

from nodemcu_hil import delta
from nodemcu_hil.errors import HilError

INFLATE_MODULE = "deflate"   # MicroPython >= 1.21; ports built without it answer ImportError
WBITS = 10                   # 1 KiB history window: what the board allocates to inflate
CHUNK = 1024                 # raw bytes per chunk: 1368 B of base64, small for a 38 KiB heap
EXEC_BUDGET = 1600           # characters of code per exec: one chunk and the small statements around it
MIN_SAVING = 64              # compress only when it saves a few lines of base64


class TransferCorrupted(HilError):
    """The file the board wrote does not hash to what was sent; the old file is kept."""


def prepare(repl) -> bool:
    """Install the write kit (`board_kit`) in this raw-REPL session, probing the inflater in
    the same exec (one round trip); whether files may travel deflated."""
    repl.can_inflate = repl.run_with_kit(("write",), "print(_z)\n").decode().strip() == "1"
    return repl.can_inflate


def compress(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, WBITS)
    return packer.compress(data) + packer.flush()


def encoding_for(data: bytes, can_inflate: bool) -> tuple[str, bytes]:
    """('deflate', zlib stream) when the board inflates and it pays, else ('plain', data)."""
    if can_inflate and len(data) > MIN_SAVING:
        packed = compress(data)
        if len(data) - len(packed) > MIN_SAVING:
            return "deflate", packed
    return "plain", data


def _chunks(payload: bytes):
    for start in range(0, len(payload), CHUNK):
        yield payload[start:start + CHUNK]


def _execs(statements: list[str], budget: int):
    """Statements grouped into as few execs as fit `budget` characters each (round trips cost)."""
    group: list[str] = []
    for statement in statements:
        if group and sum(map(len, group)) + len(statement) > budget:
            yield "\n".join(group)
            group = []
        group.append(statement)
    if group:
        yield "\n".join(group)


def _send(repl, path: str, zipped: bool, payload: bytes, ops: list | None, digest: str,
          prelude: str, wire) -> str:
    """The statements that write one file, in as few execs as fit; the board's answer."""
    through_stream = zipped or ops is not None   # built on the board from <path>.zpart
    statements = [prelude] if prelude else []
    statements.append(f"_o({path + ('.zpart' if through_stream else '.part')!r})")
    for chunk in _chunks(payload):
        statements.append(f"w(a({base64.b64encode(wire(chunk) if wire else chunk).decode()!r}))")
    extra = "" if ops is None else f",{ops!r}".replace(" ", "")
    statements.append(f"print(_fin({path!r},{int(zipped)},{digest!r}{extra}))")
    answer = b""
    for code in _execs(statements, EXEC_BUDGET):
        answer = repl.exec(code)
    return answer.decode().strip()


def _wire_size(payload: bytes) -> int:
    return -(-len(payload) // 3) * 4


def put(repl, path: str, data: bytes, *, can_inflate: bool = False, base: str | None = None,
        prelude: str = "", wire=None) -> str:
    """Write `data` to `path` on the board whole and verified; returns the encoding used
    ('plain', 'deflate', or 'delta+' either for what the delta's new bytes travelled as).

    The write kit must be installed in this raw-REPL session or be in `prelude` (`Repl.put`
    sees to it). `base` is the board's listing of its current copy (`delta.Base`); when a
    delta against it is shorter on the wire, the delta goes, and should what the board
    builds from it not be `data` (its copy changed since the survey, a digest collided),
    the whole file follows. `wire` (tests only) may change the payload's chunks on their
    way, as a bad line would.
    """
    digest = hashlib.sha256(data).hexdigest()
    encoding, payload = encoding_for(data, can_inflate)
    board_copy = delta.Base.parse(base)
    if board_copy is not None:
        ops, literal = delta.ops_for(data, board_copy)
        literal_encoding, literal_payload = encoding_for(literal, can_inflate)
        if _wire_size(literal_payload) + len(repr(ops)) < _wire_size(payload):
            answer = _send(repl, path, literal_encoding == "deflate", literal_payload, ops, digest, prelude, wire)
            if answer == "OK":
                return "delta+" + literal_encoding
            prelude = ""   # the first exec ran: the kit is in place
    answer = _send(repl, path, encoding == "deflate", payload, None, digest, prelude, wire)
    if answer != "OK":
        raise TransferCorrupted(f"{path} was written with sha256 {answer[:16]}…, expected {digest[:16]}… "
                                f"({encoding}, {len(payload)} B on the wire); the board keeps its previous file",
                                board=getattr(repl, "board", None), port=getattr(repl, "url", None),
                                hint="a noisy serial line or a full filesystem; deploy again")
    return encoding
