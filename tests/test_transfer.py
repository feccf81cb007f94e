"""Compressed, hash-verified transfer (`nodemcu_hil.transfer`) on a bare MicroPython board.

The board is the unix port on a PTY (`tests.test_deploy.BareBoard`); its filesystem is a
temp directory, so each test compares what really landed byte for byte.
"""

from __future__ import annotations

import hashlib

import pytest

from nodemcu_hil import deploy, survey, transfer
from nodemcu_hil.errors import HilError
from tests.test_deploy import MICROPYTHON, board, local, tiny_lib  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(), reason="MicroPython unix port not installed ([sim] extra)")


@pytest.fixture
def encodings(monkeypatch):
    """Which encoding each file travelled in, as transfer.put chose it."""
    seen: dict[str, str] = {}
    real_put = transfer.put

    def spy(repl, path, data, **options):
        seen[path] = real_put(repl, path, data, **options)
        return seen[path]

    monkeypatch.setattr(transfer, "put", spy)
    return seen


def deploy_with(board, files, inflate_module=transfer.INFLATE_MODULE):
    with board.repl() as repl:
        repl.inflate_module = inflate_module
        return deploy.deploy(repl, files, reset=False, out=lambda line: None)


def test_compressed_deploy_writes_byte_identical_files(board, tiny_lib, encodings):
    files = local(tiny_lib)
    deploy_with(board, files)
    on_board = board.files()
    assert {path: hashlib.sha256(on_board[path]).hexdigest() for path in files} == \
           {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    assert encodings["app.py"] == "deflate"            # the big text files went compressed
    assert encodings[deploy.BOARD_MANIFEST] in ("plain", "deflate")
    assert not [p for p in on_board if p.endswith((".part", ".zpart"))]
    assert sum(e == "deflate" for e in encodings.values()) >= 3


def test_a_board_without_the_inflater_gets_plain_files(board, tiny_lib, encodings):
    files = local(tiny_lib)
    deploy_with(board, files, inflate_module="no_such_inflater")
    on_board = board.files()
    assert {path: on_board[path] for path in files} == files
    assert set(encodings.values()) == {"plain"}


def test_the_probe_answers_per_module(board):
    """The write kit's probe, once per raw-REPL session, for the inflater the Repl names."""
    with board.repl() as repl:
        for module, can_inflate in (("deflate", True), ("no_such_inflater", False), (None, False)):
            repl.inflate_module = module
            repl.enter(soft_reset=False)
            assert transfer.prepare(repl) is can_inflate


def flip_one_byte(chunk: bytes) -> bytes:
    return chunk[:10] + bytes([chunk[10] ^ 0x01]) + chunk[11:]


def test_a_corrupted_plain_transfer_is_caught_by_the_hash_and_keeps_the_old_file(board):
    (board.root / "app.py").write_bytes(b"OLD = 1\n")
    data = b"".join(b"VALUE_%04d = %d\n" % (i, i) for i in range(200))
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        transfer.prepare(repl)
        with pytest.raises(transfer.TransferCorrupted) as info:
            transfer.put(repl, "app.py", data, can_inflate=False, wire=flip_one_byte)
    assert "app.py" in str(info.value) and hashlib.sha256(data).hexdigest()[:16] in str(info.value)
    assert board.files() == {"app.py": b"OLD = 1\n"}


def test_a_corrupted_deflate_stream_is_caught_by_the_hash(board):
    """The wire swaps in a valid zlib stream of other text: the inflater is happy, the hash is not."""
    data = b"".join(b"VALUE_%04d = %d\n" % (i, i % 7) for i in range(200))
    tampered = data.replace(b"VALUE_0100 = 2", b"VALUE_0100 = 3")
    assert len(transfer.compress(tampered)) <= transfer.CHUNK       # one chunk: swapped whole
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        transfer.prepare(repl)
        with pytest.raises(transfer.TransferCorrupted):
            transfer.put(repl, "app.py", data, can_inflate=True, wire=lambda chunk: transfer.compress(tampered))
        assert transfer.put(repl, "app.py", data, can_inflate=True) == "deflate"
    assert board.files() == {"app.py": data}


def test_a_truncated_deflate_stream_fails_and_writes_nothing(board):
    data = bytes(range(256)) * 4 + b"x = 1\n" * 400
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        transfer.prepare(repl)
        with pytest.raises(HilError):
            transfer.put(repl, "lib/big.py", data, can_inflate=True, wire=lambda chunk: chunk[: len(chunk) // 2])
    assert "lib/big.py" not in board.files()


def test_small_or_incompressible_files_travel_plain():
    import os
    assert transfer.encoding_for(b"x = 1\n", True)[0] == "plain"
    assert transfer.encoding_for(os.urandom(4096), True)[0] == "plain"
    assert transfer.encoding_for(b"print('hello')\n" * 100, False)[0] == "plain"
    kind, packed = transfer.encoding_for(b"print('hello')\n" * 100, True)
    assert kind == "deflate" and packed[0] & 0x0F == 8 and packed[0] >> 4 == transfer.WBITS - 8


def board_listing(repl, path: str, data: bytes) -> str:
    """The survey's answer for `path` when the host holds `data` for it."""
    return survey.survey(repl, {path: data}, deploy.BOARD_MANIFEST).status[path]


def test_a_changed_file_travels_as_a_delta_against_the_board_copy(board, tiny_lib, encodings):
    files = local(tiny_lib)
    deploy_with(board, files)
    middle = len(files["app.py"]) // 2
    files["app.py"] = files["app.py"][:middle] + b"\n# inserted\n" + files["app.py"][middle:] + b"# appended\n"
    encodings.clear()
    result = deploy_with(board, files)
    assert result.plan.put == ["app.py"] and encodings["app.py"].startswith("delta+")
    assert board.files()["app.py"] == files["app.py"]
    assert not [p for p in board.files() if p.endswith((".part", ".zpart"))]


def test_a_delta_against_a_copy_changed_since_the_survey_falls_back_to_the_whole_file(board):
    old = b"".join(b"VALUE_%04d = %d\n" % (i, i) for i in range(300))
    new = old + b"NEW = 1\n"
    (board.root / "app.py").write_bytes(old)
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        base = board_listing(repl, "app.py", new)
        assert base.startswith("!")
        (board.root / "app.py").write_bytes(old.replace(b"VALUE_0000", b"OTHER_0000"))   # another tool
        transfer.prepare(repl)
        assert not transfer.put(repl, "app.py", new, can_inflate=True, base=base).startswith("delta")
    assert board.files() == {"app.py": new}


def test_a_corrupted_delta_is_caught_by_the_hash_and_keeps_the_old_file(board):
    old = b"".join(b"VALUE_%04d = %d\n" % (i, i) for i in range(300))
    (board.root / "app.py").write_bytes(old)
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        base = board_listing(repl, "app.py", old + b"NEW = 1\n")
        transfer.prepare(repl)
        with pytest.raises(transfer.TransferCorrupted):
            transfer.put(repl, "app.py", old + b"NEW = 1\n", can_inflate=False, base=base,
                         wire=lambda chunk: chunk.replace(b"NEW", b"OLD"))
    assert board.files() == {"app.py": old}


def test_a_survey_of_many_files_goes_in_batches_and_answers_for_each(board, monkeypatch):
    """The board parses each exec whole: the paths and digests travel BATCH at a time."""
    files = {f"lib/many/m{i:02d}.py": b"X = %d\n" % i for i in range(2 * survey.BATCH + 5)}
    for path, data in list(files.items())[::2]:
        (board.root / path).parent.mkdir(parents=True, exist_ok=True)
        (board.root / path).write_bytes(data if path != "lib/many/m00.py" else b"X = -1\n")
    with board.repl() as repl:
        repl.enter(soft_reset=False)
        execs: list[str] = []
        real_exec = repl.exec
        monkeypatch.setattr(repl, "exec", lambda code, **kw: execs.append(code) or real_exec(code, **kw))
        found = survey.survey(repl, files, deploy.BOARD_MANIFEST)
    assert len(execs) == 3
    assert found.status["lib/many/m00.py"].startswith("!7:")
    assert {path: found.status[path] for path in list(files)[1::2]} == {path: "-" for path in list(files)[1::2]}
    assert {found.status[path] for path in list(files)[2::2]} == {"="}


@pytest.mark.parametrize("reply", ["", "garbage", "[1, 2]", "[1, 2, 3, 4]", "[1, [], '=', []]", "[1, [5], ['='], []]",
                                   "[1, [], ['=', '='], []]", "[1, [], ['='], 5]", "[1, [], ['='], [('a',)]]"])
def test_a_garbled_survey_reply_is_refused_not_planned_from(reply):
    class Board:
        board, url, can_inflate = "b1", "rfc2217://x:1", None

        def run_with_kit(self, pieces, code, timeout):
            return reply.encode()

    with pytest.raises(HilError, match="came back garbled"):
        survey.survey(Board(), {"app.py": b"x"}, deploy.BOARD_MANIFEST)
