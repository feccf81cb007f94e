"""Deltas against the board's copy (`nodemcu_hil.delta`), host side: the listing the board
sends is read strictly, and the ops rebuild the new file from the old one's blocks."""

from __future__ import annotations

import random

from nodemcu_hil import delta
from nodemcu_hil.board_kit import BLOCK


def listing(old: bytes) -> str:
    """What the board's `_k` answers for a file holding `old`."""
    blocks = [old[i:i + BLOCK] for i in range(0, len(old), BLOCK)]
    return f"!{len(old)}:" + "".join(delta.block_digest(block) for block in blocks)


def rebuild(old: bytes, ops, literal: bytes) -> bytes:
    """What the board's `_fin` builds from its copy `old`, the ops and the literal stream."""
    out, taken = bytearray(), 0
    for op in ops:
        if isinstance(op, int):
            out += literal[taken:taken + op]
            taken += op
        else:
            start, count = op
            out += old[start * BLOCK:(start + count) * BLOCK]
    assert taken == len(literal)
    return bytes(out)


def text(lines: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(b"value_%d = %d  # %s\n" % (i, rng.randrange(10 ** 6), b"x" * rng.randrange(30))
                    for i in range(lines))


def test_an_appended_line_sends_only_the_old_tail_and_the_new_bytes():
    old = text(200, 1)
    new = old + b"# one line changed\n"
    ops, literal = delta.ops_for(new, delta.Base.parse(listing(old)))
    assert rebuild(old, ops, literal) == new
    assert ops == [(0, -(-len(old) // BLOCK)), len(b"# one line changed\n")]


def test_an_insertion_in_the_middle_keeps_the_shifted_blocks():
    old = text(300, 2)
    middle = len(old) // 2
    new = old[:middle] + b"inserted = True\n" + old[middle:]
    ops, literal = delta.ops_for(new, delta.Base.parse(listing(old)))
    assert rebuild(old, ops, literal) == new
    assert len(literal) < 2 * BLOCK + 16        # the two blocks around the insertion at most


def test_unrelated_content_is_all_literal():
    old, new = text(100, 3), text(100, 4)
    ops, literal = delta.ops_for(new, delta.Base.parse(listing(old)))
    assert rebuild(old, ops, literal) == new and literal == new


def test_a_garbled_listing_gives_no_base():
    good = listing(text(50, 5))
    assert delta.Base.parse(good) is not None
    assert delta.Base.parse(None) is None
    assert delta.Base.parse("=") is None
    assert delta.Base.parse(good[:-3]) is None                         # a digest cut short
    assert delta.Base.parse(good + "A" * delta.DIGEST_CHARS) is None   # one block too many for the size
    assert delta.Base.parse("!12x:" + good.partition(":")[2]) is None
