"""What the board holds of a deploy's files, read in one raw-REPL exec (one per BATCH files).

One exec installs the session's survey kit (`board_kit`), probes the inflater, reads the
board's deploy manifest and compares every file the board holds with the host's: the host
sends the first `CHANGE_DIGEST_HEX` hex digits of each file's sha256, the board hashes its
own copy and answers '=' when they agree, '-' when it has none, and the block listing of
its copy when it differs (what a delta is built against). The comparison is always with
the board's actual files, never with a host-side record of an earlier deploy: another tool
may have changed them since. A prefix is enough to tell a changed file (64 bits); every
file written is still checked against its whole sha256 on the board (`transfer.put`).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from nodemcu_hil.errors import ReplUnavailable
from nodemcu_hil.repl import EXEC_TIMEOUT_S

CHANGE_DIGEST_HEX = 16       # hex digits of sha256 compared on the board (64 bits)
SAME, ABSENT = "=", "-"      # the survey's answers besides a block listing
SECONDS_PER_FILE = 1.0       # the exec's deadline grows with the files the board hashes
BATCH = 24                   # paths per exec (about 1 KB of code for them and their digests)


@dataclass
class Survey:
    can_inflate: bool
    previous: list[str]               # the paths in the board's manifest
    status: dict[str, str]            # every local and manifest path: SAME, ABSENT or a block listing

    def present(self, path: str) -> bool:
        return self.status.get(path, ABSENT) != ABSENT


def survey_code(paths: list[str], expected: list[str], manifest: str) -> list[str]:
    """The board side, as execs of at most BATCH paths each (the board parses an exec whole,
    its lists included, on a heap of some 30 KB): they gather the paths in P and the expected
    digests in E, then the last prints [inflater, local paths missing from the manifest
    (indices), the answer for each local path, (path, answer) for each manifest path not local]."""
    execs = []
    for start in range(0, max(len(paths), 1), BATCH):
        more = "+" if start else ""
        execs.append(f"P{more}={paths[start:start + BATCH]!r}\nE{more}={expected[start:start + BATCH]!r}\n")
    execs[-1] += (f"import json\ntry:\n M=json.load(open({manifest!r}))\nexcept Exception:\n M=[]\n"
                  "M=[p for p in M if type(p) is str] if type(M) is list else []\n"
                  "print(repr([_z,[i for i,p in enumerate(P) if p not in M],[_s(p,e) for p,e in zip(P,E)],"
                  "[(p,_s(p,None)) for p in M if p not in P]]))\n")
    return execs


def _parse(text: str, paths: list[str]):
    """The board's answer checked for shape, or None: a garbled reply must not become a plan."""
    try:
        inflate, missing, answers, extra = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError):
        return None
    if not all(isinstance(part, list) for part in (missing, answers, extra)):
        return None
    if len(answers) != len(paths) or not all(isinstance(a, str) for a in answers):
        return None
    if not all(isinstance(i, int) and 0 <= i < len(paths) for i in missing):
        return None
    if not all(isinstance(e, tuple) and len(e) == 2 and all(isinstance(v, str) for v in e) for e in extra):
        return None
    return bool(inflate), set(missing), answers, extra


def survey(repl, files: Mapping[str, bytes], manifest: str) -> Survey:
    """Survey the board for `files` (board path -> bytes), `manifest` being the board's list
    of deployed paths; the Repl learns whether the board inflates."""
    paths = sorted(files)
    expected = [hashlib.sha256(files[path]).hexdigest()[:CHANGE_DIGEST_HEX] for path in paths]
    first, *rest = survey_code(paths, expected, manifest)
    timeout = EXEC_TIMEOUT_S + SECONDS_PER_FILE * len(paths)
    out = repl.run_with_kit(("probe", "survey"), first, timeout=timeout)
    for code in rest:
        out = repl.exec(code, timeout=timeout)
    parsed = _parse(out.decode(errors="replace"), paths)
    if parsed is None:
        raise ReplUnavailable(f"the board's survey of {len(paths)} files came back garbled "
                              f"({out[:120]!r})", board=repl.board, port=repl.url,
                              hint="another program may be printing on the console; deploy again")
    repl.can_inflate, missing, answers, extra = parsed
    status = dict(zip(paths, answers))
    status.update(extra)
    previous = sorted([path for index, path in enumerate(paths) if index not in missing] + [p for p, _ in extra])
    return Survey(repl.can_inflate, previous, status)
