"""The banner: the unix port's own line, and the ESP8266 line that replaces it."""

from __future__ import annotations

import functools
import subprocess
import sys

ESP8266_MACHINE = "ESP module with ESP8266"
_PROBE = "import sys;print(sys.version.split('; ',1)[1]+'; '+sys.implementation._machine)"


@functools.lru_cache(maxsize=1)
def unix_banner() -> bytes:
    """`MicroPython <hash> on <date>; linux [GCC ...] version`, asked of the wheel once."""
    code = ("import micropython_run,sys;"
            "sys.exit(micropython_run.run_main(['micropython','-c',%r]))" % _PROBE)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                         check=True).stdout
    return out.strip()


def esp8266_banner(version: str, build_date: str, machine: str = ESP8266_MACHINE) -> bytes:
    return ("MicroPython %s on %s; %s" % (version, build_date, machine)).encode()
