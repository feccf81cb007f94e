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
CHUNK = 768                  # raw bytes per exec: 1 KiB of base64, small for a 38 KiB heap
MIN_SAVING = 192             # compress only when it saves more than the inflate code costs

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


def _finish_code(path: str, part: str, zpart: str | None, digest: str) -> str:
    code = "f.close()\n" + BOARD_HASH
    if zpart:
        code += (f"import {INFLATE_MODULE} as _z\n"
                 f"s=open({zpart!r},'rb')\nd=_z.DeflateIO(s,_z.ZLIB)\no=open({part!r},'wb')\n"
                 "while 1:\n n=d.readinto(_b)\n if not n: break\n o.write(_m[:n])\n"
                 f"o.close()\ns.close()\nos.remove({zpart!r})\n")
    code += (f"r=_h({part!r})\n"
             f"if r=={digest!r}:\n"
             f" try: os.rename({part!r},{path!r})\n"
             f" except OSError:\n  os.remove({path!r})\n  os.rename({part!r},{path!r})\n"
             " print('OK')\n"
             f"else:\n os.remove({part!r})\n print(r)\n")
    return code


def put(repl, path: str, data: bytes, *, can_inflate: bool = False, wire=None) -> str:
    """Write `data` to `path` on the board whole and verified; returns the encoding used.

    `wire` (tests only) may change the payload's chunks on their way, as a bad line would.
    """
    encoding, payload = encoding_for(data, can_inflate)
    part = path + ".part"
    zpart = path + ".zpart" if encoding == "deflate" else None
    repl.exec(f"from binascii import a2b_base64 as a\nf=open({(zpart or part)!r},'wb')\nw=f.write")
    for chunk in _chunks(payload):
        if wire is not None:
            chunk = wire(chunk)
        repl.exec(f"w(a({base64.b64encode(chunk).decode()!r}))")
    digest = hashlib.sha256(data).hexdigest()
    answer = repl.exec(_finish_code(path, part, zpart, digest)).decode().strip()
    if answer != "OK":
        raise TransferCorrupted(f"{path} was written with sha256 {answer[:16]}…, expected {digest[:16]}… "
                                f"({encoding}, {len(payload)} B on the wire); the board keeps its previous file",
                                board=getattr(repl, "board", None), port=getattr(repl, "url", None),
                                hint="a noisy serial line or a full filesystem; deploy again")
    return encoding
