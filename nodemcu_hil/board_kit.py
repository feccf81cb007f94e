"""The MicroPython the harness installs in a raw-REPL session to survey and write files.

Each piece is sent once per raw-REPL session (a soft reset clears them), in front of the
first exec that needs it (`Repl.run_with_kit`), never with every file: at 115200 baud a
hundred characters of code cost the wire about 9 ms. The pieces:

- `hash`: `_h(p)`, the sha256 hex of file p as read back ('-' when absent), through a
  256-byte buffer the other pieces share.
- `probe`: `_z`, 1 when the board's `deflate` module inflates zlib streams, else 0.
- `survey`: `_s(p, e)` drops p's leftover .part/.zpart files, then answers '-' (absent),
  '=' (its sha256 hex starts with e, or e is None) or '!<size>:<block digests>': the file
  differs, and these are its blocks (`BLOCK` bytes each, the last one shorter), each as
  the base64 of its sha256's first `BLOCK_DIGEST_BYTES`, so the host can send a delta.
- `write`: `_o(p)` opens p for writing as `w`; `_fin(p, z, d, x)` builds `p.part` (from
  `p.zpart`, inflated when z, and with the delta ops x: an int n copies the next n bytes
  of that stream, a pair (i, n) copies n blocks of the current p from block i), hashes it
  as read back and renames it over p only when that hash is d; it returns 'OK' or the hash
  it found.
"""

from __future__ import annotations

BLOCK = 256                  # bytes per delta block: the size of the board's read buffer
BLOCK_DIGEST_BYTES = 6       # 48 bits per block
DIGEST_CHARS = (BLOCK_DIGEST_BYTES + 2) // 3 * 4   # ... as base64: 8 characters, no padding
PIECES = ("hash", "probe", "survey", "write")
NEEDS = {"hash": (), "probe": (), "survey": ("hash",), "write": ("hash", "probe")}

_HASH = ("import os,hashlib,binascii\n_b=bytearray(256)\n_m=memoryview(_b)\n"
         "def _h(p):\n"
         " try: f=open(p,'rb')\n except OSError: return '-'\n"
         " d=hashlib.sha256()\n"
         " while 1:\n  n=f.readinto(_b)\n  if not n: break\n  d.update(_m[:n])\n"
         " f.close()\n return binascii.hexlify(d.digest()).decode()\n")

_SURVEY = ("def _k(p):\n"
           " f=open(p,'rb')\n s='!%d:'%f.seek(0,2)\n f.seek(0)\n"
           " while 1:\n  n=f.readinto(_b)\n  if not n: break\n"
           f"  s+=binascii.b2a_base64(hashlib.sha256(_m[:n]).digest()[:{BLOCK_DIGEST_BYTES}])"
           f"[:{DIGEST_CHARS}].decode()\n"
           " f.close()\n return s\n"
           "def _s(p,e):\n"
           " for t in ('.part','.zpart'):\n  try: os.remove(p+t)\n  except OSError: pass\n"
           " r=_h(p)\n"
           " if r=='-': return r\n"
           " if e is None or r.startswith(e): return '='\n"
           " return _k(p)\n")

_WRITE = ("from binascii import a2b_base64 as a\n"
          "def _o(p):\n global f,w\n f=open(p,'wb')\n w=f.write\n"
          "def _c(i,o,n):\n"
          " while n:\n  k=i.readinto(_m[:n] if 0<n<256 else _b)\n  if not k: break\n"
          "  o.write(_m[:k])\n  n-=k\n"
          "def _fin(p,z,d,x=None):\n f.close()\n q=p+'.part'\n"
          " if z or x is not None:\n"
          "  s=open(p+'.zpart','rb')\n  i=Z.DeflateIO(s,Z.ZLIB) if z else s\n  o=open(q,'wb')\n"
          "  if x is None: _c(i,o,-1)\n"
          "  else:\n   g=open(p,'rb')\n"
          "   for y in x:\n"
          "    if type(y) is int: _c(i,o,y)\n"
          f"    else:\n     g.seek(y[0]*{BLOCK})\n     _c(g,o,y[1]*{BLOCK})\n"
          "   g.close()\n"
          "  o.close()\n  s.close()\n  os.remove(p+'.zpart')\n"
          " r=_h(q)\n"
          " if r!=d:\n  os.remove(q)\n  return r\n"
          " try: os.rename(q,p)\n"
          " except OSError:\n  os.remove(p)\n  os.rename(q,p)\n"
          " return 'OK'\n")


def _probe(inflate_module: str | None) -> str:
    if not inflate_module:
        return "_z=0\n"
    return (f"try:\n import {inflate_module} as Z\n _z=1 if Z.DeflateIO and Z.ZLIB else 0\n"
            "except (ImportError, AttributeError):\n _z=0\n")


def source(pieces, inflate_module: str | None) -> str:
    """The code of `pieces` (in the order of PIECES), `inflate_module` being what `probe` imports."""
    unknown = set(pieces) - set(PIECES)
    if unknown:
        raise ValueError(f"no board kit piece {sorted(unknown)}; the pieces are {PIECES}")
    code = {"hash": _HASH, "probe": _probe(inflate_module), "survey": _SURVEY, "write": _WRITE}
    return "".join(code[piece] for piece in PIECES if piece in pieces)


def with_needs(pieces) -> set[str]:
    """`pieces` and the pieces they call."""
    return set(pieces) | {need for piece in pieces for need in NEEDS[piece]}
