"""A file's bytes onto the board: compressed where the board can inflate, checked by hash.

At 115200 baud the wire carries about 11.5 KB/s, and the firmware and its libraries are
text that deflates to a third of its size. When the board's MicroPython has the `deflate`
module (probed once per connection with a raw-REPL import, `INFLATE_MODULE`), a file
travels as a zlib stream with a small window (`WBITS`: the ESP8266 inflates with a 1 KiB
window on its 38 KiB heap) into `<path>.zpart`, is inflated on the board into
`<path>.part`, and otherwise travels plain into `<path>.part`. Either way the board then
reads the `.part` file back from its filesystem, hashes it with sha256 and renames it over
`<path>` only when that hash is the one the host computed: a transfer garbled on the wire
or in the inflater never replaces a file; it raises `TransferCorrupted`.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

from nodemcu_hil.errors import HilError

INFLATE_MODULE = "deflate"   # MicroPython >= 1.21; ports built without it answer ImportError
WBITS = 10                   # 1 KiB history window: what the board allocates to inflate
CHUNK = 1024                 # raw bytes per chunk: 1368 B of base64, small for a 38 KiB heap
EXEC_BUDGET = 1600           # characters of code per exec: one chunk and the small statements around it
MIN_SAVING = 64              # compress only when it saves a few lines of base64

# sha256 hex of a file on the board, '-' when absent; reads through a 256-byte buffer.
BOARD_HASH = ("import os,hashlib,binascii\n_b=bytearray(256)\n_m=memoryview(_b)\n"
              "def _h(p):\n"
              " try: f=open(p,'rb')\n except OSError: return '-'\n"
              " d=hashlib.sha256()\n"
              " while 1:\n  n=f.readinto(_b)\n  if not n: break\n  d.update(_m[:n])\n"
              " f.close()\n return binascii.hexlify(d.digest()).decode()\n")


class TransferCorrupted(HilError):
    """The file the board wrote does not hash to what was sent; the old file is kept."""


def probe_inflate(repl, module: str | None = INFLATE_MODULE) -> bool:
    """Whether the board can import `module` (its DeflateIO inflates our zlib streams)."""
    if not module:
        return False
    out = repl.exec(f"try:\n import {module}\n print({module}.DeflateIO and {module}.ZLIB and 1)\n"
                    "except (ImportError, AttributeError):\n print(0)\n")
    return out.decode().strip() == "1"


def prepare(repl, module: str | None = INFLATE_MODULE) -> bool:
    """Install the kit in this raw-REPL session, probing the inflater in the same exec (one
    round trip); whether files may travel deflated."""
    return repl.exec(kit_code(module)).decode().strip().endswith("1")


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


def kit_code(inflate_module: str | None) -> str:
    """The board-side helpers, installed once per raw-REPL session (a soft reset clears them):
    `_o(p)` opens p for writing as `w`, `_fin(path, z, digest)` inflates `path.zpart` into
    `path.part` when z, hashes `path.part` as read back and renames it over `path` only when
    the hash matches; it returns 'OK' or the hash it found. Prints 1 when `inflate_module`
    imports (with DeflateIO and ZLIB), else 0. Sent once, not with every file."""
    if inflate_module:
        probe = (f"try:\n import {inflate_module} as Z\n _z=1 if Z.DeflateIO and Z.ZLIB else 0\n"
                 "except (ImportError, AttributeError):\n _z=0\n")
    else:
        probe = "_z=0\n"
    code = BOARD_HASH + probe + ("from binascii import a2b_base64 as a\n"
                                 "def _o(p):\n global f,w\n f=open(p,'wb')\n w=f.write\n"
                                 "def _fin(p,z,d):\n f.close()\n q=p+'.part'\n"
                                 " if z:\n"
                                 "  s=open(p+'.zpart','rb')\n  i=Z.DeflateIO(s,Z.ZLIB)\n  o=open(q,'wb')\n"
                                 "  while 1:\n   n=i.readinto(_b)\n   if not n: break\n   o.write(_m[:n])\n"
                                 "  o.close()\n  s.close()\n  os.remove(p+'.zpart')\n")
    return code + (" r=_h(q)\n"
                   " if r!=d:\n  os.remove(q)\n  return r\n"
                   " try: os.rename(q,p)\n"
                   " except OSError:\n  os.remove(p)\n  os.rename(q,p)\n"
                   " return 'OK'\n"
                   "print(_z)\n")


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


def put(repl, path: str, data: bytes, *, can_inflate: bool = False, wire=None) -> str:
    """Write `data` to `path` on the board whole and verified; returns the encoding used.
    The kit (`kit_code`) must be installed in this raw-REPL session (`Repl.put` sees to it).

    `wire` (tests only) may change the payload's chunks on their way, as a bad line would.
    """
    encoding, payload = encoding_for(data, can_inflate)
    zipped = encoding == "deflate"
    digest = hashlib.sha256(data).hexdigest()
    statements = [f"_o({path + ('.zpart' if zipped else '.part')!r})"]
    for chunk in _chunks(payload):
        statements.append(f"w(a({base64.b64encode(wire(chunk) if wire else chunk).decode()!r}))")
    statements.append(f"print(_fin({path!r},{int(zipped)},{digest!r}))")
    answer = b""
    for code in _execs(statements, EXEC_BUDGET):
        answer = repl.exec(code)
    answer = answer.decode().strip()
    if answer != "OK":
        raise TransferCorrupted(f"{path} was written with sha256 {answer[:16]}…, expected {digest[:16]}… "
                                f"({encoding}, {len(payload)} B on the wire); the board keeps its previous file",
                                board=getattr(repl, "board", None), port=getattr(repl, "url", None),
                                hint="a noisy serial line or a full filesystem; deploy again")
    return encoding
