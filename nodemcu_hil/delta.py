"""A changed file as a delta against the board's own copy: the blocks it already holds, plus
the bytes it lacks.

A developer's deploy usually changes a line or two of a file. The survey
(`board_kit`'s `_s`) lists the board's copy of every file that differs as block digests;
the host finds those blocks in the new file (at any offset, so an insertion shifts
nothing out of reach) and sends only the rest. What the board builds from its copy and
the delta is hashed as a whole and renamed into place only when it is the new file, so a
block digest that collides, or a copy changed since the survey, can cost a resend but
never a wrong file (`transfer.put`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from nodemcu_hil.board_kit import BLOCK, BLOCK_DIGEST_BYTES, DIGEST_CHARS

LISTING_MARK = "!"   # how the survey's answer for a differing file starts: '!<size>:<digests>'

Op = int | tuple[int, int]   # n: the next n bytes of the literal stream; (i, n): n blocks from block i


def block_digest(block: bytes) -> str:
    """What the board's `_k` lists for one block."""
    return base64.b64encode(hashlib.sha256(block).digest()[:BLOCK_DIGEST_BYTES]).decode()


@dataclass(frozen=True)
class Base:
    """The board's copy of a file, as the survey listed it."""
    size: int
    digests: tuple[str, ...]

    @classmethod
    def parse(cls, listing: str | None) -> "Base | None":
        """The listing '!<size>:<digests>' read, or None when it is absent or garbled."""
        if not listing or not listing.startswith(LISTING_MARK) or ":" not in listing:
            return None
        size, _, digests = listing[1:].partition(":")
        if not size.isdigit() or len(digests) % DIGEST_CHARS:
            return None
        blocks = tuple(digests[i:i + DIGEST_CHARS] for i in range(0, len(digests), DIGEST_CHARS))
        if len(blocks) != -(-int(size) // BLOCK):
            return None
        return cls(int(size), blocks)

    def tail(self) -> tuple[int, str] | None:
        """The last block, when it is shorter than BLOCK: (its length, its digest)."""
        length = self.size % BLOCK
        return (length, self.digests[-1]) if length else None


def _append(ops: list[Op], op: Op) -> None:
    """Add op, merged with the last one where they continue each other."""
    last = ops[-1] if ops else None
    if isinstance(op, int) and isinstance(last, int):
        ops[-1] = last + op
    elif isinstance(op, tuple) and isinstance(last, tuple) and last[0] + last[1] == op[0]:
        ops[-1] = (last[0], last[1] + op[1])
    else:
        ops.append(op)


def ops_for(data: bytes, base: Base) -> tuple[list[Op], bytes]:
    """The ops that build `data` from `base` and the literal bytes they read, greedily:
    at each offset a whole block the board holds, else one literal byte."""
    full = {}
    for index, digest in enumerate(base.digests):
        if (index + 1) * BLOCK <= base.size:
            full.setdefault(digest, index)
    tail = base.tail()
    ops: list[Op] = []
    literal = bytearray()
    offset = 0
    while offset < len(data):
        index = None
        if offset + BLOCK <= len(data):
            index = full.get(block_digest(data[offset:offset + BLOCK]))
            step = BLOCK
        if index is None and tail and offset + tail[0] <= len(data) \
                and block_digest(data[offset:offset + tail[0]]) == tail[1]:
            index, step = len(base.digests) - 1, tail[0]
        if index is None:
            literal.append(data[offset])
            _append(ops, 1)
            offset += 1
        else:
            _append(ops, (index, 1))
            offset += step
    return ops, bytes(literal)
