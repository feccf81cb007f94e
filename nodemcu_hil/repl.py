"""The board's raw REPL: exec, eval, files by hash, soft reset.

Built on mpremote's `SerialTransport` (raw REPL, raw-paste with its flow control, and the
fallback to plain raw mode on boards without it), over a port the harness opened itself,
so RFC2217 URLs, PTYs and USB devices all go the same way (`repl_transport.py`). What
mpremote leaves to its callers lives here: getting into the raw REPL from whatever the
firmware is doing, deadlines, typed errors that name the port, a soft reset that runs
main.py, and the board-side helpers (`board_kit.py`) each session installs once.
"""

from __future__ import annotations

import base64
import time

from mpremote.transport import TransportError

from nodemcu_hil import board_kit, transfer
from nodemcu_hil.errors import DeviceHung, HilError, ReplUnavailable, WaitTimeout
from nodemcu_hil.repl_transport import Transport

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"soft reboot\r\n"
CTRL_A, CTRL_B, CTRL_C, CTRL_D = b"\x01", b"\x02", b"\x03", b"\x04"
ENTER_ATTEMPTS = 3
ENTER_TIMEOUT_S = 5.0
EXEC_TIMEOUT_S = 10.0
CHUNK = transfer.CHUNK
SERIAL_TIMEOUT_S = 2.0
LEAVE_TIMEOUT_S = 2.0


def open_serial(url: str):
    """The board's port, through the harness's one port opener."""
    from nodemcu_hil.ports import open_port
    return open_port(url, baudrate=115200, timeout=SERIAL_TIMEOUT_S)


class ReplExecError(HilError):
    """Code sent to the board raised; `traceback` holds the board's error output."""

    def __init__(self, what: str, traceback: str, **where):
        self.traceback = traceback
        super().__init__(what, **where)


class Repl:
    """One board's raw REPL. Use as a context manager; `enter()` before the first exec."""

    def __init__(self, port, url: str, *, board: str | None = None,
                 inflate_module: str | None = transfer.INFLATE_MODULE):
        self.url = url
        self.board = board
        self.transport = Transport(port, url)
        self.inflate_module = inflate_module   # None: always send plain
        self.can_inflate: bool | None = None   # probed at the survey or the first put
        self._kit: set[str] = set()            # board_kit pieces installed in this raw-REPL session
        self._made_dirs: set[str] = set()

    @classmethod
    def open(cls, url: str, *, board: str | None = None) -> "Repl":
        return cls(open_serial(url), url, board=board)

    def __enter__(self) -> "Repl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def serial(self):
        return self.transport.serial

    def _where(self) -> dict:
        return {"board": self.board, "port": self.url}

    def _read_until(self, ending: bytes, timeout: float) -> bytes:
        return self.transport.read_until(1, ending, timeout=timeout, timeout_overall=timeout)

    def read_until(self, ending: bytes, timeout: float) -> bytes:
        """Console output up to and including `ending`; WaitTimeout (with what came) if it never does."""
        data = self._read_until(ending, timeout)
        if not data.endswith(ending):
            raise WaitTimeout(f"{ending!r} did not appear on the console within {timeout:g} s "
                              f"(last output {data[-200:]!r})", **self._where())
        return data

    def _drain(self, quiet: float = 0.1, limit: float = 2.0) -> bytes:
        """Read until the board has been silent for `quiet` seconds (at most `limit`)."""
        data = b""
        deadline = time.monotonic() + limit
        saved, self.serial.timeout = self.serial.timeout, quiet
        try:
            while time.monotonic() < deadline:
                chunk = self.serial.read(max(1, self.serial.in_waiting))
                if not chunk:
                    break
                data += chunk
        finally:
            self.serial.timeout = saved
        return data

    def _discard_waiting(self) -> bytes:
        """What the board has already sent (old output, a stale prompt), read without waiting;
        once, so that a board talking without pause cannot keep it reading."""
        waiting = self.serial.in_waiting
        return self.serial.read(waiting) if waiting else b""

    def enter(self, *, soft_reset: bool = True, timeout: float = ENTER_TIMEOUT_S,
              attempts: int = ENTER_ATTEMPTS) -> None:
        """Stop whatever runs (CTRL-C) and enter the raw REPL; optionally soft-reset there.

        As mpremote does, the first try waits for nothing but the raw REPL's banner: output
        already waiting is dropped, and whatever the board prints before the banner (a
        traceback, the friendly prompt) is skipped on the way. Only a retry first waits for
        the board to fall silent, so that a late answer to the last try is not taken for
        this one's. A soft reset from the raw REPL runs boot.py only, never main.py, so it
        gives a clean interpreter without starting the application.
        """
        seen = b""
        for attempt in range(attempts):
            if attempt:
                seen += self._drain()  # a late answer to the last try must not pass for this one's
            self.serial.write(b"\r" + CTRL_C + CTRL_C)
            seen += self._discard_waiting()
            self.serial.write(b"\r" + CTRL_A)
            data = self._read_until(RAW_BANNER, timeout)  # its '>' is left for exec to see
            seen += data
            if data.endswith(RAW_BANNER):
                break
        else:
            raise ReplUnavailable(f"the board did not enter the raw REPL after {attempts} tries "
                                  f"(last output {seen[-120:]!r})", **self._where(),
                                  hint="check the baud rate and that MicroPython runs (not the ROM "
                                       "loader); a main.py that disables CTRL-C needs a hard reset")
        self.transport.in_raw_repl = True
        self._forget_session()
        if soft_reset:
            if not self._read_until(b">", timeout).endswith(b">"):
                raise ReplUnavailable("no raw REPL prompt after its banner", **self._where())
            self.serial.write(CTRL_D)
            data = self._read_until(SOFT_REBOOT, timeout)
            if not data.endswith(SOFT_REBOOT):
                raise ReplUnavailable(f"no soft reboot after CTRL-D in the raw REPL (got {data[-120:]!r})",
                                      **self._where())
            data = self._read_until(RAW_BANNER, timeout)
            if not data.endswith(RAW_BANNER):
                raise DeviceHung(f"boot.py did not return to the raw REPL within {timeout:.0f} s "
                                 f"(output {data[-160:]!r})", **self._where(),
                                 hint="boot.py must not block: start the Wi-Fi join there, wait in main.py")

    def exec(self, code: str | bytes, *, timeout: float = EXEC_TIMEOUT_S) -> bytes:
        """Run code; its stdout. Raises ReplExecError with the board's traceback."""
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise DeviceHung(f"the board stopped answering the raw REPL: {exc}", **self._where(),
                             hint=f"no answer within {timeout:.0f} s; reset the board") from None
        if err:
            text = err.decode(errors="replace").strip()
            raise ReplExecError(f"code on the board raised: {text.splitlines()[-1] if text else '?'}",
                                text, **self._where())
        return out

    def eval(self, expression: str, *, timeout: float = EXEC_TIMEOUT_S):
        import ast
        return ast.literal_eval(self.exec(f"print(repr({expression}))", timeout=timeout).decode().strip())

    # -- files -------------------------------------------------------------------------

    def _forget_session(self) -> None:
        """A new raw-REPL session (entered, or soft-reset): its kit and probe are gone."""
        self.can_inflate = None
        self._kit = set()

    def kit_prelude(self, pieces) -> tuple[str, set[str]]:
        """The code of the board_kit pieces (and those they call) this session lacks, and
        their names, to be noted with `kit_installed` once an exec carrying it has run."""
        missing = board_kit.with_needs(pieces) - self._kit
        return board_kit.source(missing, self.inflate_module), missing

    def kit_installed(self, pieces) -> None:
        self._kit |= set(pieces)

    def run_with_kit(self, pieces, code: str, *, timeout: float = EXEC_TIMEOUT_S) -> bytes:
        """Exec `code` behind whichever of the kit's `pieces` this session lacks (one round trip)."""
        prelude, missing = self.kit_prelude(pieces)
        out = self.exec(prelude + code, timeout=timeout)
        self.kit_installed(missing)
        return out

    def mkdirs(self, directory: str) -> None:
        if directory in ("", "/"):
            return
        self.exec("import os\np=''\n"
                  f"for s in {directory.strip('/').split('/')!r}:\n"
                  f" p=p+'/'+s if p or {directory.startswith('/')!r} else s\n"
                  " try: os.mkdir(p)\n except OSError: pass\n")

    def put(self, path: str, data: bytes, *, base: str | None = None) -> str:
        """Write a file whole and verified (`transfer.put`): into path.part, hashed on the
        board, renamed; deflated on the wire when the board can inflate, and as a delta
        against the board's current file when `base` (its block listing from the survey)
        is given and that is shorter. Returns the encoding."""
        parent = path.rsplit("/", 1)[0] if "/" in path.strip("/") else ""
        if parent not in self._made_dirs:
            self.mkdirs(parent)
            self._made_dirs.add(parent)
        if self.can_inflate is None:
            transfer.prepare(self)
        prelude, missing = self.kit_prelude(("write",))
        encoding = transfer.put(self, path, data, can_inflate=self.can_inflate, base=base, prelude=prelude)
        self.kit_installed(missing)
        return encoding

    def get(self, path: str) -> bytes:
        code = ("from binascii import b2a_base64 as e\n"
                f"f=open({path!r},'rb')\n"
                f"while 1:\n b=f.read({CHUNK})\n if not b: break\n print(e(b).decode().strip())\n"
                "f.close()\n")
        return b"".join(base64.b64decode(line) for line in self.exec(code).split())

    def remove(self, path: str) -> None:
        self.exec(f"import os\ntry: os.remove({path!r})\nexcept OSError: pass\n")

    # -- leaving ---------------------------------------------------------------------------

    def soft_reset(self, *, timeout: float = ENTER_TIMEOUT_S) -> bytes:
        """Leave the raw REPL and soft-reset from the friendly one, so boot.py then main.py run."""
        self.serial.write(b"\r" + CTRL_B)
        data = self._read_until(FRIENDLY_PROMPT, timeout)
        if not data.endswith(FRIENDLY_PROMPT):
            raise ReplUnavailable(f"no friendly prompt after leaving the raw REPL (got {data[-120:]!r})",
                                  **self._where())
        self.transport.in_raw_repl = False
        self._forget_session()
        self.serial.write(CTRL_D)
        data = self._read_until(SOFT_REBOOT, timeout)
        if not data.endswith(SOFT_REBOOT):
            raise ReplUnavailable(f"no soft reboot after CTRL-D (got {data[-120:]!r})", **self._where())
        return data

    def leave(self) -> None:
        """Back to the friendly REPL without a reset, its banner and prompt read here.

        Left unread they would reach the next reader of the port, which could take that
        banner for a new boot.
        """
        if self.transport.in_raw_repl:
            self.transport.exit_raw_repl()
            self._read_until(FRIENDLY_PROMPT, LEAVE_TIMEOUT_S)

    def close(self) -> None:
        try:
            self.serial.close()
        except OSError:
            pass
